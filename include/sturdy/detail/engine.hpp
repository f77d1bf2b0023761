#pragma once
/// The loop `drain` runs. One item's path: key -> quarantine -> ledger claim (or check) -> effect
/// (-> mark, for a ledger that cannot claim), in the chunk's transaction, first with no per-item
/// savepoint (the fast path), then, if something failed, with savepoints (the careful path); the
/// path in full: docs/architecture.md.

#include <sturdy/clock.hpp>
#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/job.hpp>
#include <sturdy/key.hpp>
#include <sturdy/log.hpp>
#include <sturdy/policy/classify.hpp>
#include <sturdy/policy/commit.hpp>
#include <sturdy/report.hpp>
#include <sturdy/view/chunked.hpp>
#include <sturdy/view/failure_budget.hpp>
#include <sturdy/view/guarded.hpp>
#include <sturdy/view/idempotent_by.hpp>
#include <sturdy/view/logged_every.hpp>
#include <sturdy/view/retry_bounded.hpp>
#include <sturdy/view/time_budget.hpp>
#include <sturdy/view/watermark.hpp>
#include <sturdy/view/with_clock.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sturdy::detail {

/// Stands in for a store when the pipeline has none: nothing to begin, commit or undo.
struct no_transaction {
    struct savepoint_type {
        void release() {}
        void rollback() {}
    };
    void begin() {}
    void commit() {}
    void rollback() {}
    [[nodiscard]] bool in_transaction() const { return false; }
    savepoint_type savepoint() { return {}; }
};

template <class Slot> struct slot_tx {
    using type = void;
};
template <class Tx, class P> struct slot_tx<chunk_slot<Tx, P>> {
    using type = Tx;
};
template <class F, class Tx> struct slot_tx<effect_slot<F, Tx>> {
    using type = Tx;
};

template <class Slot> struct slot_policy {
    using type = commit;
};
template <class Tx, class P> struct slot_policy<chunk_slot<Tx, P>> {
    using type = P;
};

inline std::error_code code_of(const std::exception_ptr& ex)
{
    try {
        std::rethrow_exception(ex);
    } catch (const std::system_error& e) {
        return e.code();
    } catch (...) {
        return {};
    }
}

inline attempt_failure failure_from_current_exception(const key* k)
{
    auto ex = std::current_exception();
    return {k, ex, code_of(ex), describe(ex)};
}

template <class E> inline constexpr bool readable_error_always_false = false;

/// A result's error as a failure: a `sturdy::error`; an exception pointer (std or boost, rethrown
/// through `rethrow_exception` found by ADL), classified as if the effect had thrown it; an error
/// code (std, or boost::system, which converts to std keeping its category); or a type made an
/// error code by `make_error_code(e)` found by ADL.
template <class E> attempt_failure failure_of_error(const E& e, const key* k)
{
    if constexpr (std::same_as<E, error>) {
        return {k, nullptr, e.code, e.message};
    } else if constexpr (requires { rethrow_exception(e); }) {
        if (!e) {
            return {k, nullptr, {}, "the effect returned an error holding no exception"};
        }
        std::exception_ptr ex;
        try {
            rethrow_exception(e);
        } catch (...) {
            ex = std::current_exception();
        }
        return {k, ex, code_of(ex), describe(ex)};
    } else if constexpr (std::convertible_to<const E&, std::error_code>) {
        const std::error_code code = e;
        if constexpr (requires { std::string(e.message()); }) {
            return {k, nullptr, code, std::string(e.message())};
        } else {
            return {k, nullptr, code, code.message()};
        }
    } else if constexpr (requires { std::error_code(make_error_code(e)); }) { // ADL, as Outcome itself requires
        const std::error_code code = make_error_code(e);
        return {k, nullptr, code, code.message()};
    } else {
        static_assert(readable_error_always_false<E>,
                      "guarded: the effect's result holds an error sturdy cannot read; use sturdy::error, "
                      "an error code (std or boost::system), an exception pointer, or a type with "
                      "make_error_code(e) found by ADL");
        return {};
    }
}

/// What an effect's return value says: nothing (void, success) or a failure.
template <class R> std::optional<attempt_failure> failure_of_result(R&& r, const key* k)
{
    using T = std::remove_cvref_t<R>;
    if constexpr (std::same_as<T, std::error_code>) {
        if (r) {
            return attempt_failure{k, nullptr, r, r.message()};
        }
        return std::nullopt;
    } else {
        static_assert(
            requires {
                r.has_error();
                r.error();
            },
            "guarded: the effect must return void, std::error_code, or a result type "
            "(sturdy::result<T>, a Boost.Outcome result or outcome)");
        if constexpr (requires {
                          r.has_exception();
                          r.exception();
                      }) {
            // An outcome: an error, an exception, or both (then the exception says more, and the
            // error code is kept for the classifier when the exception carries none).
            if (r.has_exception()) {
                attempt_failure f = failure_of_error(r.exception(), k);
                if (!f.code && r.has_error()) {
                    f.code = failure_of_error(r.error(), k).code;
                }
                return f;
            }
        }
        if (!r.has_error()) {
            return std::nullopt;
        }
        return failure_of_error(r.error(), k);
    }
}

