#pragma once
/// sturdy/detail/slots.hpp — the slots of a `sturdy::job`: the transactional core the engine
/// understands, one slot per adaptor, in a fixed order, and the hooks (hook.hpp), in the order
/// written. Shared by job.hpp (which fills them) and the engines that read them (drain, the
/// loop form). The run-level stages (logged_every, failure_budget, time_budget, watermark) are
/// hooks: adding one touches its own header, not this file.

#include <cstddef>
#include <tuple>
#include <type_traits>

namespace sturdy {

/// An empty slot.
struct unset {};

namespace detail {
enum slot : std::size_t {
    ledger_slot_i, ///< idempotent_by: the key and the ledger
    chunk_slot_i,  ///< chunked: the chunk, its transaction and commit policy
    effect_slot_i, ///< guarded: the effect and its isolation
    retry_slot_i,  ///< retry_bounded
    clock_slot_i,  ///< with_clock
    hooks_slot_i,  ///< the hooks (hook.hpp), any number, in the order written
    slot_count
};
using empty_slots = std::tuple<unset, unset, unset, unset, unset, unset>;

template <class T> inline constexpr bool is_unset = std::is_same_v<std::remove_cvref_t<T>, unset>;
} // namespace detail

} // namespace sturdy
