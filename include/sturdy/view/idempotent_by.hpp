#pragma once
/// sturdy/view/idempotent_by.hpp — skip items already done; mark the rest with their effect.
///
///     input | sturdy::idempotent_by(ledger, [](const sub& s) { return std::tuple(s.id, period); })
///
/// In:  items of any type T.  Out: the same items, minus those whose key the ledger holds.
/// Guarantee: an item's key is written in the same scope as its effect (the chunk's transaction,
/// or a savepoint of it when the chunk is re-run around a failure: docs/architecture.md), so the
/// effect and the mark commit together or vanish together; a second run skips what the first
/// one committed. The key function must return an integer, a string, a `sturdy::key` or a tuple
/// of those. It runs each time the item is read: once, and once more when the item's chunk is
/// run again on the careful path. If it throws, that item fails with the reason and nothing is
/// marked; having no key, it gets no failure record and is never quarantined, but it counts as
/// a failure of its own (in `report::failed` and `report::awaiting_retry`; not an outage for
/// `failure_budget`) and every
/// later run tries it again (a `watermark` does not move past it).
/// With a ledger that keeps failure records (`sturdy::failure_ledger`, as the memory, SQLite and
/// PostgreSQL ledgers do), a key that failed is retried by later runs, and after `quarantine_after` failed
/// runs (default 5) it is quarantined: skipped, counted in `report::quarantined`, listed by
/// `ledger.failures()`, until an operator calls `ledger.requeue(key)` or `requeue_all()`. A
/// success clears the key's failure record in the same scope as its effect.
/// A ledger kept by the effect's own table (`sturdy::confirming_ledger`: `db.ledger(sturdy::unique_key{...})`
/// or `sturdy::marker{...}`, sturdy/store/effect_ledger.hpp) writes no row of sturdy's for a done
/// item: the effect's row is the mark. With a store (`chunked(db, n)`), the loop then checks, once
/// per fast chunk and once per careful segment or item run alone, that each effect left its row (an item
/// whose effect did not fails, named), and counts an item whose effect hit the ledger's own unique
/// index (another writer's row) as skipped.
/// Preconditions: `ledger` outlives the pipeline; quarantine_after >= 1.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/job.hpp>
#include <sturdy/key.hpp>

#include <string>
#include <utility>

namespace sturdy {
namespace detail {
template <class Ledger, class KeyFn> struct ledger_slot {
    Ledger* ledger;
    KeyFn key_fn;
    int quarantine_after;
};
} // namespace detail

/// After how many failed runs a key is quarantined.
struct quarantine_after {
    int runs = 5;
};

struct idempotent_by_fn {
    template <class Ledger, class KeyFn>
    auto operator()(Ledger& ledger, KeyFn key_fn, quarantine_after quarantine = {}) const
    {
        static_assert(sturdy::ledger<Ledger>,
                      "idempotent_by: the first argument must model sturdy::ledger (contains(key) and mark(key))");
        if (quarantine.runs < 1) {
            throw usage_error("idempotent_by: quarantine_after must be at least 1 failed run (got " +
                              std::to_string(quarantine.runs) + ")");
        }
        return detail::stage<detail::ledger_slot_i, detail::ledger_slot<Ledger, KeyFn>>{
            {&ledger, std::move(key_fn), quarantine.runs}};
    }
};

/// See the header comment.
inline constexpr idempotent_by_fn idempotent_by{};

} // namespace sturdy
