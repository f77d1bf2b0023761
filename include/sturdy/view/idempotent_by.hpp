#pragma once
/// sturdy/view/idempotent_by.hpp — skip items already done; mark the rest with their effect.
///
///     input | sturdy::idempotent_by(ledger, [](const sub& s) { return std::tuple(s.id, period); })
///
/// In:  items of any type T.  Out: the same items, minus those whose key the ledger holds.
/// Guarantee: an item's key is marked in the same savepoint as its effect (by `guarded`), so
/// the effect and the mark commit together or vanish together; a second run skips what the
/// first one committed. The key function must return an integer, a string, a `sturdy::key` or
/// a tuple of those; if it throws, that item fails with the reason and nothing is marked.
/// Preconditions: `ledger` outlives the pipeline.

#include <sturdy/concepts.hpp>
#include <sturdy/job.hpp>
#include <sturdy/key.hpp>

#include <utility>

namespace sturdy {
namespace detail {
template <class Ledger, class KeyFn> struct ledger_slot {
    Ledger* ledger;
    KeyFn key_fn;
};
} // namespace detail

struct idempotent_by_fn {
    template <class Ledger, class KeyFn> auto operator()(Ledger& ledger, KeyFn key_fn) const
    {
        static_assert(sturdy::ledger<Ledger>,
                      "idempotent_by: the first argument must model sturdy::ledger (contains(key) and mark(key))");
        return detail::stage<detail::ledger_slot_i, detail::ledger_slot<Ledger, KeyFn>>{{&ledger, std::move(key_fn)}};
    }
};

/// See the header comment.
inline constexpr idempotent_by_fn idempotent_by{};

} // namespace sturdy
