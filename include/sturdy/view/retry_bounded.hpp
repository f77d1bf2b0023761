#pragma once
/// sturdy/view/retry_bounded.hpp — retry transient failures, a bounded number of times.
///
///     ... | sturdy::guarded(effect) | sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms))
///     ... | sturdy::retry_bounded(5, backoff, sturdy::retry_on<http_timeout>)
///     auto body = sturdy::retry_bounded(3, backoff).run([&] { return fetch(url); });   // alone
///     ... | sturdy::retry_bounded(3, backoff).seeded(42)   // the same jittered delays every run
///
/// In:  items of type T.  Out: T (what `guarded` yields), with transient failures retried.
/// Guarantee: at most `attempts` attempts per item (1 = no retry); each retry runs in a fresh
/// savepoint after a capped, jittered exponential delay taken through the job's clock;
/// permanent failures are never retried. Transient vs permanent: see policy/classify.hpp.
/// A chunk whose BEGIN or COMMIT fails transiently (a busy database) is retried the same way.
/// In a pipeline, run it with `| sturdy::drain`: a pipeline iterated in a for loop refuses
/// `retry_bounded` at compile time (alone, `.run(work)` retries any work).
/// Preconditions: attempts >= 1 (a usage_error otherwise).

#include <sturdy/clock.hpp>
#include <sturdy/concepts.hpp>
#include <sturdy/detail/chunk_book.hpp>
#include <sturdy/error.hpp>
#include <sturdy/job.hpp>
#include <sturdy/policy/backoff.hpp>
#include <sturdy/policy/classify.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace sturdy {
namespace detail {

/// splitmix64: a tiny, seedable generator for jitter.
struct jitter_source {
    std::uint64_t state;
    double next()
    {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
        z ^= z >> 31U;
        return static_cast<double>(z >> 11U) * 0x1.0p-53;
    }
};

/// A jitter seed that differs between processes, threads and calls, so that workers failing
/// together do not retry in step. It mixes the clocks with addresses (randomised per process
/// by ASLR, distinct per thread) and a per-thread count. Jitter needs no more than that, and
/// std::random_device would bring <random>, 0.06 s of compile time in every translation unit.
inline std::uint64_t random_seed()
{
    thread_local std::uint64_t calls = 0;
    const int on_stack = 0;
    std::uint64_t z = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    z ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) << 21U;
    z ^= static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&on_stack)) * 0x9e3779b97f4a7c15ULL;
    z ^= static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&calls)) << 7U;
    z += ++calls * 0xd1b54a32d192ed03ULL;
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL; // splitmix64's finaliser
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

template <class Backoff, class Classifier> struct retry_slot {
    int attempts;
    Backoff backoff;
    Classifier classifier;
    std::uint64_t seed;

    /// Run `work()` alone (no pipeline) with these retries: the attempt rule of a pipeline's
    /// items (detail/chunk_book.hpp's attempt_loop): a transient failure is tried again while
    /// attempts are left, after the backoff's delay on `clk`; a permanent or fatal one is not.
    /// Returns what `work()` returns, or rethrows the last failure.
    template <class Work, class Clock = steady_clock>
    std::invoke_result_t<Work&> run(Work&& work, Clock&& clk = Clock{}) const
    {
        jitter_source jitter{seed};
        auto c = classifier;
        std::exception_ptr last;
        using result = std::invoke_result_t<Work&>;
        using stored = std::conditional_t<std::is_reference_v<result>, std::remove_reference_t<result>*, result>;
        std::optional<std::conditional_t<std::is_void_v<result>, char, stored>> value;
        const bool ok = attempt_loop(
            0, attempts,
            [&](int /*attempt*/) -> std::optional<failure_kind> {
                try {
                    if constexpr (std::is_void_v<result>) {
                        work();
                        value.emplace();
                    } else if constexpr (std::is_reference_v<result>) {
                        value.emplace(&work());
                    } else {
                        value.emplace(work());
                    }
                    return std::nullopt;
                } catch (const crash&) {
                    throw; // a simulated process death: nothing may survive it
                } catch (...) {
                    const attempt_failure f = failure_from_current_exception(nullptr);
                    last = f.exception;
                    return classify(c, f);
                }
            },
            [&](int attempts_made) { clk.sleep_for(backoff.delay(attempts_made, jitter.next())); });
        if (!ok) {
            std::rethrow_exception(last);
        }
        if constexpr (std::is_reference_v<result>) {
            return static_cast<result>(**value);
        } else if constexpr (!std::is_void_v<result>) {
            return std::move(*value);
        }
    }
};

/// What `retry_bounded(...)` returns: a stage of a pipeline, and `.run(work)` alone. `seeded`
/// keeps it both, so `retry_bounded(3).seeded(42)` pipes like `retry_bounded(3)`.
template <class Slot> struct retry_stage : stage<retry_slot_i, Slot> {
    /// The same retry with a fixed jitter seed: the same delays on every run.
    [[nodiscard]] retry_stage seeded(std::uint64_t s) const
    {
        auto copy = *this;
        copy.seed = s;
        return copy;
    }
};

inline int checked_attempts(int attempts)
{
    if (attempts < 1) {
        throw usage_error("retry_bounded: attempts must be at least 1 (got " + std::to_string(attempts) +
                          "); 1 means a single attempt with no retry");
    }
    return attempts;
}
} // namespace detail

struct retry_bounded_fn {
    template <class Backoff = backoff::exponential_backoff, class Classifier = default_classifier> auto
    operator()(int attempts, Backoff b = backoff::exponential(std::chrono::milliseconds(10)), Classifier c = {}) const
    {
        static_assert(backoff_policy<Backoff>, "retry_bounded: the second argument must be a backoff "
                                               "(sturdy::backoff::exponential(...) or backoff::none())");
        static_assert(classifier<Classifier>, "retry_bounded: the third argument must classify failures: a "
                                              "callable taking const sturdy::attempt_failure& and returning "
                                              "std::optional<sturdy::failure_kind> (see retry_on, retry_if)");
        using slot = detail::retry_slot<Backoff, Classifier>;
        return detail::retry_stage<slot>{
            {slot{detail::checked_attempts(attempts), std::move(b), std::move(c), detail::random_seed()}}};
    }
};

/// See the header comment.
inline constexpr retry_bounded_fn retry_bounded{};

} // namespace sturdy
