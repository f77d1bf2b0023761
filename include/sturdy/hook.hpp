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
/// Outcomes: a chunk that commits on its first, fast attempt pays nothing per item and reports
/// through one `on_successes` after its commit. Every other chunk (something failed, or the
/// fast path is off) runs on the careful path, where every item it processes arrives through
/// `on_item` when its outcome is final, in order: done, skipped, quarantined (in quarantine from
/// an earlier run) and failed alike, once per attempt of the chunk (a chunk run whole again,
/// after its commit failed transiently, shows its items again); items left unprocessed because
/// the run stopped are not shown. So, chunk by chunk, `on_successes` counts plus the last
/// `on_item` of each item add up to the report's done, skipped and quarantined (those
/// quarantined by this run's own failures arrive as failed), and `on_failure` comes once for
/// each of `report::failed`. A chunk whose transaction fails for good shows its items again
/// after its last attempt, with their final outcome (failed: "its chunk could not commit").
/// While a hook may stop the run from `on_item`, a failure that looks like an outage
/// (`item_settled::counts_as_outage`) is held: its `on_failure` (and its failure record, and
/// its count in the report) comes after the chunk of the next item done, or after the last
/// chunk, and never if a verdict gives it back (`verdict::give_back`): it is then remaining.
/// For counts, read the report: `so_far` in `chunk_starting` and `chunk_ended`, or the report
/// at `on_run_end`.
///
/// Order: a pipeline takes any number of hooks, the run-level stages (`failure_budget`,
/// `time_budget`, `logged_every`, `watermark`, registered from their own headers) among them.
/// At each event they are called in the order they were written, and the first verdict that
/// stops the run wins: the hooks after it do not see that chunk start (`before_chunk`) or that
/// item (`on_item`). This is the one place where the order in which stages are written matters:
/// everything else in a pipeline fills a slot the engine reads in a fixed order (job.hpp).
/// Time comes from the job's clock (`with_clock`), so a test drives it with
/// `sturdy::manual_clock`. A hook's state persists across runs of the same object: reset it in
/// `on_run_start` if it must not. An exception a hook throws from `before_commit` or `on_item`
/// fails the chunk in flight like a failed commit (it is rolled back, then retried if the
/// exception is transient and `retry_bounded` allows, its items reported failed otherwise);
/// `on_failure` must not throw;
/// from any other event, the exception ends the run and reaches the caller of `drain`.
/// In a for loop (the loop form, detail/cursor.hpp), hooks get the events a loop raises: no
/// failures, and every item done or skipped through `on_item`.
/// A hook may also check the pipeline it is put in, at compile time: a static member
/// `template <class P> static constexpr bool check_pipeline()` whose static_asserts read
/// `P::claims_input`, `P::keeps_failures` and `P::loop_form` (as `watermark` does).
/// See docs/architecture.md ("Hooks") and examples/custom_hook.cpp.

#include <sturdy/concepts.hpp>
#include <sturdy/detail/hook_protocol.hpp>
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
namespace detail {

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
