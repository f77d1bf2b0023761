#pragma once
/// sturdy/hook.hpp — the hook protocol: user-defined stages that react to a run's events.
///
///     struct audit {                                         // a user's own stage
///         db_handle* db;
///         template <class T> void before_commit(const sturdy::chunk_committing<T>& c) {
///             db->insert_audit_row(c.items, c.done);         // in the chunk's transaction
///         }
///     };
///     audit a{&db};
///     input | ... | sturdy::guarded(fn) | sturdy::hook(a) | sturdy::hook(rate_limit{...}) | sturdy::drain;
///
/// A hook is any type with one or more of the event members below (`run_hook`); it defines
/// only those it needs, and the engine calls nothing else: an event no hook handles is not even
/// computed. A member named like an event that does not take it is a compile error.
/// `hook(h)` holds `h` by reference when given an lvalue (the caller keeps it, and reads it
/// after the run) and by value otherwise.
///
/// The events, in the order a run meets them:
///
/// | member                                        | when                                               |
/// |-----------------------------------------------|----------------------------------------------------|
/// | `on_run_start(const run_started&)`            | once, before the first chunk                       |
/// | `before_chunk(const chunk_starting&)`         | before each chunk; may stop the run (a `verdict`)  |
/// | `on_item(const item_settled&)`                | an item's final outcome, one at a time, in order;  |
/// |                                               | may stop the run inside the chunk (a `verdict`)    |
/// | `on_successes(const successes&)`              | a chunk that ran whole on the fast path: its       |
/// |                                               | successes as counts, after its commit              |
/// | `before_commit(const chunk_committing<T>&)`   | in the chunk's transaction, just before it commits:|
/// |                                               | what the hook writes through its store commits     |
/// |                                               | (or rolls back) with the chunk                     |
/// | `after_chunk(const chunk_ended&)`             | after each chunk ended (committed, or given up)    |
/// | `on_failure(const failure_record&)`           | each failure as it is reported, after its chunk    |
/// | `on_run_end(const report&)`                   | once, with the report `drain` returns              |
///
/// `before_chunk` and `on_item` return `void` (they only watch) or a `sturdy::verdict`.
/// Outcomes: on the careful path (a chunk where something failed) every item arrives through
/// `on_item`, once per attempt of its chunk (a chunk run whole again, after its commit failed
/// transiently, shows its items again); a chunk that commits on its first, fast attempt pays
/// nothing per item and reports through `on_successes` (items an abandoned fast attempt ran
/// before its failure count as successes there too). For counts, read the report: `so_far` in
/// `chunk_starting` and `chunk_ended`, or the report at `on_run_end`.
///
/// Order: a pipeline takes any number of hooks. At each event they are called in the order
/// they were written, after the built-in run-level stages (`failure_budget`, `time_budget`,
/// `logged_every`, `watermark`), and the first verdict that stops the run wins: the hooks after
/// it do not see that chunk start (`before_chunk`) or that item (`on_item`). This is the
/// one place where the order in which stages are written matters: everything else in a
/// pipeline fills a slot the engine reads in a fixed order (job.hpp).
/// Time comes from the job's clock (`with_clock`), so a test drives it with
/// `sturdy::manual_clock`. A hook's state persists across runs of the same object: reset it in
/// `on_run_start` if it must not. An exception a hook throws from `before_commit` or `on_item`
/// fails the chunk in flight like a failed commit (it is rolled back, then retried if the
/// exception is transient and `retry_bounded` allows, its items reported failed otherwise);
/// `on_failure` must not throw;
/// from any other event, the exception ends the run and reaches the caller of `drain`.
/// Run with `| sturdy::drain`: a pipeline iterated in a for loop refuses hooks at compile time.
/// See docs/architecture.md ("Hooks") and examples/custom_hook.cpp.

#include <sturdy/concepts.hpp>
#include <sturdy/detail/slots.hpp>
#include <sturdy/job.hpp>
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
    /// `on_item` only: how many of the chunk's latest failures are given back, counted as
    /// `remaining` instead of failed (no failure record, so an outage quarantines nothing).
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