template <class Job> class engine {
    using source_type = std::remove_reference_t<decltype(std::declval<Job&>().source)>;
    using value_type = std::ranges::range_value_t<source_type>;
    using slots = std::remove_cvref_t<decltype(std::declval<Job&>().slots)>;
    template <std::size_t I> using slot_t = std::tuple_element_t<I, slots>;
    template <std::size_t I> static constexpr bool has = !is_unset<slot_t<I>>;

    static constexpr bool has_ledger = has<ledger_slot_i>;
    static constexpr bool has_chunk = has<chunk_slot_i>;
    static constexpr bool has_retry = has<retry_slot_i>;
    static constexpr bool has_clock = has<clock_slot_i>;
    static constexpr bool has_watermark = has<watermark_slot_i>;

    // The hooks (hook.hpp): the built-in run-level stages that are in the pipeline, in a fixed
    // order, then the user's, in the order written; and which events any of them handles: an
    // event no hook handles is not computed.
    template <class S> struct hook_types {
        using type = std::tuple<>;
    };
    template <class... Held> struct hook_types<hook_list<Held...>> {
        using type = std::tuple<std::remove_reference_t<Held>...>;
    };
    template <std::size_t I> using builtin_hook = std::conditional_t<has<I>, std::tuple<slot_t<I>>, std::tuple<>>;
    using builtin_hooks = std::index_sequence<failure_budget_slot_i, time_budget_slot_i, log_slot_i, watermark_slot_i>;
    template <class Seq> struct all_hooks;
    template <std::size_t... I> struct all_hooks<std::index_sequence<I...>> {
        using type = decltype(std::tuple_cat(std::declval<builtin_hook<I>>()...,
                                             std::declval<typename hook_types<slot_t<hooks_slot_i>>::type>()));
    };
    using hook_tuple = typename all_hooks<builtin_hooks>::type;
    template <template <class> class Handles> static constexpr bool any_hook = []<class... H>(std::tuple<H...>*) {
        return (Handles<H>::value || ...);
    }(static_cast<hook_tuple*>(nullptr));
    template <class H> struct sees_items : std::bool_constant<handles_item<H>> {
    };
    template <class H> struct sees_commit : std::bool_constant<handles_before_commit<H, value_type>> {
    };
    static constexpr bool hooks_see_items = any_hook<sees_items>;
    static constexpr bool hooks_before_commit = any_hook<sees_commit>;
    /// The fast path keeps the chunk's last item for a `before_commit` event.
    static constexpr bool wants_last_item = hooks_before_commit;
    /// Item outcomes must be seen in order: the fast path leaves a chunk to the careful path at
    /// an item whose key function threw (it would otherwise be reported after the chunk).
    static constexpr bool outcomes_in_order = hooks_see_items;
    /// The fast path also leaves the chunk at such an item when a `before_commit` event needs
    /// its last item: the careful path stops that item short of it (see unrecorded_failure_).
    static constexpr bool key_failure_to_careful = outcomes_in_order || hooks_before_commit;

    static_assert(has<effect_slot_i>, "sturdy::drain: the pipeline has no effect to run; add | sturdy::guarded(fn)");

    using chunk_tx = typename slot_tx<slot_t<chunk_slot_i>>::type;
    using effect_tx = typename slot_tx<slot_t<effect_slot_i>>::type;
    static_assert(std::is_void_v<chunk_tx> || std::is_void_v<effect_tx> || std::is_same_v<chunk_tx, effect_tx>,
                  "sturdy: chunked(tx, n) and guarded(tx, fn) were given different stores; give the store once");

    template <class S> struct ledger_of {
        using type = void;
    };
    template <class L, class K> struct ledger_of<ledger_slot<L, K>> {
        using type = L;
    };
    using ledger_type = typename ledger_of<slot_t<ledger_slot_i>>::type;
    static constexpr bool keeps_failures = [] {
        if constexpr (has_ledger) {
            return failure_ledger<ledger_type>;
        } else {
            return false;
        }
    }();
    // Each chunk's items are claimed inside its transaction (concepts.hpp).
    static constexpr bool claims_input = claiming_input<source_type>;
    static_assert(!has_watermark || !claims_input,
                  "watermark: not with a claiming input. Several workers commit chunks out of order, so a "
                  "checkpoint one of them moves may pass rows another still holds and then loses; the claim "
                  "already leaves out what the ledger holds, so drop the watermark (docs/postgres.md)");
    static_assert(!claims_input || !std::ranges::forward_range<source_type>,
                  "sturdy: a claiming input must be single-pass (an input range): its items are claimed once per "
                  "chunk and cannot be read again from a saved position");
    static_assert(
        !has_watermark || keeps_failures,
        "watermark: items the watermark moves past are retried through their failure records; use "
        "idempotent_by with a ledger that keeps them (sturdy::failure_ledger: the memory, SQLite and PostgreSQL "
        "ledgers)");

public:
    using tx_type = std::conditional_t<!std::is_void_v<chunk_tx>, chunk_tx,
                                       std::conditional_t<!std::is_void_v<effect_tx>, effect_tx, no_transaction>>;
    using policy = typename slot_policy<slot_t<chunk_slot_i>>::type;
    static constexpr bool has_store = !std::is_same_v<tx_type, no_transaction>;
    // Claiming before the effect needs a store whose rollback takes the claim back if the effect
    // fails (the fast chunk's, or the careful path's savepoint).
    static constexpr bool claims = [] {
        if constexpr (has_ledger && has_store) {
            return claiming_ledger<ledger_type>;
        } else {
            return false;
        }
    }();
    // A ledger that claims a whole batch in one store round trip (PostgreSQL's) gets the fast
    // chunk's keys at once, before the effects run (run_fast_items_batched), and on the careful
    // path each segment's (claim_segment).
    static constexpr bool claims_batches = [] {
        if constexpr (claims) {
            return batch_claiming_ledger<ledger_type>;
        } else {
            return false;
        }
    }();

    explicit engine(Job& j) : job_(j)
    {
        if constexpr (has_ledger) {
            using key_result = std::invoke_result_t<decltype(slot<ledger_slot_i>().key_fn)&, const value_type&>;
            static_assert(key_like<key_result>, "idempotent_by: the key function must return an integer, a string, "
                                                "a sturdy::key, or a tuple of those");
        }
        tx_ = resolve_tx();
        if constexpr (has_chunk) {
            chunk_size_ = slot<chunk_slot_i>().size;
        }
        if constexpr (has_retry) {
            max_attempts_ = slot<retry_slot_i>().attempts;
            jitter_.state = slot<retry_slot_i>().seed;
        }
        per_item_ = !has_store || slot<effect_slot_i>().mode == isolation::per_item;
    }

    report run()
    {
        start_ = now();
        each_hook([&](auto& h) {
            if constexpr (handles_run_start<std::remove_reference_t<decltype(h)>>) {
                std::optional<std::size_t> total;
                if constexpr (std::ranges::sized_range<source_type>) {
                    total = static_cast<std::size_t>(std::ranges::size(job_.source));
                }
                h.on_run_start(run_started{start_, total});
            }
        });
        policy::check_start(*tx_);
        if constexpr (keeps_failures) {
            for (auto& f : slot<ledger_slot_i>().ledger->failures()) {
                failing_.emplace(std::move(f.item_key), f.quarantined);
            }
        }

        std::vector<entry> items;
        items.reserve(std::min<std::size_t>(chunk_size_, 1U << 16U));
        auto it = std::ranges::begin(job_.source);
        auto end = std::ranges::end(job_.source);
        // A claiming input compares equal to its end once the chunk's claim is read: the run ends
        // after a chunk that claimed nothing.
        while ((claims_input || it != end) && stop_reason_.empty()) {
            const auto chunk_start = now();
            if (!hooks_before_chunk(chunk_start)) {
                break;
            }
            items.clear();
            fast_stop stop;
            fast_stop* after_fast = nullptr;
            [[maybe_unused]] bool claimed = false;
            const bool fast = fast_path_ready();
            if (fast) {
                if (run_fast_chunk(it, end, stop)) {
                    fast_backoff_ /= 2;
                    finish_chunk_tick(chunk_start);
                    if (claims_input && fast_read_ == 0) {
                        break;
                    }
                    continue;
                }
                fast_backoff_ = std::min(max_fast_backoff, std::max<std::size_t>(1, fast_backoff_ * 2));
                careful_chunks_left_ = fast_backoff_;
                // Something failed: the fast attempt was rolled back and `it` is back at the
                // chunk's first item (or its items are in replay_); the chunk runs again on the
                // careful path, which starts from what the fast attempt learnt.
                after_fast = &stop;
                claimed = !replay_.empty(); // else the chunk failed before its claim
                if constexpr (!rereadable) {
                    for (auto& v : replay_) {
                        add_entry(items, std::move(v));
                    }
                    replay_.clear();
                }
            }
            auto read_chunk = [&] {
                for (; it != end && items.size() < chunk_size_; ++it) {
                    add_entry(items, *it);
                }
            };
            if constexpr (claims_input) {
                // New items are claimed inside the chunk's transaction; a fast attempt's are
                // read already (replay_), and the rest of its claim is in the input's hands.
                if (after_fast != nullptr && claimed) {
                    read_chunk();
                }
                run_chunk_with_retries(items, after_fast, read_chunk);
                if (items.empty()) {
                    finish_chunk_tick(chunk_start);
                    break;
                }
            } else {
                read_chunk();
                run_chunk_with_retries(items, after_fast, [] {});
            }
            if (failed_in_chunk_) {
                careful_chunks_left_ = std::max(careful_chunks_left_, fast_backoff_);
            } else if (!fast && careful_chunks_left_ > 0) {
                --careful_chunks_left_;
            }
            finish_chunk_tick(chunk_start);
        }
        report_.stopped_early = stop_reason_;
        if constexpr (!claims_input) { // what a claiming input has left is not this worker's to count
            for (; it != end; ++it) {
                ++report_.remaining; // read, not processed: the next run does them
            }
        }
        report_.elapsed = now() - start_;
        each_hook([&](auto& h) {
            if constexpr (handles_run_end<std::remove_reference_t<decltype(h)>>) {
                h.on_run_end(std::as_const(report_));
            }
        });
        return std::move(report_);
    }

private:
    enum class state { pending, done, skipped, quarantined, failed, unprocessed };

    struct entry {
        entry(value_type v, key k) : item(std::move(v)), item_key(std::move(k)) {}
        value_type item;
        key item_key;
        state initial = state::pending; ///< what a chunk retry resets to
        state st = state::pending;
        bool isolate = false;         ///< run alone in its own savepoint (it failed once in a shared one)
        bool quarantined_now = false; ///< this run's failure put it in quarantine
        bool watched = false;         ///< its outcome was shown to on_item (re-runs are not news)
        int attempts = 0;
        failure_kind kind = failure_kind::permanent;
        std::unique_ptr<std::string> reason; ///< set on failure; a pointer keeps the entry small on the fast path

        void fail(std::string why) { reason = std::make_unique<std::string>(std::move(why)); }
        [[nodiscard]] const std::string& why() const { return *reason; }

        void reset()
        {
            st = initial;
            isolate = quarantined_now = watched = false;
            attempts = 0;
            if (initial == state::pending) {
                reason.reset();
            }
        }
    };

    template <std::size_t I> auto& slot() { return std::get<I>(job_.slots); }

    // --- the fast path ------------------------------------------------------------------
    // A chunk first runs straight from the input, in the chunk's scope alone (no per-item
    // savepoint or bookkeeping). If every item succeeds, that is the whole story. If one fails (or
    // the chunk cannot commit), the scope is abandoned: the commit policy rolls back the chunk's
    // transaction (or, under no_commit, its savepoint), so nothing it wrote remains (a claiming
    // input's chunk, when an item failed, keeps its transaction and claim, and rolls back to a
    // savepoint taken after the claim), and the chunk runs again on the careful path below
    // (entries, segments, isolation), which takes the failed attempt as its first. A failed
    // fast attempt costs the chunk's items before the failure one more run, so after one the
    // next chunks run on the careful path, whose segments (at most max_segment items) lose less
    // to a failure: 1 chunk after the first failed attempt, twice as many after each further
    // one (up to max_fast_backoff), half as many after each fast attempt that commits, and a
    // careful chunk with a failure starts the count again. Failures every chunk or so then cost
    // a segment's re-run each, not a chunk's; a rare failure still leaves the fast path soon.

    /// The input can be read again from a saved iterator; otherwise values are kept in replay_.
    static constexpr bool rereadable = std::ranges::forward_range<source_type>;

    /// Why a fast attempt gave way to the careful path.
    struct fast_stop {
        enum class cause { none, item_failed, key_failed, chunk_error };
        cause what = cause::none;
        std::size_t index = 0;    ///< the item, by position in the chunk
        attempt_failure failure;  ///< item_failed: its attempt's failure (key_failed: the hooks must
                                  ///< see it in order, which the careful path does)
        std::exception_ptr error; ///< chunk_error: what the transaction threw
    };

    [[nodiscard]] bool fast_path_ready() const
    {
        if constexpr (has_store) {
            return !per_item_ && careful_chunks_left_ == 0 && stop_index_ == static_cast<std::size_t>(-1);
        } else {
            return false;
        }
    }

    /// What a fast chunk did with its items, as far as it got.
    struct fast_counts {
        std::size_t n = 0;
        std::size_t done = 0;
        std::size_t skipped = 0;
        std::size_t quarantined = 0;
    };

    /// Runs one chunk from `it`; true when it committed. On false, `it` is at the chunk's first
    /// item again (or, for a single-pass input, the items read are in replay_) and `stop` says why.
    template <class It, class End> bool run_fast_chunk(It& it, const End& end, fast_stop& stop)
    {
        std::optional<It> chunk_begin;
        if constexpr (rereadable) {
            chunk_begin.emplace(it);
        }
        std::optional<It> last; // the chunk's last item, for before_commit (the watermark)
        fast_counts c;
        try {
            auto scope = policy::open_chunk(*tx_);
            std::optional<decltype(tx_->savepoint())> after_claim;
            if constexpr (claims_input) {
                job_.source.begin_chunk(chunk_size_);
                if (it != end) { // claims; the items' writes go in a savepoint, so a failure keeps the claim
                    after_claim.emplace(tx_->savepoint());
                }
            }
            bool whole = false;
            if constexpr (claims_batches) {
                whole = run_fast_items_batched(it, end, c, last, stop);
            } else {
                whole = run_fast_items(it, end, c, last, stop);
            }
            if (!whole) { // the scope rolls back on the way out
                if (after_claim &&
                    (stop.what == fast_stop::cause::item_failed || stop.what == fast_stop::cause::key_failed)) {
                    after_claim->rollback();
                    claimed_scope_.emplace(std::move(scope)); // the careful path goes on in it
                }
                if constexpr (rereadable) {
                    it = std::move(*chunk_begin);
                } else if constexpr (!claims_batches) {
                    ++it; // this item is in replay_ already (a batch read the whole chunk into it)
                }
                fast_key_failures_.clear(); // the careful path computes keys (and their failures) again
                return false;
            }
            if constexpr (wants_last_item) {
                if (c.n > 0) {
                    std::optional<value_type> copy;
                    const value_type* last_item = nullptr;
                    if (unrecorded_failure_) {
                        // an earlier chunk's item failed without a failure record: not past it
                    } else if constexpr (rereadable) {
                        last_item = &copy.emplace(**last);
                    } else {
                        last_item = &replay_.back();
                    }
                    hooks_before_commit_event(chunk_committing<value_type>{last_item, c.n, c.done});
                }
            }
            if (after_claim) {
                after_claim->release();
            }
            scope.commit();
        } catch (const std::logic_error&) {
            throw; // a usage error: as on the careful path, it is not the chunk's fault
        } catch (const crash&) {
            throw; // a simulated process death: nothing may survive it
        } catch (...) {
            stop.what = fast_stop::cause::chunk_error;
            stop.error = std::current_exception();
            if constexpr (rereadable) {
                it = std::move(*chunk_begin);
            }
            fast_key_failures_.clear();
            return false;
        }
        replay_.clear();
        fast_read_ = c.n;
        report_.seen += c.n;
        report_.done += c.done;
        report_.skipped += c.skipped;
        report_.quarantined += c.quarantined;
        report_.chunks += c.n > 0 ? 1 : 0; // a claiming input's last claim may find nothing
        hooks_on_successes(successes{c.done, c.skipped, c.quarantined});
        if (!fast_key_failures_.empty()) {
            report_fast_key_failures();
        }
        return true;
    }

    [[gnu::noinline, gnu::cold]] void report_fast_key_failures()
    {
        unrecorded_failure_ = true;
        for (auto& rec : fast_key_failures_) {
            ++report_.awaiting_retry; // nothing marks it: the next run reads it and tries again
            report_failure(std::move(rec));
        }
        fast_key_failures_.clear();
    }

    /// The fast chunk's items from `it` until the chunk is full or the input ends: true; or
    /// until an item fails: false, `it` at that item and `stop` saying why. The hot loop, out of
    /// line and alone, so that the store's per-item calls inline into it.
    template <class It, class End> [[gnu::noinline]] bool run_fast_items(It& it, const End& end, fast_counts& counts,
                                                                         std::optional<It>& last, fast_stop& stop)
    {
        fast_counts c;
        bool whole = true;
        for (; it != end && c.n < chunk_size_; ++it, ++c.n) {
            if constexpr (wants_last_item && rereadable) {
                last.emplace(it);
            }
            state result = state::pending;
            if constexpr (rereadable) {
                value_type v(*it);
                result = fast_step(v, c.n, stop);
            } else {
                result = fast_step(replay_.emplace_back(*it), c.n, stop);
            }
            if (result == state::done) {
                ++c.done;
            } else if (result == state::skipped) {
                ++c.skipped;
            } else if (result == state::quarantined) {
                ++c.quarantined;
            } else if (result != state::failed || stop.what != fast_stop::cause::none) {
                whole = false; // failed (a key function's throw is in fast_key_failures_ and the chunk goes on)
                break;
            }
        }
        counts = c;
        return whole;
    }

    /// run_fast_items for a ledger that claims a batch of keys in one store round trip: the
    /// chunk's items are read first (into replay_ for a single-pass input, which then holds the
    /// whole chunk), their keys claimed at once in the chunk's transaction, then the claimed
    /// items' effects run in order. A failure leaves `it` past the items read; the claims vanish with
    /// the chunk's rollback, as the per-item claims do.
    template <class It, class End> [[gnu::noinline]] bool
    run_fast_items_batched(It& it, const End& end, fast_counts& counts, std::optional<It>& last, fast_stop& stop)
    {
        auto& values = [this]() -> std::vector<value_type>& {
            if constexpr (rereadable) {
                return batch_values_;
            } else {
                return replay_;
            }
        }();
        values.clear();
        batch_keys_.clear();
        batch_positions_.clear();
        fast_counts c;
        for (; it != end && c.n < chunk_size_; ++it, ++c.n) {
            if constexpr (wants_last_item && rereadable) {
                last.emplace(it);
            }
            const value_type& v = values.emplace_back(*it);
            bool key_threw = false;
            key k = fast_key(v, static_cast<std::int64_t>(report_.seen + c.n), key_threw);
            if (key_threw) {
                if constexpr (key_failure_to_careful) {
                    stop.what = fast_stop::cause::key_failed; // hooks see it in order (see key_failure_to_careful)
                    stop.index = c.n;
                    ++it; // past the items read, as after a whole batch
                    counts = c;
                    return false;
                }
                continue; // failed before it ran (in fast_key_failures_): the chunk goes on
            }
            if constexpr (keeps_failures) {
                if (quarantined(k)) {
                    ++c.quarantined;
                    continue;
                }
            }
            batch_keys_.push_back(std::move(k));
            batch_positions_.push_back(c.n);
        }
        slot<ledger_slot_i>().ledger->claim_all(std::span<const key>(batch_keys_), batch_claimed_);
        for (std::size_t b = 0; b < batch_keys_.size(); ++b) {
            if (!batch_claimed_[b]) {
                ++c.skipped;
            } else if (fast_attempt(values[batch_positions_[b]], batch_keys_[b], batch_positions_[b], stop, true) ==
                       state::failed) {
                counts = c;
                return false;
            } else {
                ++c.done;
            }
        }
        counts = c;
        return true;
    }

    /// One item on the fast path: its key, its quarantine, one attempt.
    [[gnu::always_inline]] state fast_step(value_type& v, std::size_t index, fast_stop& stop)
    {
        const auto position = static_cast<std::int64_t>(report_.seen + index);
        if constexpr (has_ledger) {
            bool key_threw = false;
            const key k = fast_key(v, position, key_threw);
            if (key_threw) {
                if constexpr (key_failure_to_careful) {
                    stop.what = fast_stop::cause::key_failed; // hooks see it in order (see key_failure_to_careful)
                    stop.index = index;
                }
                return state::failed; // failed before it ran: nothing to roll back, the chunk goes on
            }
            if constexpr (keeps_failures) {
                if (quarantined(k)) {
                    return state::quarantined;
                }
            }
            return fast_attempt(v, k, index, stop);
        } else {
            const key k(position);
            return fast_attempt(v, k, index, stop);
        }
    }

    /// Why an item failed when its key function threw (called in the handler); `position_key`
    /// names the item by its position, as it has no key.
    static std::string key_failure_reason(const key& position_key)
    {
        return "key function threw: " + describe(std::current_exception()) + " (item #" + position_key.str() + ")";
    }

    /// The key has a failure record that put it in quarantine (loaded at the start of the run).
    [[nodiscard]] bool quarantined(const key& k) const
    {
        if (failing_.empty()) {
            return false;
        }
        const auto f = failing_.find(k);
        return f != failing_.end() && f->second;
    }

    /// The item's key; when the key function throws, its position stands in
    /// and the reason is kept in fast_key_failures_.
    key fast_key(const value_type& v, std::int64_t position, bool& threw)
    {
        try {
            return make_key(std::invoke(slot<ledger_slot_i>().key_fn, v));
        } catch (const crash&) {
            throw; // a simulated process death: nothing may survive it
        } catch (...) {
            threw = true;
            note_fast_key_failure(position);
            return key(position);
        }
    }

    /// Called in the handler; out of the per-item loop, which must stay small enough for the
    /// store's calls to inline into it.
    [[gnu::noinline, gnu::cold]] void note_fast_key_failure(std::int64_t position)
    {
        key k(position);
        std::string why = key_failure_reason(k);
        fast_key_failures_.push_back(failure_record{std::move(k), std::move(why), failure_kind::permanent, 1});
    }

    [[gnu::always_inline]] state fast_attempt(value_type& v, const key& k, std::size_t index, fast_stop& stop,
                                              bool claimed = false)
    {
        const state result = attempt(v, k, 0, stop.failure, claimed);
        if (result == state::failed) {
            stop.what = fast_stop::cause::item_failed;
            stop.index = index;
            stop.failure.item_key = nullptr; // k dies here; the careful path points it at the entry's key
        }
        return result;
    }

    /// The successes a fast attempt had before it failed at an item, shown to the hooks before
    /// the careful path opens the chunk again: outside it, so that a hook's exception here ends
    /// the run, as it does after a fast chunk's commit.
    void successes_before_fast_failure(std::vector<entry>& items, const fast_stop& stop)
    {
        if (stop.what != fast_stop::cause::item_failed || stop.index >= items.size()) {
            return;
        }
        std::size_t succeeded = 0;
        for (std::size_t k = 0; k < stop.index; ++k) {
            if (items[k].st == state::pending && !std::exchange(items[k].watched, true)) {
                ++succeeded;
            }
        }
        if (succeeded > 0) {
            hooks_on_successes(successes{succeeded, 0, 0});
        }
    }

    /// The careful path's start after a fast attempt failed at an item: as if its first
    /// segment had just run up to that item (see run_segments).
    void resume_after_fast_failure(std::vector<entry>& items, fast_stop& stop)
    {
        if (stop.what != fast_stop::cause::item_failed || stop.index >= items.size()) {
            return;
        }
        entry& bad = items[stop.index];
        bad.attempts = 1;
        stop.failure.item_key = &bad.item_key;
        if (settle_failure(bad, stop.index, stop.failure)) {
            watch(items, stop.index);
        } else {
            bad.isolate = true;
        }
        segment_limit_ = std::clamp<std::size_t>((stop.index + 1) / 2, min_segment, max_segment);
    }

    void finish_chunk_tick(time_point chunk_start)
    {
        const time_point end = now();
        each_hook([&](auto& h) {
            if constexpr (handles_after_chunk<std::remove_reference_t<decltype(h)>>) {
                h.after_chunk(chunk_ended{end, end - chunk_start, std::as_const(report_)});
            }
        });
    }

    // --- hooks (hook.hpp) ----------------------------------------------------------------
    /// Calls `f` on each hook: the built-in run-level stages in their fixed order, then the
    /// user's hooks, in the order they were written.
    template <class F> void each_hook(F&& f)
    {
        [&]<std::size_t... I>(std::index_sequence<I...>)
        {
            (
                [&] {
                    if constexpr (has<I>) {
                        f(slot<I>());
                    }
                }(),
                ...);
        }
        (builtin_hooks{});
        if constexpr (has<hooks_slot_i>) {
            std::apply([&](auto&... h) { (f(h), ...); }, slot<hooks_slot_i>().hooks);
        } else {
            (void)f;
        }
    }

    /// False when a hook's verdict stops the run before this chunk. The first verdict that stops
    /// wins, and the hooks after it do not see the chunk start (as on_item's do not see the item).
    bool hooks_before_chunk(time_point chunk_start)
    {
        each_hook([&](auto& h) {
            if constexpr (handles_before_chunk<std::remove_reference_t<decltype(h)>>) {
                const chunk_starting event{chunk_start, start_, std::as_const(report_)};
                if (!stop_reason_.empty()) {
                    return;
                }
                if constexpr (std::is_void_v<decltype(h.before_chunk(event))>) {
                    h.before_chunk(event);
                } else {
                    verdict v = h.before_chunk(event);
                    if (v.stops()) {
                        stop_reason_ = std::move(v.stop_reason);
                    }
                }
            }
        });
        return stop_reason_.empty();
    }

    void hooks_on_successes(const successes& s)
    {
        each_hook([&](auto& h) {
            if constexpr (handles_successes<std::remove_reference_t<decltype(h)>>) {
                h.on_successes(s);
            }
        });
    }

    void hooks_before_commit_event(const chunk_committing<value_type>& event)
    {
        each_hook([&](auto& h) {
            if constexpr (handles_before_commit<std::remove_reference_t<decltype(h)>, value_type>) {
                h.before_commit(event);
            }
        });
    }

    tx_type* resolve_tx()
    {
        if constexpr (!has_store) {
            return &null_tx_;
        } else {
            tx_type* from_chunk = nullptr;
            tx_type* from_effect = nullptr;
            if constexpr (!std::is_void_v<chunk_tx>) {
                from_chunk = slot<chunk_slot_i>().tx;
            }
            if constexpr (!std::is_void_v<effect_tx>) {
                from_effect = slot<effect_slot_i>().tx;
            }
            if (from_chunk != nullptr && from_effect != nullptr && from_chunk != from_effect) {
                throw usage_error("sturdy: chunked(tx, n) and guarded(tx, fn) were given different stores; a chunk "
                                  "commit must cover the effects it contains, so give one store");
            }
            return from_chunk != nullptr ? from_chunk : from_effect;
        }
    }

    time_point now()
    {
        if constexpr (has_clock) {
            return slot<clock_slot_i>().clock->now();
        } else {
            return steady_clock{}.now();
        }
    }
    void sleep_for(duration d)
    {
        if constexpr (has_clock) {
            slot<clock_slot_i>().clock->sleep_for(d);
        } else {
            steady_clock{}.sleep_for(d);
        }
    }

    failure_kind classify_failure(const attempt_failure& f)
    {
        if constexpr (has_retry) {
            return classify(slot<retry_slot_i>().classifier, f);
        } else {
            return default_classify(f);
        }
    }
    duration backoff_delay(int attempts_made)
    {
        if constexpr (has_retry) {
            return slot<retry_slot_i>().backoff.delay(attempts_made, jitter_.next());
        } else {
            return duration::zero();
        }
    }

    // Built in place: the fast path pays for no move or temporary per item.
    template <class Ref> void add_entry(std::vector<entry>& items, Ref&& ref)
    {
        const auto position = static_cast<std::int64_t>(report_.seen++);
        entry& e = items.emplace_back(value_type(std::forward<Ref>(ref)), key(position));
        if constexpr (has_ledger) {
            try {
                e.item_key = make_key(std::invoke(slot<ledger_slot_i>().key_fn, std::as_const(e.item)));
            } catch (const crash&) {
                throw; // a simulated process death: nothing may survive it
            } catch (...) {
                e.initial = e.st = state::failed;
                e.fail(key_failure_reason(e.item_key));
                return;
            }
            if constexpr (keeps_failures) {
                if (quarantined(e.item_key)) {
                    e.initial = e.st = state::quarantined;
                }
            }
        }
    }

    // One attempt of one item, in whatever scope the caller holds (the fast chunk's transaction,
    // or a savepoint on the careful path). `claimed`: the key was claimed already, with its
    // chunk's or segment's batch.
    [[gnu::always_inline]] state attempt(value_type& item, const key& item_key, int attempts_made,
                                         attempt_failure& failure, bool claimed = false)
    {
        try {
            if constexpr (has_ledger) {
                // A claiming ledger marks the key now; the effect's failure rolls the mark back
                // with the caller's scope. Otherwise: check now, mark after the effect.
                if constexpr (claims) {
                    if (!claimed && !slot<ledger_slot_i>().ledger->claim(item_key)) {
                        return state::skipped;
                    }
                } else if (slot<ledger_slot_i>().ledger->contains(item_key)) {
                    return state::skipped;
                }
            }
            if (auto f = invoke_effect(item, item_key, attempts_made)) {
                failure = std::move(*f);
                return state::failed;
            }
            if constexpr (has_ledger) {
                if constexpr (keeps_failures) {
                    if (!failing_.empty() && failing_.contains(item_key)) {
                        slot<ledger_slot_i>().ledger->clear_failure(item_key);
                    }
                }
                if constexpr (!claims) {
                    slot<ledger_slot_i>().ledger->mark(item_key);
                }
            }
            return state::done;
        } catch (const crash&) {
            throw; // a simulated process death: nothing may survive it
        } catch (...) {
            failure = failure_from_current_exception(&item_key);
            return state::failed;
        }
    }
    state attempt(entry& e, attempt_failure& failure) { return attempt(e.item, e.item_key, e.attempts, failure); }

    std::optional<attempt_failure> invoke_effect(value_type& item, const key& item_key, int attempts_made)
    {
        auto& fn = slot<effect_slot_i>().fn;
        using Fn = std::remove_reference_t<decltype(fn)>;
        constexpr bool wants_context = std::invocable<Fn&, value_type&, const item_context&>;
        static_assert(wants_context || std::invocable<Fn&, value_type&>,
                      "guarded: the effect must be callable as fn(item) or fn(item, const sturdy::item_context&)");
        auto invoke = [&]() -> decltype(auto) {
            if constexpr (wants_context) {
                return std::invoke(fn, item, item_context{item_key, idempotency_key(item_key), attempts_made + 1});
            } else {
                return std::invoke(fn, item);
            }
        };
        if constexpr (std::is_void_v<decltype(invoke())>) {
            invoke();
            return std::nullopt;
        } else {
            return failure_of_result(invoke(), &item_key);
        }
    }

    std::string idempotency_key(const key& k)
    {
        if constexpr (has_ledger) {
            if constexpr (requires { slot<ledger_slot_i>().ledger->name(); }) {
                return std::string(slot<ledger_slot_i>().ledger->name()) + ":" + k.str();
            }
        }
        return k.str();
    }

    // The item alone, in a savepoint per attempt, with retries.
    void run_isolated(std::vector<entry>& items, std::size_t index, std::size_t& retried)
    {
        entry& e = items[index];
        for (;;) {
            if (e.attempts > 0) {
                sleep_for(backoff_delay(e.attempts));
                ++retried;
            }
            auto sp = tx_->savepoint();
            attempt_failure failure;
            const state result = attempt(e, failure);
            if (result != state::failed) {
                sp.release();
                e.st = result;
                return;
            }
            sp.rollback();
            ++e.attempts;
            if (settle_failure(e, index, failure)) {
                return;
            }
        }
    }

    // Records a failed attempt; true when the item is finished (permanent, out of attempts, or
    // fatal: then no item can succeed, so the run stops here and the item is left for later).
    bool settle_failure(entry& e, std::size_t index, const attempt_failure& failure)
    {
        e.kind = classify_failure(failure);
        e.fail(failure.reason);
        if (e.kind == failure_kind::fatal) {
            stop_fatally(failure.reason, index);
            e.st = state::unprocessed;
            return true;
        }
        if (e.kind == failure_kind::permanent || e.attempts >= max_attempts_) {
            e.st = state::failed;
            failed_in_chunk_ = true;
            return true;
        }
        return false;
    }

    // Items before `index` still run (they may be re-runs of a rolled-back segment); the rest
    // become remaining.
    void stop_fatally(const std::string& reason, std::size_t index)
    {
        stop_reason_ = "stopped: " + reason + " (no item can succeed until this is fixed)";
        stop_index_ = index;
    }

    // Hooks with on_item (the failure budget among them) see final outcomes in processing
    // order, once per item. A verdict that stops the run gives back the chunk's latest failures
    // (they become "unprocessed": an outage is not the items' fault) and the chunk stops after
    // the items before `index` are finished.
    void watch(std::vector<entry>& items, std::size_t index)
    {
        if constexpr (outcomes_in_order) {
            if (items[index].st == state::unprocessed || std::exchange(items[index].watched, true)) {
                return;
            }
            hooks_on_item(items, index);
        } else {
            (void)items;
            (void)index;
        }
    }

    void hooks_on_item(std::vector<entry>& items, std::size_t index)
    {
        const entry& e = items[index];
        const bool failed = e.st == state::failed;
        if (failed) {
            chunk_failures_.push_back(index);
        }
        const item_outcome what = failed                       ? item_outcome::failed
                                  : e.st == state::done        ? item_outcome::done
                                  : e.st == state::quarantined ? item_outcome::quarantined
                                                               : item_outcome::skipped;
        const item_settled event{what, e.item_key, failed ? std::string_view(e.why()) : std::string_view()};
        bool stopped = false; // the first verdict that stops wins; the hooks after it do not see the item
        each_hook([&](auto& h) {
            if constexpr (handles_item<std::remove_reference_t<decltype(h)>>) {
                if (stopped) {
                    return;
                }
                if constexpr (std::is_void_v<decltype(h.on_item(event))>) {
                    h.on_item(event);
                } else {
                    verdict v = h.on_item(event);
                    if (v.stops() && stop_reason_.empty()) {
                        stopped = true;
                        stop_reason_ = std::move(v.stop_reason);
                        const std::size_t n = std::min(v.give_back, chunk_failures_.size());
                        for (std::size_t k = chunk_failures_.size() - n; k < chunk_failures_.size(); ++k) {
                            items[chunk_failures_[k]].st = state::unprocessed;
                        }
                        stop_index_ = index;
                    }
                }
            }
        });
    }

    // Successful runs of items share one savepoint; a failure rolls it back, re-runs the items
    // before it and sends the failing item to run_isolated. Segments shrink after a failure and
    // grow back after a clean run, so scattered failures cost few re-runs.
    void run_segments(std::vector<entry>& items, std::size_t& retried)
    {
        std::size_t i = 0;
        while (i < std::min(items.size(), stop_index_)) {
            entry& head = items[i];
            if (head.st != state::pending) {
                if (head.st == state::failed) {
                    watch(items, i); // its key function threw: the budget sees it in its place
                }
                ++i;
                continue;
            }
            if (head.isolate) {
                run_isolated(items, i, retried);
                watch(items, i);
                ++i;
                continue;
            }
            auto sp = tx_->savepoint();
            const std::size_t seg_start = i;
            std::optional<std::size_t> failed_at;
            attempt_failure failure;
            if constexpr (claims_batches) {
                claim_segment(items, seg_start);
            }
            for (; i < std::min(items.size(), stop_index_) && !items[i].isolate && i - seg_start < segment_limit_;
                 ++i) {
                entry& e = items[i];
                if (e.st != state::pending) {
                    if (e.st == state::failed) {
                        watch(items, i);
                    }
                    continue;
                }
                state result = state::skipped;
                if constexpr (claims_batches) {
                    if (segment_claimed_[i - seg_start]) {
                        result = attempt(e.item, e.item_key, e.attempts, failure, true);
                    }
                } else {
                    result = attempt(e, failure);
                }
                if (result == state::failed) {
                    failed_at = i;
                    break;
                }
                e.st = result;
                watch(items, i);
            }
            if (!failed_at) {
                sp.release();
                segment_limit_ = std::min({chunk_size_, max_segment, segment_limit_ * 2});
                continue;
            }
            sp.rollback();
            for (std::size_t k = seg_start; k < *failed_at; ++k) {
                if (items[k].st == state::done || items[k].st == state::skipped) {
                    items[k].st = state::pending; // their writes were just undone: run them again
                }
            }
            entry& bad = items[*failed_at];
            bad.attempts = 1;
            if (settle_failure(bad, *failed_at, failure)) {
                watch(items, *failed_at);
            } else {
                bad.isolate = true;
            }
            segment_limit_ = std::max<std::size_t>(min_segment, (*failed_at - seg_start + 1) / 2);
            i = seg_start;
        }
    }

    /// A batch-claiming ledger claims the pending keys of the segment starting at `seg_start` at
    /// once, in the segment's savepoint (which a failure rolls back, claims included): the items
    /// the segment's loop will attempt, as nothing changes its bounds while it runs.
    void claim_segment(std::vector<entry>& items, std::size_t seg_start)
    {
        batch_keys_.clear();
        batch_positions_.clear();
        std::size_t j = seg_start;
        for (; j < std::min(items.size(), stop_index_) && !items[j].isolate && j - seg_start < segment_limit_; ++j) {
            if (items[j].st == state::pending) {
                batch_keys_.push_back(items[j].item_key);
                batch_positions_.push_back(j);
            }
        }
        slot<ledger_slot_i>().ledger->claim_all(std::span<const key>(batch_keys_), batch_claimed_);
        segment_claimed_.assign(j - seg_start, false);
        for (std::size_t b = 0; b < batch_positions_.size(); ++b) {
            segment_claimed_[batch_positions_[b] - seg_start] = batch_claimed_[b];
        }
    }

    void run_per_item(std::vector<entry>& items, std::size_t& retried)
    {
        for (std::size_t i = 0; i < std::min(items.size(), stop_index_); ++i) {
            if (items[i].st == state::pending) {
                run_isolated(items, i, retried);
                watch(items, i);
            } else if (items[i].st == state::failed) {
                watch(items, i); // its key function threw
            }
        }
    }

    /// `read_chunk` adds a claiming input's new items, inside the chunk's transaction.
    template <class Read>
    void run_chunk(std::vector<entry>& items, std::size_t& retried, fast_stop* after_fast, Read& read_chunk)
    {
        // After a claiming input's failed fast attempt, its transaction still holds the claim.
        std::optional<chunk_scope> held = std::exchange(claimed_scope_, std::nullopt);
        const bool holds_claim = held.has_value();
        auto scope = held ? std::move(*held) : policy::open_chunk(*tx_);
        if constexpr (claims_input) {
            if (holds_claim) {
                // the rows are still locked by this transaction
            } else if (items.empty()) {
                job_.source.begin_chunk(chunk_size_);
                read_chunk();
            } else {
                job_.source.begin_chunk(0); // they run again: held again, or waited for
            }
        } else {
            (void)read_chunk;
            (void)holds_claim;
        }
        chunk_failures_.clear();
        failed_in_chunk_ = false;
        if (after_fast != nullptr) {
            resume_after_fast_failure(items, *after_fast);
        }
        if (per_item_) {
            run_per_item(items, retried);
        } else {
            run_segments(items, retried);
        }
        if (stop_index_ < items.size()) { // the run stops inside this chunk
            for (std::size_t i = 0; i < items.size(); ++i) {
                entry& e = items[i];
                // Not run, or (its key function threw) not reached: the next run does them.
                if (e.st == state::pending ||
                    (i > stop_index_ && e.st == state::failed && e.initial == state::failed)) {
                    e.st = state::unprocessed;
                }
            }
        }
        if (failed_in_chunk_) { // the fast path has nothing to record
            record_failures(items);
        }
        if constexpr (hooks_before_commit) {
            if (!items.empty()) {
                // The last item before one left unprocessed or one failed without a failure record
                // (its key function threw), which the next run must read again.
                const entry* last = nullptr;
                std::size_t done = 0;
                for (const auto& e : items) {
                    if (unrecorded_failure_ || e.st == state::unprocessed || e.initial == state::failed) {
                        break;
                    }
                    last = &e;
                }
                for (const auto& e : items) {
                    done += e.st == state::done ? 1 : 0;
                }
                hooks_before_commit_event(
                    chunk_committing<value_type>{last != nullptr ? &last->item : nullptr, items.size(), done});
            }
        }
        scope.commit();
    }

    // Failure records are written in the chunk's transaction, after the items' own savepoints
    // were rolled back, so they commit with the chunk.
    void record_failures(std::vector<entry>& items)
    {
        if constexpr (keeps_failures) {
            auto& s = slot<ledger_slot_i>();
            for (auto& e : items) {
                if (e.st == state::failed && e.initial != state::failed) {
                    e.quarantined_now = s.ledger->record_failure(e.item_key, e.why(), s.quarantine_after).quarantined;
                }
            }
        } else {
            (void)items;
        }
    }

    /// The chunk on the careful path, run whole again when something outside its items' attempts
    /// (BEGIN, COMMIT, a savepoint, a hook's before_commit or on_item) fails transiently, up to
    /// the retry's attempts.
    // `after_fast`: the fast attempt that gave way to this one (its failure is the first attempt's).
    template <class Read> void run_chunk_with_retries(std::vector<entry>& items, fast_stop* after_fast, Read read_chunk)
    {
        if (after_fast != nullptr) {
            successes_before_fast_failure(items, *after_fast);
        }
        for (int chunk_attempt = 1;; ++chunk_attempt) {
            std::size_t retried = 0;
            try {
                fast_stop* first = std::exchange(after_fast, nullptr);
                if (first != nullptr && first->what == fast_stop::cause::chunk_error) {
                    std::rethrow_exception(first->error);
                }
                run_chunk(items, retried, first, read_chunk);
                report_.retried += retried;
                settle_chunk(items, true);
                return;
            } catch (const std::logic_error&) {
                throw; // a usage error: retrying or skipping the chunk would hide it
            } catch (const crash&) {
                throw; // a simulated process death: nothing may survive it
            } catch (...) {
                const auto failure = failure_from_current_exception(nullptr);
                report_.retried += retried;
                for (auto& e : items) {
                    e.reset();
                }
                stop_reason_.clear();
                stop_index_ = static_cast<std::size_t>(-1);
                const auto kind = classify_failure(failure);
                if (chunk_attempt < max_attempts_ && kind == failure_kind::transient) {
                    sleep_for(backoff_delay(chunk_attempt));
                    ++report_.retried;
                    continue;
                }
                if (kind == failure_kind::fatal) {
                    stop_fatally(failure.reason, 0);
                    for (auto& e : items) {
                        if (e.st == state::pending) {
                            e.st = state::unprocessed;
                        }
                    }
                    settle_chunk(items, false);
                    return;
                }
                for (auto& e : items) {
                    if (e.st == state::pending) {
                        e.st = state::failed;
                        e.kind = failure_kind::transient;
                        e.attempts = chunk_attempt;
                        e.fail("its chunk could not commit: " + failure.reason);
                    }
                }
                settle_chunk(items, false);
                return;
            }
        }
    }

    /// A failure, final for this run: counted, logged, and kept for the report (up to a limit).
    void report_failure(failure_record rec)
    {
        each_hook([&](auto& h) {
            if constexpr (handles_failure<std::remove_reference_t<decltype(h)>>) {
                h.on_failure(std::as_const(rec));
            }
        });
        report_.add_failure(std::move(rec));
    }

    /// `recorded`: the chunk committed with its failure records (else its failures have none).
    void settle_chunk(std::vector<entry>& items, bool recorded)
    {
        report_.chunks += items.empty() ? 0 : 1; // a claiming input's last claim may find nothing
        for (auto& e : items) {
            switch (e.st) {
            case state::done: ++report_.done; break;
            case state::skipped: ++report_.skipped; break;
            case state::quarantined: ++report_.quarantined; break;
            case state::unprocessed: ++report_.remaining; break;
            case state::failed: {
                if (!recorded || e.initial == state::failed) {
                    unrecorded_failure_ = true; // the watermark must not pass it (a later run reads it again)
                }
                if (e.quarantined_now) {
                    ++report_.quarantined;
                } else {
                    ++report_.awaiting_retry; // with a failure record, or (its key function threw) none
                }
                report_failure(failure_record{e.item_key, e.why(), e.kind, std::max(e.attempts, 1)});
                break;
            }
            case state::pending: break; // unreachable: run_chunk leaves no item pending
            }
        }
    }

    static constexpr std::size_t min_segment = 8;
    /// Items per shared savepoint on the careful path: a failure re-runs at most the items
    /// before it in its segment. In-process stores (SQLite) pay ~100 instructions per item for
    /// a savepoint per 32; a store that claims a segment's keys in one round trip (PostgreSQL)
    /// keeps larger segments, as each costs it round trips.
    static constexpr std::size_t max_segment = claims_batches ? 256 : 32;
    static constexpr std::size_t max_fast_backoff = 64;

    using chunk_scope = decltype(policy::open_chunk(std::declval<tx_type&>()));

    Job& job_;
    no_transaction null_tx_;
    std::optional<chunk_scope> claimed_scope_; ///< a failed fast attempt's transaction, kept for its claim
    std::size_t fast_read_ = 0;                ///< items the last fast chunk read
    tx_type* tx_ = nullptr;
    std::size_t chunk_size_ = 1;
    std::size_t segment_limit_ = max_segment;
    std::size_t fast_backoff_ = 0;        ///< careful chunks after the next failed fast attempt, halved
    std::size_t careful_chunks_left_ = 0; ///< chunks to run on the careful path before a fast attempt
    int max_attempts_ = 1;
    bool per_item_ = true;
    jitter_source jitter_{0x5eedU};
    time_point start_{};
    std::unordered_map<key, bool> failing_; ///< keys with failure records -> quarantined
    std::string stop_reason_;
    std::size_t stop_index_ = static_cast<std::size_t>(-1);
    bool failed_in_chunk_ = false; ///< an item of the chunk in flight failed for good
    /// An item of this run failed without a failure record (its key function threw, or its chunk
    /// could not commit): from then on `before_commit`'s last item is null, so that a watermark
    /// never moves past it and the next run reads it again.
    bool unrecorded_failure_ = false;
    std::vector<std::size_t> chunk_failures_;       ///< the chunk's failed items, in the order the hooks saw them
    std::vector<failure_record> fast_key_failures_; ///< items of the fast chunk whose key function threw
    std::vector<value_type> replay_;                ///< a single-pass input's items of the chunk in flight (fast path)
    std::vector<value_type> batch_values_;          ///< a batch-claimed fast chunk's items (rereadable input)
    std::vector<key> batch_keys_;                   ///< the keys it claims
    std::vector<std::size_t> batch_positions_;      ///< each key's item, by position in the chunk
    std::vector<bool> batch_claimed_;               ///< which keys the claim took
    std::vector<bool> segment_claimed_;             ///< careful path: which items of the segment were claimed
    report report_;
};

} // namespace sturdy::detail
