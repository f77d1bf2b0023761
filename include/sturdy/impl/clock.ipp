#pragma once
/// sturdy/impl/clock.ipp — definitions for sturdy/clock.hpp (see sturdy/config.hpp).

#include <sturdy/clock.hpp>

// std::this_thread::sleep_for alone: libstdc++ declares it in a header of its own, without the
// rest of <thread> (std::thread, stop tokens, atomics), which costs 0.07 s of compile time in
// every translation unit that includes sturdy in header-only mode. Other standard libraries get
// <thread>.
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

STURDY_DECL void steady_clock::sleep_for(duration d) const { std::this_thread::sleep_for(d); }

} // namespace sturdy
