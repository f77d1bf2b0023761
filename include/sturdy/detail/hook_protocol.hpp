#pragma once
/// The hook protocol's types (sturdy/hook.hpp documents them): the events, the verdict, and the
/// checks that a type handles an event. Apart from hook.hpp so that the engines' dispatch
/// (detail/hook_dispatch.hpp) needs nothing of job.hpp.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>
#include <sturdy/report.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace sturdy {

/// What `before_chunk` or `on_item` answers: go on, or stop the run with a reason (which the
/// report's `stopped_early` and the log show).
struct verdict {
    std::string stop_reason; ///< empty: go on
    /// `on_item` only: how many of the run's latest failures that count as an outage
    /// (`item_settled::counts_as_outage`) since the last item done are given back: counted as
    /// `remaining` instead of failed, with no failure record, in the chunk in flight and in
    /// chunks already committed alike (their records were held back), so an outage quarantines
    /// nothing.
    std::size_t give_back = 0;

    [[nodiscard]] static verdict go_on() { return {}; }
    [[nodiscard]] static verdict stop(std::string why, std::size_t give_back_failures = 0)
    {
        return {std::move(why), give_back_failures};
    }
    [[nodiscard]] bool stops() const noexcept { return !stop_reason.empty(); }
};

/// `on_run_start`: when the run started (the job's clock) and how many items the input holds,
/// when it knows (a sized range).
struct run_started {
    time_point start;
    std::optional<std::size_t> total;
};

/// `before_chunk`: the time now, when the run started, and the counts so far.
struct chunk_starting {
    time_point now;
    time_point run_start;
    const report& so_far;
};

/// An item's final outcome in this run.
enum class item_outcome { done, skipped, quarantined, failed };

/// `on_item`: one item's outcome; `reason` is why it failed (empty otherwise), `kind` the
/// failure's class (policy/classify.hpp), and `failed_before` whether its key had a failure
/// record from an earlier run when this one started.
struct item_settled {
    item_outcome outcome;
    const key& item_key;
    std::string_view reason;
    failure_kind kind = failure_kind::permanent;
    bool failed_before = false;

    /// A failure that says more about what the item depends on than about the item: transient
    /// (retried, as `retry_bounded` allows, and still failing) and new (its key did not fail in
    /// an earlier run). An outage looks like a streak of these. A permanent failure is the
    /// item's own (its data); a key failing again run after run is the item's own too, whatever
    /// the class. `failure_budget` counts these alone, and while a hook may stop the run from
    /// `on_item`, their failure records wait until an item after them succeeds, so that a
    /// verdict can give them back (`verdict::give_back`) even across chunks.
    [[nodiscard]] bool counts_as_outage() const noexcept
    {
        return outcome == item_outcome::failed && kind == failure_kind::transient && !failed_before;
    }
};

/// `on_successes`: successes counted without an event per item: a fast chunk's, after its
/// commit, or those of a fast attempt before the item that failed.
struct successes {
    std::size_t done = 0;
    std::size_t skipped = 0;
    std::size_t quarantined = 0;
};

/// `before_commit`: the chunk about to commit. `last` is its last item that was processed
/// (done, skipped, quarantined or failed), stopping short of an item that failed without a
/// failure record (its key function threw, or its chunk could not commit), which the next run
/// must read again; null when the run stopped before the chunk's first item, when such an item
/// is its first, and in every chunk after one that had such an item (so a watermark never passes
/// it). `items` is how many items the chunk read and `done` how many of them succeeded.
template <class T> struct chunk_committing {
    const T* last;
    std::size_t items;
    std::size_t done;
};

/// `after_chunk`: the time now, how long the chunk took (retries included), and the counts so
/// far (this chunk's included).
struct chunk_ended {
    time_point now;
    duration took;
    const report& so_far;
};

namespace detail {
template <class R> inline constexpr bool verdict_or_void = std::is_void_v<R> || std::is_same_v<R, verdict>;

// One check per event: the hook handles it (callable with the event, returning what it may).
template <class H>
concept handles_run_start = requires(H& h, const run_started& e)
{
    h.on_run_start(e);
};
template <class H>
concept handles_before_chunk = requires(H& h, const chunk_starting& e)
{
    requires verdict_or_void<decltype(h.before_chunk(e))>;
};
template <class H>
concept handles_item = requires(H& h, const item_settled& e)
{
    requires verdict_or_void<decltype(h.on_item(e))>;
};
template <class H>
concept handles_successes = requires(H& h, const successes& e)
{
    h.on_successes(e);
};
template <class H, class T>
concept handles_before_commit = requires(H& h, const chunk_committing<T>& e)
{
    h.before_commit(e);
};
template <class H>
concept handles_after_chunk = requires(H& h, const chunk_ended& e)
{
    h.after_chunk(e);
};
template <class H>
concept handles_failure = requires(H& h, const failure_record& e)
{
    h.on_failure(e);
};
template <class H>
concept handles_run_end = requires(H& h, const report& e)
{
    h.on_run_end(e);
};
} // namespace detail

/// A hook for a pipeline whose items are `T`: it handles at least one event (see the table in
/// the header comment).
template <class H, class T>
concept run_hook = detail::handles_run_start<H> || detail::handles_before_chunk<H> || detail::handles_item<H> ||
    detail::handles_successes<H> || detail::handles_before_commit<H, T> || detail::handles_after_chunk<H> ||
    detail::handles_failure<H> || detail::handles_run_end<H>;

namespace detail {

/// The user's hooks, in the order written; each is `H&` (given an lvalue) or `H`.
template <class... Held> struct hook_list {
    std::tuple<Held...> hooks;
};

template <class T> struct is_hook_list_impl : std::false_type {
};
template <class... Held> struct is_hook_list_impl<hook_list<Held...>> : std::true_type {
};

} // namespace detail
} // namespace sturdy
