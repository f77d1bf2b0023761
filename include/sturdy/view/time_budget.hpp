#pragma once
/// sturdy/view/time_budget.hpp — stop cleanly before a deadline.
///
///     ... | sturdy::time_budget(std::chrono::minutes(10))
///
/// In: T. Out: T, until time runs out.
/// Guarantee: the run stops at a chunk boundary: before starting a chunk it checks whether the
/// chunk would end after the deadline (judging by the longest chunk so far) and stops instead,
/// so no chunk is cut off. The report gives done and `remaining` and says to run again soon.
/// Time is read from the job's clock (`with_clock`), measured from the start of `drain`.
/// Run with `| sturdy::drain`: a pipeline iterated in a for loop refuses `time_budget` at
/// compile time.
/// Preconditions: a positive duration.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/job.hpp>

#include <chrono>

namespace sturdy {
namespace detail {
struct time_budget_slot {
    duration budget;
};
} // namespace detail

struct time_budget_fn {
    template <class Rep, class Period> auto operator()(std::chrono::duration<Rep, Period> budget) const
    {
        if (budget <= budget.zero()) {
            throw usage_error("time_budget: the budget must be positive, e.g. time_budget(std::chrono::minutes(10))");
        }
        return detail::stage<detail::time_budget_slot_i, detail::time_budget_slot>{
            {std::chrono::duration_cast<duration>(budget)}};
    }
};

/// See the header comment.
inline constexpr time_budget_fn time_budget{};

} // namespace sturdy
