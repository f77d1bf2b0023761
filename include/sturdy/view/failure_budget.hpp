#pragma once
/// sturdy/view/failure_budget.hpp — a circuit breaker: stop the run early when failures say the
/// problem is not the items but something they all depend on (a remote service that is down).
///
///     ... | sturdy::failure_budget(20)                   // 20 consecutive failures
///     ... | sturdy::failure_budget(20, 0.5, 200)        // or half of the last 200 items failing
///
/// In: T. Out: T, until the budget is spent.
/// What it counts: failures that look like an outage (`item_settled::counts_as_outage`):
/// transient ones (a timeout, a busy database, a 503: retried as `retry_bounded` allows, and
/// still failing) of keys that did not fail in an earlier run. An item done ends a streak; a
/// permanent failure (the item's own data: a CHECK constraint, a malformed record), a key that
/// fails again run after run, a skipped or quarantined item neither spend the budget nor end a
/// streak. So items that fail on their own are recorded every run and reach quarantine after
/// `quarantine_after` runs, whatever the input's order, while an outage never quarantines
/// anything. Classify the errors of what your items depend on as transient (policy/classify.hpp:
/// `retry_on<E>`, `sturdy::transient_error`) for the budget to see them.
/// Guarantee: when it trips, the chunk in flight stops there and commits what succeeded; the
/// failures of the streak that tripped it and the items not yet processed are not counted as
/// failed (no failure record, so an outage never quarantines anything): they are `remaining`.
/// That holds across chunks: while a pipeline has a hook that can stop on items (this one), the
/// failure records of a streak wait until an item after it is done (they are then written in
/// that item's chunk) or the run ends without giving them back (then in a transaction of their
/// own), and a `watermark` does not move past them meanwhile.
/// The report says why it stopped ("failure budget spent: 20 consecutive failures, the last:
/// <reason> (is a service they depend on unavailable?)") and that the job should run again soon.
/// A key whose own failure is transient and that alone is left in the input (a remote that
/// times out on one record every time) looks like an outage and is not quarantined: classify
/// that failure as permanent.
/// A hook (sturdy/hook.hpp): it counts outcomes from `on_item` (in order) and `on_successes`
/// (a chunk that committed on the fast path), and its verdict gives the streak back. In a for
/// loop (no failures there) it never trips.
/// Preconditions: consecutive >= 1; 0 < rate <= 1; window >= 1 when rate < 1 (a `usage_error`
/// otherwise).

#include <sturdy/error.hpp>
#include <sturdy/hook.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace sturdy {
namespace detail {
struct failure_budget_hook {
    std::size_t consecutive;
    double rate;
    std::size_t window;

    // This run's state.
    std::size_t streak = 0;      ///< failures counted as an outage since the last item done, across chunks
    std::vector<bool> recent;    ///< the last `window` outcomes (true: counted as an outage), a ring
    std::size_t recent_next = 0; ///< the oldest outcome in `recent`, once it is full
    std::size_t recent_failures = 0;

    void on_run_start(const run_started& /*unused*/)
    {
        streak = recent_next = recent_failures = 0;
        recent.clear();
    }

    /// A failure that counts as an outage may spend the budget: the verdict gives the streak
    /// back (the engine held its failure records back, in this chunk and earlier ones).
    verdict on_item(const item_settled& e)
    {
        if (!e.counts_as_outage()) {
            observe(false);
            if (e.outcome == item_outcome::done) {
                streak = 0;
            }
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

    /// A chunk that committed on the fast path: its items count as they do one by one in
    /// `on_item` (an item done ends the streak).
    void on_successes(const successes& s)
    {
        const std::size_t count = s.done + s.skipped + s.quarantined;
        for (std::size_t i = 0; i < std::min(count, window); ++i) {
            observe(false); // a window of w forgets all but the last w
        }
        if (s.done > 0) {
            streak = 0;
        }
    }

private:
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
        detail::failure_budget_hook budget;
        budget.consecutive = consecutive;
        budget.rate = rate;
        budget.window = window;
        return detail::hook_stage<detail::failure_budget_hook>{std::move(budget)};
    }
};

/// See the header comment.
inline constexpr failure_budget_fn failure_budget{};

} // namespace sturdy
