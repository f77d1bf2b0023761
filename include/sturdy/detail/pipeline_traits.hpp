#pragma once
/// What `drain`'s engine knows of a pipeline at compile time: the types in its slots, one flag
/// per fact, and the checks that refuse a pipeline that cannot work (each naming the fix).

#include <sturdy/concepts.hpp>
#include <sturdy/detail/hook_dispatch.hpp>
#include <sturdy/detail/slots.hpp>
#include <sturdy/job.hpp>
#include <sturdy/key.hpp>
#include <sturdy/policy/commit.hpp>
#include <sturdy/view/chunked.hpp>
#include <sturdy/view/guarded.hpp>
#include <sturdy/view/idempotent_by.hpp>

#include <functional>
#include <ranges>
#include <tuple>
#include <type_traits>

namespace sturdy::detail {

/// Stands in for a store when the pipeline has none: nothing to begin, commit or undo (the
/// least a store does, policy/commit.hpp).
using no_transaction = archetype_transaction;

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
template <class S> struct ledger_of {
    using type = void;
};
template <class L, class K> struct ledger_of<ledger_slot<L, K>> {
    using type = L;
};

template <class Job> struct pipeline_traits {
    using source_type = std::remove_reference_t<decltype(std::declval<Job&>().source)>;
    using value_type = std::ranges::range_value_t<source_type>;
    using slots = std::remove_cvref_t<decltype(std::declval<Job&>().slots)>;
    template <std::size_t I> using slot_t = std::tuple_element_t<I, slots>;
    template <std::size_t I> static constexpr bool has = !is_unset<slot_t<I>>;

    static constexpr bool has_ledger = has<ledger_slot_i>;
    static constexpr bool has_chunk = has<chunk_slot_i>;
    static constexpr bool has_retry = has<retry_slot_i>;
    static constexpr bool has_clock = has<clock_slot_i>;

    using hooks_type = slot_t<hooks_slot_i>;
    using events = hook_events<hooks_type, value_type>;

    using chunk_tx = typename slot_tx<slot_t<chunk_slot_i>>::type;
    using effect_tx = typename slot_tx<slot_t<effect_slot_i>>::type;
    using tx_type = std::conditional_t<!std::is_void_v<chunk_tx>, chunk_tx,
                                       std::conditional_t<!std::is_void_v<effect_tx>, effect_tx, no_transaction>>;
    using policy = typename slot_policy<slot_t<chunk_slot_i>>::type;
    using chunk_scope = decltype(policy::open_chunk(std::declval<tx_type&>()));
    using ledger_type = typename ledger_of<slot_t<ledger_slot_i>>::type;

    static constexpr bool has_store = !std::is_same_v<tx_type, no_transaction>;
    /// Each chunk's items are claimed inside its transaction (concepts.hpp).
    static constexpr bool claims_input = claiming_input<source_type>;
    /// The input can be read again from a saved iterator; otherwise values are kept.
    static constexpr bool rereadable = std::ranges::forward_range<source_type>;
    static constexpr bool keeps_failures = [] {
        if constexpr (has_ledger) {
            return failure_ledger<ledger_type>;
        } else {
            return false;
        }
    }();
    /// The ledger claims a key before the effect (the rollback of the item's scope takes the
    /// claim back), instead of contains before and mark after.
    static constexpr bool claims = [] {
        if constexpr (has_ledger && has_store) {
            return claiming_ledger<ledger_type>;
        } else {
            return false;
        }
    }();
    /// The ledger claims a whole batch in one store round trip (PostgreSQL's): the fast chunk's
    /// keys at once, and on the careful path each segment's.
    static constexpr bool claims_batches = [] {
        if constexpr (claims) {
            return batch_claiming_ledger<ledger_type>;
        } else {
            return false;
        }
    }();
    /// The ledger is the effect's own rows (concepts.hpp): claims write nothing or only a
    /// marker, so the loop checks that each claimed item's effect left its row, and a unique
    /// violation by another writer skips the item.
    static constexpr bool confirms = [] {
        if constexpr (claims_batches) {
            return confirming_ledger<ledger_type>;
        } else {
            return false;
        }
    }();
    /// An item whose key function threw is a failure the hooks must see in its place (on_item),
    /// or one a `before_commit` last item must stop short of: the careful path handles it.
    static constexpr bool key_failure_to_careful = events::items || events::commit;

    // The hooks' own checks first: they name the fix for the stage the user wrote.
    static_assert(check_hooks_in<pipeline_facts<claims_input, keeps_failures, false>>(
        static_cast<typename events::tuple*>(nullptr)));
    static_assert(has<effect_slot_i>, "sturdy::drain: the pipeline has no effect to run; add | sturdy::guarded(fn)");
    static_assert(std::is_void_v<chunk_tx> || std::is_void_v<effect_tx> || std::is_same_v<chunk_tx, effect_tx>,
                  "sturdy: chunked(tx, n) and guarded(tx, fn) were given different stores; give the store once");
    static_assert(!claims_input || !rereadable,
                  "sturdy: a claiming input must be single-pass (an input range): its items are claimed once per "
                  "chunk and cannot be read again from a saved position");
};

} // namespace sturdy::detail
