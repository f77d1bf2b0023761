#pragma once
/// sturdy/job.hpp — the object a pipeline builds. `input | idempotent_by(...) | chunked(...)
/// | guarded(...) | retry_bounded(...) | logged_every(...)` is a `sturdy::job`: the input plus
/// one slot per adaptor. `| sturdy::drain` runs it (docs/architecture.md gives the order in
/// which the slots act on each item). Each adaptor fills its own slot, so giving one twice is a
/// compile error, and the order in which they are written does not change what runs. The
/// exception is `| sturdy::hook(h)` (hook.hpp): any number, kept in the order written, which
/// is the order in which they see each event.

#include <sturdy/concepts.hpp>
#include <sturdy/detail/slots.hpp>
#include <sturdy/policy/commit.hpp>

#include <cstddef>
#include <iterator>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>

namespace sturdy {

namespace detail {
template <class Job> class cursor;
}

/// The input range (held by reference if it was an lvalue, by value otherwise) and the slots.
/// A job with an effect (`guarded`) is run by `| sturdy::drain`. A job without one is a range:
/// iterate it and the loop body is the effect (see detail/cursor.hpp).
template <class Source, class Slots = detail::empty_slots> struct job {
    Source source;
    Slots slots;

    template <std::size_t I> [[nodiscard]] auto& slot() noexcept { return std::get<I>(slots); }
    template <std::size_t I> static constexpr bool has = !detail::is_unset<std::tuple_element_t<I, Slots>>;

    /// The loop form: only for pipelines without `guarded`, whose effect is the loop body, and
    /// without `retry_bounded` (nothing could be retried): that needs `| sturdy::drain`. Hooks
    /// (the run-level stages among them) get the events a loop raises (detail/cursor.hpp).
    template <class Self = job> detail::cursor<Self> begin()
    {
        static_assert(!Self::template has<detail::effect_slot_i>,
                      "sturdy: a pipeline with guarded(fn) is run with | sturdy::drain, not iterated");
        // The one stage the loop form does not honour: refused rather than ignored.
        static_assert(!Self::template has<detail::retry_slot_i>,
                      "sturdy: retry_bounded is not supported in a for loop (nothing would be retried); put the "
                      "loop body in | sturdy::guarded(fn) and run the pipeline with | sturdy::drain, or retry the "
                      "body alone with retry_bounded(n, backoff).run(work)");
        return detail::cursor<Self>(*this);
    }
    std::default_sentinel_t end() { return {}; }
};

namespace detail {
template <class T> struct is_job_impl : std::false_type {
};
template <class S, class Slots> struct is_job_impl<job<S, Slots>> : std::true_type {
};
template <class T> inline constexpr bool is_job = is_job_impl<std::remove_cvref_t<T>>::value;

/// A copy of `j` with slot `I` set to `value`, whatever it held.
template <std::size_t I, class Job, class Value> auto replace(Job&& j, Value value)
{
    return [&]<std::size_t... Is>(std::index_sequence<Is...>)
    {
        using new_slots =
            std::tuple<std::conditional_t<Is == I, Value, std::tuple_element_t<Is, decltype(j.slots)>>...>;
        auto pick = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) -> decltype(auto) {
            if constexpr (K == I) {
                return std::move(value);
            } else {
                return std::move(std::get<K>(j.slots));
            }
        };
        return job<decltype(j.source), new_slots>{std::forward<Job>(j).source,
                                                  new_slots{pick(std::integral_constant<std::size_t, Is>{})...}};
    }
    (std::make_index_sequence<slot_count>{});
}

/// A copy of `j` with slot `I` filled by `value`.
template <std::size_t I, class Job, class Value> auto fill(Job&& j, Value value)
{
    using J = std::remove_cvref_t<Job>;
    static_assert(!J::template has<I>,
                  "sturdy: this adaptor is already in the pipeline; each adaptor may be given once");
    return replace<I>(std::forward<Job>(j), std::move(value));
}

/// A pipeable stage: the value for slot `I`. It derives from the slot so a slot's own
/// members (e.g. `retry_bounded(...).run(work)`) stay reachable.
template <std::size_t I, class Slot> struct stage : Slot {
    static constexpr std::size_t index = I;
};

template <class Input> auto as_job(Input&& input)
{
    if constexpr (is_job<Input>) {
        return std::forward<Input>(input);
    } else {
        static_assert(std::ranges::input_range<Input>,
                      "sturdy: the left side of | must be an input range (a container, a std::ranges or "
                      "range-v3 view, a generator ...) or a sturdy pipeline");
        using held = std::conditional_t<std::is_lvalue_reference_v<Input>, Input, std::remove_cvref_t<Input>>;
        return job<held>{std::forward<Input>(input), {}};
    }
}
} // namespace detail

namespace detail {
/// `input | stage`: works for std::ranges views (temporaries included), range-v3 views,
/// containers, and pipelines already under construction. Found by ADL through `stage`.
template <class Input, std::size_t I, class Slot> auto operator|(Input&& input, stage<I, Slot> s)
{
    return fill<I>(as_job(std::forward<Input>(input)), static_cast<Slot&&>(s));
}
} // namespace detail

} // namespace sturdy

#include <sturdy/detail/cursor.hpp>
