#pragma once
/// sturdy/view/drain.hpp — run a pipeline and return its `sturdy::report`.
///
///     sturdy::report r = input | ... | sturdy::guarded(effect) | sturdy::drain;
///
/// In: a pipeline with an effect (`guarded`). Out: `sturdy::report`.
/// What happens to each item, whatever order the adaptors were written in:
///   1. read from the input; `seen` counts it;
///   2. its key is computed (`idempotent_by`); if the ledger holds it, `skipped`;
///   3. the effect runs (`guarded`) inside the chunk's transaction (`chunked`), then the key is
///      marked in the same savepoint;
///   4. on failure the item's savepoint is rolled back; transient failures are retried
///      (`retry_bounded`), permanent ones and exhausted retries are `failed` and recorded;
///   5. at the end of each chunk: commit (or release, under `no_commit`), then progress
///      (`logged_every`).

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
