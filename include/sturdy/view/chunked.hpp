#pragma once
/// sturdy/view/chunked.hpp — one transaction per chunk of n items.
///
///     input | sturdy::chunked(db, 200)                      // commit every 200 items
///     input | sturdy::chunked<sturdy::no_commit>(db, 200)   // release savepoints; caller rolls back
///
/// In:  items of any type T.  Out: the same items, processed in chunks of `size`.
/// Guarantee: each chunk's effects and ledger marks commit together; a crash loses at most the
/// chunk in flight, which the next run redoes (safely, with `idempotent_by`). Under `no_commit`
/// nothing is committed: each chunk is a savepoint released into the caller's transaction.
/// Preconditions: size >= 1 (a usage_error otherwise); with `commit`, no transaction is open on
/// `tx` when the loop starts. Without a store (`chunked(n)`) it only sets the chunk size, and
/// `guarded(tx, fn)` supplies the store.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/job.hpp>
#include <sturdy/policy/commit.hpp>

#include <concepts>
#include <cstddef>
#include <string>

namespace sturdy {
namespace detail {
template <class Tx, class Policy> struct chunk_slot {
    Tx* tx; ///< null when the store comes from guarded(tx, fn)
    std::size_t size;
};

inline std::size_t checked_chunk_size(std::integral auto n)
{
    if (n < 1) {
        throw usage_error("chunked: the chunk size must be at least 1 (got " + std::to_string(n) +
                          "); pick the number of items to commit together, e.g. chunked(db, 200)");
    }
    return static_cast<std::size_t>(n);
}
} // namespace detail

/// One transaction per `size` items on `tx`. See the header comment.
template <class Policy = commit, class Tx> auto chunked(Tx& tx, std::integral auto size)
{
    static_assert(commit_policy<Policy>, "chunked: the template argument must be a commit policy "
                                         "(sturdy::commit or sturdy::no_commit, or a type with static "
                                         "check_start(tx) and open_chunk(tx) returning a scope with "
                                         "commit(): see sturdy/policy/commit.hpp)");
    static_assert(transaction<Tx>, "chunked: the store must model sturdy::transaction "
                                   "(begin, commit, rollback, in_transaction, savepoint)");
    return detail::stage<detail::chunk_slot_i, detail::chunk_slot<Tx, Policy>>{{&tx, detail::checked_chunk_size(size)}};
}

/// Chunks of `size` items; the store comes from `guarded(tx, fn)`.
template <class Policy = commit> auto chunked(std::integral auto size)
{
    static_assert(commit_policy<Policy>, "chunked: the template argument must be a commit policy "
                                         "(sturdy::commit or sturdy::no_commit, or a type with static "
                                         "check_start(tx) and open_chunk(tx) returning a scope with "
                                         "commit(): see sturdy/policy/commit.hpp)");
    return detail::stage<detail::chunk_slot_i, detail::chunk_slot<void, Policy>>{
        {nullptr, detail::checked_chunk_size(size)}};
}

} // namespace sturdy
