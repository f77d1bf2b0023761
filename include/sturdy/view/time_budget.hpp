#pragma once
/// sturdy/view/time_budget.hpp — stop cleanly before a deadline.
///
///     ... | sturdy::time_budget(std::chrono::minutes(10))
///
/// In: T. Out: T, until time runs out.
/// Guarantee: the run stops at a chunk boundary: before starting a chunk it checks whether the
/// chunk would end after the deadline (judging by the longest chunk so far) and stops instead,
/// so no chunk is cut off. The report gives done and `remaining` and says to run again soon.
/// Time is read from the job's clock (`with_clock`), measured from the start of the run.
/// A hook (sturdy/hook.hpp), registered where it is written: `before_chunk` decides,
/// `after_chunk` measures the chunk. In a for loop, the loop ends at the chunk boundary (without
/// `chunked`, every item is a chunk of one) and the report says why.
/// Preconditions: a positive duration.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/report.hpp>

#include <algorithm>
#include <chrono>

namespace sturdy {
namespace detail {
struct time_budget_hook {
    duration budget;
    duration longest_chunk{}; ///< in this run so far

    void on_run_start(const run_started& /*unused*/) { longest_chunk = {}; }
    verdict before_chunk(const chunk_starting& e) const
    {
        if (e.now + longest_chunk - e.run_start > budget) {
            return verdict::stop("time budget of " + format_duration(budget) + " reached");
        }
        return verdict::go_on();
    }
    void after_chunk(const chunk_ended& e) { longest_chunk = std::max(longest_chunk, e.took); }
};
} // namespace detail

struct time_budget_fn {
    template <class Rep, class Period> auto operator()(std::chrono::duration<Rep, Period> budget) const
    {
        if (budget <= budget.zero()) {
            throw usage_error("time_budget: the budget must be positive, e.g. time_budget(std::chrono::minutes(10))");
        }
        return detail::hook_stage<detail::time_budget_hook>{{std::chrono::duration_cast<duration>(budget), {}}};
    }
};

/// See the header comment.
inline constexpr time_budget_fn time_budget{};

} // namespace sturdy
