#pragma once
/// sturdy/view/watermark.hpp — incremental runs: remember how far the input was read.
///
///     auto since = db.checkpoint("contacts").value_or("0");
///     db.rows<contact>("SELECT ... WHERE write_date >= ? ORDER BY write_date, id", since)
///         | sturdy::idempotent_by(ledger, [](const contact& c) { return std::tuple(c.id, c.write_date); })
///         | sturdy::watermark(db, "contacts", [](const contact& c) { return c.write_date; })
///         | ...
///
/// In: T, ordered by the watermark value. Out: T.
/// Guarantee: at each chunk's end the checkpoint `name` is set, in the chunk's own transaction,
/// to the value of the last item the chunk processed (done, skipped, quarantined or failed), so
/// it moves exactly as far as the committed work. Items that failed are retried through their
/// failure records, not through the watermark: read them back by key (see
/// examples/contact_sync.cpp). An item that failed with no failure record (its key function
/// threw, or its chunk could not commit) stops the checkpoint before it for the rest of the run,
/// so the next run reads it again.
/// Read with `>=`, keyed by (id, version): items sharing the boundary value are read again and
/// skipped by the ledger.
/// In a for loop, the checkpoint moves to each committed chunk's last item (a loop has no
/// failures: an exception leaves it and rolls the chunk in flight back, checkpoint included).
/// A hook (sturdy/hook.hpp), registered where it is written: `before_commit` writes the
/// checkpoint. Refused at compile time with a claiming input, and under `drain` without a ledger
/// that keeps failure records (`check_pipeline`).
/// Preconditions: the store has `checkpoint(name)` and `set_checkpoint(name, value)`.

#include <sturdy/concepts.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/key.hpp>

#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace sturdy {

/// A store that keeps named checkpoints, written in its current transaction.
template <class S>
concept checkpoint_store = requires(S& s, const std::string& name)
{
    {
        s.checkpoint(name)
        } -> std::convertible_to<std::optional<std::string>>;
    s.set_checkpoint(name, name);
};

namespace detail {
template <class Store, class ValueFn> struct watermark_hook {
    Store* store;
    std::string name;
    ValueFn value_fn;

    template <class Pipeline> static constexpr bool check_pipeline()
    {
        static_assert(!Pipeline::claims_input,
                      "watermark: not with a claiming input. Several workers commit chunks out of order, so a "
                      "checkpoint one of them moves may pass rows another still holds and then loses; the claim "
                      "already leaves out what the ledger holds, so drop the watermark (docs/postgres.md)");
        static_assert(Pipeline::loop_form || Pipeline::keeps_failures,
                      "watermark: items the watermark moves past are retried through their failure records; use "
                      "idempotent_by with a ledger that keeps them (sturdy::failure_ledger: the memory, SQLite and "
                      "PostgreSQL ledgers)");
        return true;
    }

    /// The checkpoint moves to the chunk's last processed item, in the chunk's transaction.
    template <class T> void before_commit(const chunk_committing<T>& c)
    {
        if (c.last != nullptr) {
            store->set_checkpoint(name, make_key(std::invoke(value_fn, *c.last)).str());
        }
    }
};
} // namespace detail

struct watermark_fn {
    template <class Store, class ValueFn> auto operator()(Store& store, std::string name, ValueFn value_fn) const
    {
        static_assert(checkpoint_store<Store>,
                      "watermark: the store must provide checkpoint(name) and set_checkpoint(name, value)");
        return detail::hook_stage<detail::watermark_hook<Store, ValueFn>>{
            {&store, std::move(name), std::move(value_fn)}};
    }
};

/// See the header comment.
inline constexpr watermark_fn watermark{};

} // namespace sturdy
