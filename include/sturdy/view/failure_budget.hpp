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
/// The report says why it stopped ("failure budget spent: 20 consecutive failures, the last:
/// <reason> (is a service they depend on unavailable?)") and that the job should run again soon.
/// Run with `| sturdy::drain`: a pipeline iterated in a for loop refuses `failure_budget` at
/// compile time.
/// A hook (sturdy/hook.hpp): it counts outcomes from `on_item` (in order) and `on_successes`
/// (a chunk that committed on the fast path), and its verdict gives the streak back.
/// Preconditions: consecutive >= 1; 0 < rate <= 1; window >= 1 when rate < 1 (a `usage_error`
/// otherwise).

#include <sturdy/error.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/job.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace sturdy {
namespace detail {
struct failure_budget_slot {
    std::size_t consecutive;
    double rate;
    std::size_t window;

    // This run's state.
    std::size_t streak = 0;      ///< consecutive failures, across chunks
    std::vector<bool> recent;    ///< the last `window` outcomes (true: failed), a ring
    std::size_t recent_next = 0; ///< the oldest outcome in `recent`, once it is full
    std::size_t recent_failures = 0;

    void on_run_start(const run_started& /*unused*/)
    {
        streak = recent_next = recent_failures = 0;
        recent.clear();
    }

    /// A failure may spend the budget: the verdict gives back the streak, which the engine
    /// counts as remaining (only the chunk in flight's part of it: earlier chunks committed).
    verdict on_item(const item_settled& e)
    {
        if (e.outcome != item_outcome::failed) { // quarantined counts as not failed here
            note_successes(1);
            return verdict::go_on();
        }
        observe(true);
        ++streak;
        std::string why;
        if (streak >= consecutive) {
            why = std::to_string(streak) + " consecutive failures";
        } else if (window > 0 && recent.size() == window &&
                   static_cast<double>(recent_failures) >= rate * static_cast<double>(window)) {
            why = std::to_string(recent_failures) + " of the last " + std::to_string(window) + " items failed";
        }
        if (why.empty()) {
            return verdict::go_on();
        }
        return verdict::stop("failure budget spent: " + why + ", the last: " + std::string(e.reason) +
                                 " (is a service they depend on unavailable?)",
                             streak);
    }

    /// A chunk that committed on the fast path: its items done, skipped or quarantined end the
    /// streak, as they do one by one in `on_item`.
    void on_successes(const successes& s) { note_successes(s.done + s.skipped + s.quarantined); }

private:
    void note_successes(std::size_t count)
    {
        if (count == 0) {
            return;
        }
        for (std::size_t i = 0; i < std::min(count, window); ++i) {
            observe(false); // a window of w forgets all but the last w
        }
        streak = 0;
    }

    void observe(bool failed)
    {
        if (window == 0) {
            return;
        }
        if (recent.size() < window) {
            recent.push_back(failed);
        } else {
            recent_failures -= recent[recent_next] ? 1 : 0;
            recent[recent_next] = failed;
            recent_next = (recent_next + 1) % window;
        }
        recent_failures += failed ? 1 : 0;
    }
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
        detail::failure_budget_slot budget;
        budget.consecutive = consecutive;
        budget.rate = rate;
        budget.window = window;
        return detail::stage<detail::failure_budget_slot_i, detail::failure_budget_slot>{std::move(budget)};
    }
};

/// See the header comment.
inline constexpr failure_budget_fn failure_budget{};

} // namespace sturdy
