#pragma once
/// sturdy/view/failure_budget.hpp — a circuit breaker: stop the run early when failures say the
/// problem is not the items but something they all depend on (a remote service that is down).
///
///     ... | sturdy::failure_budget(20)                   // 20 consecutive failures
///     ... | sturdy::failure_budget(20, 0.5, 200)        // or half of the last 200 items failing
///
/// In: T. Out: T, until the budget is spent.
/// Guarantee: when it trips, the chunk in flight stops there and commits what succeeded; the
/// failures of the streak that tripped it and the items not yet processed are not counted as
/// failed (no failure record, so an outage never quarantines anything): they are `remaining`.
/// The report says why it stopped ("20 consecutive failures, the last: <reason>; is the remote
/// available?") and that the job should run again soon.
/// Run with `| sturdy::drain`: a pipeline iterated in a for loop refuses `failure_budget` at
/// compile time.
/// Preconditions: consecutive >= 1; 0 < rate <= 1; window >= 1.

#include <sturdy/error.hpp>
#include <sturdy/job.hpp>

#include <cstddef>
#include <string>

namespace sturdy {
namespace detail {
struct failure_budget_slot {
    std::size_t consecutive;
    double rate;
    std::size_t window;
};
} // namespace detail

struct failure_budget_fn {
    auto operator()(std::size_t consecutive, double rate = 1.0, std::size_t window = 0) const
    {
        if (consecutive < 1) {
            throw usage_error("failure_budget: consecutive failures must be at least 1 (got 0)");
        }
        if (!(rate > 0.0 && rate <= 1.0)) {
            throw usage_error("failure_budget: the failure rate is a fraction in (0, 1] (got " + std::to_string(rate) +
                              ")");
        }
        if (rate < 1.0 && window < 1) {
            throw usage_error("failure_budget: a failure rate needs a window of at least 1 item");
        }
        return detail::stage<detail::failure_budget_slot_i, detail::failure_budget_slot>{{consecutive, rate, window}};
    }
};

/// See the header comment.
inline constexpr failure_budget_fn failure_budget{};

} // namespace sturdy
