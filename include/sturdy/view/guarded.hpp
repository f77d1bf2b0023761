#pragma once
/// sturdy/view/guarded.hpp — run each item's effect so that a failure costs that item alone.
///
///     input | sturdy::chunked(db, 200) | sturdy::guarded([&](const sub& s) { write_invoice(db, s); })
///     input | sturdy::guarded(db, effect)                       // the store given here instead
///     input | sturdy::guarded(db, effect, sturdy::isolation::per_item)
///
/// In:  items of type T.  Out: T, each with its effect applied, or recorded as failed.
/// The effect is `fn(T&)` or `fn(T&, const sturdy::item_context&)` (key, idempotency key,
/// attempt), returning void, `std::error_code`, or a result (`sturdy::result<T>`, any
/// Boost.Outcome `result` or `outcome`, Boost or std flavour): an exception or an error return
/// is a failure. A result's error may be a `sturdy::error`, an error code (std or
/// `boost::system`: its message is kept), a type with `make_error_code(e)` found by ADL, or an
/// exception pointer (std or boost), which is classified as if the effect had thrown it.
/// Guarantee: a failed item's writes (and its ledger mark) are rolled back, the failure is
/// recorded with the item's key and reason, and the loop goes on with the next item.
/// Isolation: by default (`per_chunk`) a chunk first runs in its transaction alone, with no
/// savepoint per item; when an item fails, the chunk is rolled back and runs again, successful
/// items sharing savepoints (up to 32 items each, 256 with PostgreSQL's batch claims) and the
/// failing one alone in a savepoint of its own, and the next chunks skip the first attempt for a
/// while. Effects are therefore re-run (never committed twice) when a neighbour fails: use `per_item` (one
/// savepoint per item, nothing re-run) when the effect reaches outside the store.

#include <sturdy/concepts.hpp>
#include <sturdy/job.hpp>
#include <sturdy/key.hpp>

#include <string>
#include <utility>

namespace sturdy {

/// What an effect may learn about the item it runs for.
struct item_context {
    const key& item_key;     ///< the ledger key (or the item's position when there is no ledger)
    std::string idempotency; ///< stable across runs and retries: "<ledger>:<key>"; send it to remote receivers
    int attempt;             ///< 1 for the first attempt of this run
};

enum class isolation {
    per_chunk, ///< no savepoint until something fails; the chunk is re-run around a failure (fast)
    per_item,  ///< one savepoint per item; nothing is ever re-run
    /// the careful path from the start: items share savepoints (up to 32, 256 with batch
    /// claims), never the fast path's savepoint-free first attempt
    per_segment,
};

namespace detail {
template <class Fn, class Tx> struct effect_slot {
    Fn fn;
    Tx* tx; ///< null when the store comes from chunked(tx, n)
    isolation mode;
};
} // namespace detail

struct guarded_fn {
    template <class Fn> auto operator()(Fn fn, isolation mode = isolation::per_chunk) const
    {
        return detail::stage<detail::effect_slot_i, detail::effect_slot<Fn, void>>{{std::move(fn), nullptr, mode}};
    }
    template <transaction Tx, class Fn> auto operator()(Tx& tx, Fn fn, isolation mode = isolation::per_chunk) const
    {
        return detail::stage<detail::effect_slot_i, detail::effect_slot<Fn, Tx>>{{std::move(fn), &tx, mode}};
    }
};

/// See the header comment.
inline constexpr guarded_fn guarded{};

} // namespace sturdy
