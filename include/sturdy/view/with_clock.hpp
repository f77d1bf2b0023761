#pragma once
/// sturdy/view/with_clock.hpp — the clock a pipeline uses for backoff delays, rates, ETA and
/// elapsed time. Default: `sturdy::steady_clock`. Tests pass a `sturdy::manual_clock`, so
/// nothing sleeps:
///
///     sturdy::manual_clock clock;
///     auto r = input | ... | sturdy::with_clock(clock) | sturdy::drain;
///     // clock.sleeps holds every backoff delay
///
/// In: T. Out: T. Preconditions: the clock outlives the pipeline.

#include <sturdy/clock.hpp>
#include <sturdy/concepts.hpp>
#include <sturdy/job.hpp>

namespace sturdy {
namespace detail {
template <class Clock> struct clock_slot {
    Clock* clock;
};
} // namespace detail

struct with_clock_fn {
    template <class Clock> auto operator()(Clock& c) const
    {
        static_assert(sturdy::clock<Clock>,
                      "with_clock: the argument must model sturdy::clock (now() and sleep_for(d))");
        return detail::stage<detail::clock_slot_i, detail::clock_slot<Clock>>{{&c}};
    }
};

/// See the header comment.
inline constexpr with_clock_fn with_clock{};

} // namespace sturdy