/// `on_item`: one item's outcome; `reason` is why it failed (empty otherwise).
struct item_settled {
    item_outcome outcome;
    const key& item_key;
    std::string_view reason;
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

/// A member named like an event that does not take the event (a typo in its parameter, a
/// return type that is not a verdict) would be silently ignored: refused instead. Member
/// templates are not checked here (their address cannot be taken without arguments).
template <class H, class T> constexpr bool check_hook()
{
    static_assert(run_hook<H, T>,
                  "sturdy::hook: the type handles no event; define one or more of on_run_start(const "
                  "sturdy::run_started&), before_chunk(const sturdy::chunk_starting&), on_item(const "
                  "sturdy::item_settled&), on_successes(const sturdy::successes&), before_commit(const "
                  "sturdy::chunk_committing<T>&), after_chunk(const sturdy::chunk_ended&), on_failure(const "
                  "sturdy::failure_record&), on_run_end(const sturdy::report&) (sturdy/hook.hpp)");
    static_assert(
        !requires { &H::on_run_start; } || handles_run_start<H>,
        "sturdy::hook: on_run_start must take const sturdy::run_started&");
    static_assert(
        !requires { &H::before_chunk; } || handles_before_chunk<H>,
        "sturdy::hook: before_chunk must take const sturdy::chunk_starting& and return void or "
        "sturdy::verdict");
    static_assert(
        !requires { &H::on_item; } || handles_item<H>,
        "sturdy::hook: on_item must take const sturdy::item_settled& and return void or sturdy::verdict");
    static_assert(
        !requires { &H::on_successes; } || handles_successes<H>,
        "sturdy::hook: on_successes must take const sturdy::successes&");
    static_assert(
        !requires { &H::before_commit; } || handles_before_commit<H, T>,
        "sturdy::hook: before_commit must take const sturdy::chunk_committing<T>& (T: the pipeline's "
        "items)");
    static_assert(
        !requires { &H::after_chunk; } || handles_after_chunk<H>,
        "sturdy::hook: after_chunk must take const sturdy::chunk_ended&");
    static_assert(
        !requires { &H::on_failure; } || handles_failure<H>,
        "sturdy::hook: on_failure must take const sturdy::failure_record&");
    static_assert(
        !requires { &H::on_run_end; } || handles_run_end<H>,
        "sturdy::hook: on_run_end must take const sturdy::report&");
    return true;
}

/// What `sturdy::hook(h)` returns: the hook, held as `Held` (`H&` or `H`).
template <class Held> struct hook_stage {
    Held held;
};

/// `pipeline | hook(h)`: appends `h` to the pipeline's hooks (any number, in order).
template <class Input, class Held> auto operator|(Input&& input, hook_stage<Held> s)
{
    auto j = as_job(std::forward<Input>(input));
    using item = std::ranges::range_value_t<std::remove_reference_t<decltype(j.source)>>;
    static_assert(check_hook<std::remove_reference_t<Held>, item>());
    using current = std::tuple_element_t<hooks_slot_i, std::remove_cvref_t<decltype(j.slots)>>;
    if constexpr (is_unset<current>) {
        return replace<hooks_slot_i>(std::move(j), hook_list<Held>{std::tuple<Held>(std::forward<Held>(s.held))});
    } else {
        return [&]<class... Earlier>(hook_list<Earlier...>& list) {
            return replace<hooks_slot_i>(
                std::move(j), hook_list<Earlier..., Held>{
                                  std::tuple_cat(std::move(list.hooks), std::tuple<Held>(std::forward<Held>(s.held)))});
        }(std::get<hooks_slot_i>(j.slots));
    }
}

} // namespace detail

struct hook_fn {
    /// An lvalue is held by reference (it must outlive the run), an rvalue by value.
    template <class H> auto operator()(H&& h) const
    {
        using held = std::conditional_t<std::is_lvalue_reference_v<H>, H, std::remove_cvref_t<H>>;
        return detail::hook_stage<held>{std::forward<H>(h)};
    }
};

/// See the header comment.
inline constexpr hook_fn hook{};

} // namespace sturdy
