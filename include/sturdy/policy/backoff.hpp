#pragma once
/// sturdy/policy/backoff.hpp — how long to wait before the next attempt.
///
///     sturdy::backoff::exponential(10ms)              // 10ms, 20ms, 40ms ... capped at 30s, each up to 50% less
///     sturdy::backoff::exponential(10ms, 1s, 0.2)     // cap 1s, jitter 20%
///     sturdy::backoff::none()                          // retry at once
///
/// Delays go through the job's injected clock, so tests never sleep.

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>
#include <sturdy/error.hpp>

#include <algorithm>
#include <chrono>

namespace sturdy::backoff {

/// Capped exponential backoff with "equal jitter": the delay before attempt k+1 is
/// d = min(cap, base * 2^(k-1)), then scaled into [d * (1 - jitter), d].
struct exponential_backoff {
    duration base;
    duration cap;
    double jitter;

    /// `attempt` is the number of attempts already made (>= 1); `unit` is uniform in [0, 1).
    [[nodiscard]] duration delay(int attempt, double unit) const
    {
        const int doublings = std::clamp(attempt - 1, 0, 62);
        const auto grown = base.count() > (cap.count() >> doublings) ? cap.count() : base.count() << doublings;
        const auto full = static_cast<double>(std::min(grown, cap.count()));
        return duration(static_cast<duration::rep>(full * (1.0 - jitter * unit)));
    }
};

/// Validating factory; see `exponential_backoff`.
STURDY_DECL exponential_backoff exponential(duration base, duration cap = std::chrono::seconds(30),
                                            double jitter = 0.5);

/// No wait between attempts.
struct no_backoff {
    [[nodiscard]] duration delay(int /*attempt*/, double /*unit*/) const { return duration::zero(); }
};
inline no_backoff none() { return {}; }

} // namespace sturdy::backoff

namespace sturdy {
/// A backoff: the delay before the next attempt, given the attempts made and a uniform draw.
template <class B>
concept backoff_policy = requires(const B& b, int attempt, double unit)
{
    {
        b.delay(attempt, unit)
        } -> std::convertible_to<duration>;
};
} // namespace sturdy

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/policy/impl/backoff.ipp>
#endif
