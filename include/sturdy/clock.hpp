#pragma once
/// sturdy/clock.hpp — `steady_clock` (the default) and `manual_clock` (tests: sleeping
/// advances time instantly and is recorded, so backoff, rates and deadlines are testable).

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>

#include <chrono>
#include <vector>

namespace sturdy {

/// The real clock: std::chrono::steady_clock, and a real sleep.
struct steady_clock {
    [[nodiscard]] time_point now() const { return std::chrono::steady_clock::now(); }
    STURDY_DECL void sleep_for(duration d) const;
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

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/impl/clock.ipp>
#endif
