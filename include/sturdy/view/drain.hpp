#pragma once
/// sturdy/view/drain.hpp — run a pipeline and return its `sturdy::report`.
///
///     sturdy::report r = input | ... | sturdy::guarded(effect) | sturdy::drain;
///
/// In: a pipeline with an effect (`guarded`). Out: `sturdy::report`.
/// Every item takes the same path, whatever order the adaptors were written in: read (`seen`),
/// key (`idempotent_by`), quarantine, claim in the ledger (or `skipped`), effect (`guarded`),
/// in the chunk's transaction (`chunked`); on failure the chunk is re-run with savepoints around
/// the failing item, which is retried (`retry_bounded`) or recorded; at the chunk's end, failure
/// records and watermark, commit (or release, under `no_commit`), progress (`logged_every`).
/// The run-level adaptors and the user's `sturdy::hook`s are called at the run's events
/// (sturdy/hook.hpp).
/// The path in full, with where each guarantee is enforced: docs/architecture.md.

#include <sturdy/detail/engine.hpp>
#include <sturdy/job.hpp>
#include <sturdy/report.hpp>

#include <utility>

namespace sturdy {

struct drain_fn {
    template <class Job> report operator()(Job&& j) const
    {
        static_assert(detail::is_job<Job>, "sturdy::drain: give it a pipeline with an effect, e.g. "
                                           "input | sturdy::guarded(fn) | sturdy::drain");
        auto& lvalue = j;
        return detail::engine<std::remove_reference_t<Job>>(lvalue).run();
    }
};

/// See the header comment.
inline constexpr drain_fn drain{};

template <class Input> report operator|(Input&& input, drain_fn d)
{
    return d(detail::as_job(std::forward<Input>(input)));
}

} // namespace sturdy
