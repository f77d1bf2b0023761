#pragma once
/// sturdy/concepts.hpp — what a store, a ledger, a log sink and a clock must provide.
/// A store models `transaction`; its ledger models `ledger`. See examples/custom_store.cpp
/// for a complete store in one small file.

#include <sturdy/key.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace sturdy {

/// An RAII savepoint: rolls back on destruction unless `release()`d; `rollback()` undoes
/// everything written since it was taken (and ends it).
template <class S>
concept savepoint = std::move_constructible<S> && requires(S& s)
{
    s.release();
    s.rollback();
};

/// A connection's transaction: begin / commit / rollback, and nested savepoints.
/// Taking a savepoint outside a transaction starts one, as in SQL.
template <class T>
concept transaction = requires(T& t)
{
    t.begin();
    t.commit();
    t.rollback();
    {
        t.in_transaction()
        } -> std::convertible_to<bool>;
    {
        t.savepoint()
        } -> savepoint;
};

/// Records which keys are done. `mark` writes in the store's current transaction, so the
/// mark commits or vanishes with the item's effect.
template <class L>
concept ledger = requires(L& l, const key& k)
{
    {
        l.contains(k)
        } -> std::convertible_to<bool>;
    l.mark(k);
};

/// A ledger that can check and mark a key in one step: `claim(k)` marks `k` unless it is
/// already marked and says whether it did. When the pipeline has a store, the loop then claims
/// before the effect, in the same scope (the fast chunk's transaction, or a savepoint of it on
/// the careful path), instead of `contains` before and `mark` after: the same guarantee (a failed
/// effect's rollback removes the mark) for one store round-trip instead of two.
template <class L>
concept claiming_ledger = ledger<L> && requires(L& l, const key& k)
{
    {
        l.claim(k)
        } -> std::convertible_to<bool>;
};

/// A claiming ledger that claims many keys in one store round trip: `claim_all(keys, claimed)`
/// marks each key not yet marked and sets `claimed[i]` when it marked `keys[i]` (a key given
/// twice is claimed by its first occurrence). The loop's fast path then claims a chunk's keys at
/// once, in the chunk's transaction, before the effects of the claimed items run, and the careful
/// path a segment's, in the segment's savepoint: the same guarantee as per-item claims (the
/// rollback removes them all) for one round trip per chunk, which is what a networked store
/// (PostgreSQL) needs.
template <class L>
concept batch_claiming_ledger = claiming_ledger<L> &&
    requires(L& l, std::span<const key> keys, std::vector<bool>& claimed)
{
    l.claim_all(keys, claimed);
};

/// A batch-claiming ledger kept by the effect's own rows (the SQL stores' unique-key and marker
/// forms, sturdy/store/effect_ledger.hpp). Besides claiming, it answers two questions:
///  - `confirm_all(keys)`: after the effects of the claimed `keys` ran, the index of the first key
///    the effect's table does not show as done (its effect returned without writing its row),
///    `keys.size()` when there is none. The loop asks once per fast chunk, before its commit, and on
///    the careful path once per segment and after each item run alone; such an item fails with
///    `unconfirmed(k)` as reason.
///  - `done_elsewhere(code, message)`: whether an effect's failure is another writer's row for
///    the same key (a unique violation of the ledger's own index). The loop then rolls the item's
///    writes back and counts it `skipped`, not failed.
template <class L>
concept confirming_ledger = batch_claiming_ledger<L> &&
    requires(L& l, std::span<const key> keys, const key& k, const std::error_code& code, std::string_view message)
{
    {
        l.confirm_all(keys)
        } -> std::convertible_to<std::size_t>;
    {
        l.unconfirmed(k)
        } -> std::convertible_to<std::string>;
    {
        l.done_elsewhere(code, message)
        } -> std::convertible_to<bool>;
};

/// A key's failure history across runs, as a ledger with failure records keeps it.
struct failure_info {
    key item_key;
    int runs = 0;            ///< runs in which this key failed for good (retries within a run count once)
    std::string last_reason; ///< the last failure's reason
    bool quarantined = false;
    std::int64_t first_failed = 0; ///< unix seconds
    std::int64_t last_failed = 0;  ///< unix seconds
};

/// A ledger that also remembers failures across runs, so a failed key is retried by later runs
/// and quarantined after `quarantine_after` failed runs. Every write happens in the store's
/// current transaction, like `mark`.
template <class L>
concept failure_ledger = ledger<L> && requires(L& l, const key& k, std::string_view reason, int n)
{
    {
        l.failures()
        } -> std::same_as<std::vector<failure_info>>; ///< every record, quarantined or not
    {
        l.record_failure(k, reason, n)
        } -> std::same_as<failure_info>; ///< runs+1; quarantined once runs >= n
    l.clear_failure(k);                  ///< on success
    {
        l.requeue(k)
        } -> std::convertible_to<bool>; ///< un-quarantine one key (runs reset to 0)
    {
        l.requeue_all()
        } -> std::convertible_to<std::size_t>; ///< un-quarantine every key
};

/// An input whose items are claimed inside each chunk's transaction, such as rows a PostgreSQL
/// worker locks with `FOR UPDATE SKIP LOCKED` so that other workers of the same job pass them by
/// (sturdy/store/postgres_claim.hpp). `drain` calls `begin_chunk(n)` right after each chunk's
/// transaction (or savepoint) opens and reads the chunk's new items only after it:
///  - `n > 0`: a chunk of at most `n` new items, which the input claims when it is first read;
///  - `n == 0`: the items read last run again in a new transaction (the chunk is retried after
///    an error): the input must hold them again before the loop goes on.
/// The input compares equal to its end once the chunk's claim is read; the loop ends after a
/// chunk that claimed nothing, and never counts what the input has left.
template <class R>
concept claiming_input = std::ranges::input_range<R> && requires(R& r, std::size_t n)
{
    r.begin_chunk(n);
};

/// Log levels a sink receives.
enum class level { info, warning, error };

/// Anything callable with a level and a message.
template <class S>
concept log_sink = std::invocable<S&, level, std::string_view>;

using duration = std::chrono::nanoseconds;
using time_point = std::chrono::steady_clock::time_point;

/// A monotonic clock that can also wait. Inject a `sturdy::manual_clock` in tests.
template <class C>
concept clock = requires(C& c, duration d)
{
    {
        c.now()
        } -> std::convertible_to<time_point>;
    c.sleep_for(d);
};

} // namespace sturdy
