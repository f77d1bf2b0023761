#pragma once
/// sturdy/policy/impl/backoff.ipp — definitions for sturdy/policy/backoff.hpp (see sturdy/config.hpp).

#include <sturdy/policy/backoff.hpp>

#include <string>

namespace sturdy::backoff {

STURDY_DECL exponential_backoff exponential(duration base, duration cap, double jitter)
{
    if (base.count() < 0 || cap < base) {
        throw usage_error("backoff::exponential: base must be >= 0 and cap >= base (got base " +
                          std::to_string(base.count()) + "ns, cap " + std::to_string(cap.count()) + "ns)");
    }
    if (!(jitter >= 0.0 && jitter <= 1.0)) {
        throw usage_error("backoff::exponential: jitter is a fraction of the delay, between 0 and 1 (got " +
                          std::to_string(jitter) + ")");
    }
    return {base, cap, jitter};
}

} // namespace sturdy::backoff
