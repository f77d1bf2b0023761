#pragma once
/// sturdy/detail/slots.hpp — the slots of a `sturdy::job`, one per adaptor, in a fixed order.
/// Shared by job.hpp (which fills them) and the engines that read them (drain, the loop form).

#include <cstddef>
#include <tuple>
#include <type_traits>

namespace sturdy {

/// An empty slot.
struct unset {};

namespace detail {
enum slot : std::size_t {
    ledger_slot_i,
    chunk_slot_i,
    effect_slot_i,
    retry_slot_i,
    log_slot_i,
    clock_slot_i,
    failure_budget_slot_i,
    time_budget_slot_i,
    watermark_slot_i,
    hooks_slot_i, ///< the user's hooks (hook.hpp), any number, in the order written
    slot_count
};
using empty_slots = std::tuple<unset, unset, unset, unset, unset, unset, unset, unset, unset, unset>;

template <class T> inline constexpr bool is_unset = std::is_same_v<std::remove_cvref_t<T>, unset>;
} // namespace detail

} // namespace sturdy
