#pragma once
/// Raising a run's events (sturdy/hook.hpp) on a pipeline's hooks, in the order they were
/// written: `emit` for the events that only inform, `ask` for the two that may stop the run
/// (`before_chunk`, `on_item`), with the verdict rule stated once. Shared by `drain`'s engine
/// and the loop form (detail/cursor.hpp).

#include <sturdy/detail/hook_protocol.hpp>
#include <sturdy/detail/slots.hpp>

#include <tuple>
#include <type_traits>
#include <utility>

namespace sturdy::detail {

/// The hooks of a job's slot: a `hook_list` or `unset`.
template <class Slot> struct hooks_of {
    using type = std::tuple<>;
};
template <class... Held> struct hooks_of<hook_list<Held...>> {
    using type = std::tuple<std::remove_reference_t<Held>...>;
};

/// True when any hook of the tuple passes `Handles`.
template <class Tuple, template <class> class Handles> struct any_hook_in;
template <class... H, template <class> class Handles> struct any_hook_in<std::tuple<H...>, Handles> {
    static constexpr bool value = (Handles<H>::value || ...);
};

template <class H> struct sees_run_start : std::bool_constant<handles_run_start<H>> {
};
template <class H> struct sees_chunk_start : std::bool_constant<handles_before_chunk<H>> {
};
template <class H> struct sees_items : std::bool_constant<handles_item<H>> {
};
template <class H> struct sees_successes : std::bool_constant<handles_successes<H>> {
};
template <class H> struct sees_chunk_end : std::bool_constant<handles_after_chunk<H>> {
};
template <class H> struct sees_failures : std::bool_constant<handles_failure<H>> {
};
template <class H> struct sees_run_end : std::bool_constant<handles_run_end<H>> {
};
/// A hook whose `on_item` answers with a verdict: it may stop the run and give failures back.
template <class H> struct stops_on_items : std::false_type {
};
template <class H>
requires handles_item<H>
struct stops_on_items<H>
    : std::bool_constant<
          std::is_same_v<decltype(std::declval<H&>().on_item(std::declval<const item_settled&>())), verdict>> {};

/// Calls `f(h)` on each hook of `hooks` (a `hook_list` or `unset`), in the order written.
template <class Hooks, class F> void each_hook(Hooks& hooks, F&& f)
{
    if constexpr (!std::is_same_v<Hooks, unset>) {
        std::apply([&](auto&... h) { (f(h), ...); }, hooks.hooks);
    } else {
        (void)hooks;
        (void)f;
    }
}

/// The verdict rule: each hook that handles the event is asked in turn; the first verdict that
/// stops wins, and the hooks after it are not told of the event. `Handles<H>` says whether `H`
/// handles it and `call(h)` asks one (returning void or a verdict). Returns the winning
/// verdict, or go_on.
template <template <class> class Handles, class Hooks, class Call> verdict ask(Hooks& hooks, Call&& call)
{
    verdict answer;
    each_hook(hooks, [&](auto& h) {
        using H = std::remove_reference_t<decltype(h)>;
        if constexpr (Handles<H>::value) {
            if (answer.stops()) {
                return;
            }
            if constexpr (std::is_void_v<decltype(call(h))>) {
                call(h);
            } else {
                answer = call(h);
            }
        }
    });
    return answer;
}

/// Tells each hook that handles the event (`Handles<H>`) by `call(h)`.
template <template <class> class Handles, class Hooks, class Call> void emit(Hooks& hooks, Call&& call)
{
    each_hook(hooks, [&](auto& h) {
        if constexpr (Handles<std::remove_reference_t<decltype(h)>>::value) {
            call(h);
        }
    });
}

/// The events of one pipeline, typed by its items, and which of them any hook handles where
/// the engine would otherwise compute the event (`emit` skips the others by itself).
template <class Hooks, class T> struct hook_events {
    using tuple = typename hooks_of<Hooks>::type;
    template <class H> struct sees_commit : std::bool_constant<handles_before_commit<H, T>> {
    };
    static constexpr bool run_start = any_hook_in<tuple, sees_run_start>::value;
    static constexpr bool chunk_start = any_hook_in<tuple, sees_chunk_start>::value;
    static constexpr bool items = any_hook_in<tuple, sees_items>::value;
    static constexpr bool give_back = any_hook_in<tuple, stops_on_items>::value;
    static constexpr bool commit = any_hook_in<tuple, sees_commit>::value;
    static constexpr bool chunk_end = any_hook_in<tuple, sees_chunk_end>::value;

    Hooks& hooks;

    void run_started_(const run_started& e)
    {
        emit<sees_run_start>(hooks, [&](auto& h) { h.on_run_start(e); });
    }
    verdict chunk_starting_(const chunk_starting& e)
    {
        return ask<sees_chunk_start>(hooks, [&](auto& h) { return h.before_chunk(e); });
    }
    verdict item_settled_(const item_settled& e)
    {
        return ask<sees_items>(hooks, [&](auto& h) { return h.on_item(e); });
    }
    void successes_(const sturdy::successes& e)
    {
        emit<sees_successes>(hooks, [&](auto& h) { h.on_successes(e); });
    }
    void chunk_committing_(const chunk_committing<T>& e)
    {
        emit<sees_commit>(hooks, [&](auto& h) { h.before_commit(e); });
    }
    void chunk_ended_(const chunk_ended& e)
    {
        emit<sees_chunk_end>(hooks, [&](auto& h) { h.after_chunk(e); });
    }
    void failure_(const failure_record& e)
    {
        emit<sees_failures>(hooks, [&](auto& h) { h.on_failure(e); });
    }
    void run_ended_(const report& e)
    {
        emit<sees_run_end>(hooks, [&](auto& h) { h.on_run_end(e); });
    }
};

/// What a hook may check about the pipeline it is in (`H::check_pipeline<pipeline_facts<...>>()`,
/// a static member function template returning true, whose static_asserts name the fix).
template <bool ClaimsInput, bool KeepsFailures, bool LoopForm> struct pipeline_facts {
    static constexpr bool claims_input = ClaimsInput;     ///< a claiming input (concepts.hpp)
    static constexpr bool keeps_failures = KeepsFailures; ///< a ledger with failure records
    static constexpr bool loop_form = LoopForm;           ///< iterated in a for loop, not drained
};

/// Runs each hook's `check_pipeline<Facts>()`, where it has one.
template <class Facts, class Tuple> constexpr bool check_hooks_in(Tuple* /*unused*/)
{
    return []<class... H>(std::tuple<H...>*) {
        return ([] {
            if constexpr (requires { H::template check_pipeline<Facts>(); }) {
                return H::template check_pipeline<Facts>();
            } else {
                return true;
            }
        }() && ...);
    }(static_cast<Tuple*>(nullptr));
}

} // namespace sturdy::detail
