#pragma once
/// sturdy/clock.hpp — `steady_clock` (the default) and `manual_clock` (tests: sleeping
/// advances time instantly and is recorded, so backoff, rates and deadlines are testable).

#include <sturdy/concepts.hpp>

#include <chrono>
#include <vector>

// std::this_thread::sleep_for alone: libstdc++ declares it in a header of its own, without the
// rest of <thread> (std::thread, stop tokens, atomics), which costs 0.07 s of compile time in
// every translation unit that includes sturdy. Other standard libraries get <thread>.
#if defined(__GLIBCXX__) && defined(__has_include)
#if __has_include(<bits/this_thread_sleep.h>)
#include <bits/this_thread_sleep.h>
#define STURDY_DETAIL_HAS_THIS_THREAD_SLEEP 1
#endif
#endif
#ifndef STURDY_DETAIL_HAS_THIS_THREAD_SLEEP
#include <thread>
#endif

namespace sturdy {

/// The real clock: std::chrono::steady_clock, and a real sleep.
struct steady_clock {
    [[nodiscard]] time_point now() const { return std::chrono::steady_clock::now(); }
    void sleep_for(duration d) const { std::this_thread::sleep_for(d); }
};

/// A clock that only moves when told: `sleep_for` advances it and is recorded in `sleeps`.
class manual_clock {
public:
    [[nodiscard]] time_point now() const { return now_; }
    void sleep_for(duration d)
    {
        sleeps.push_back(d);
        now_ += d;
    }
    void advance(duration d) { now_ += d; }

    std::vector<duration> sleeps;

private:
    time_point now_{};
};

static_assert(clock<steady_clock>);
static_assert(clock<manual_clock>);

} // namespace sturdy
