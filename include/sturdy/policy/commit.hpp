#pragma once
/// sturdy/policy/commit.hpp — what happens at a chunk boundary.
///
/// `sturdy::commit` (the default) commits each chunk in its own transaction.
/// `sturdy::no_commit` runs each chunk in a savepoint of the caller's transaction and only
/// releases it, so a test can roll back everything the loop wrote:
///
///     db.begin();
///     run_job<sturdy::no_commit>(db);
///     db.rollback();   // the store is exactly as before
///
/// A policy is a stateless type; pick it with a template argument, never a macro.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>

#include <concepts>
#include <optional>
#include <type_traits>
#include <utility>

namespace sturdy {

namespace detail {
/// The least a store does (sturdy::transaction), and nothing else: a policy is checked against
/// it, so a policy that works with it works with every store.
struct archetype_transaction {
    struct savepoint_type {
        savepoint_type() = default;
        savepoint_type(savepoint_type&&) noexcept = default;
        savepoint_type& operator=(savepoint_type&&) = delete;
        void release() {}
        void rollback() {}
    };
    void begin() {}
    void commit() {}
    void rollback() {}
    [[nodiscard]] bool in_transaction() const { return false; }
    [[nodiscard]] savepoint_type savepoint() { return {}; }
};
} // namespace detail

/// A commit policy: an empty, default-constructible type with what the loop calls on it, for
/// any store `tx` (a sturdy::transaction):
/// - `P::check_start(tx)`, once before the first chunk (may begin a transaction, or throw a
///   usage_error when the store is in a state the policy cannot work from);
/// - `P::open_chunk(tx)`, at each chunk, returning a movable scope whose `commit()` ends the
///   chunk for good and whose destructor abandons it (rolls back what `commit()` did not end).
template <class P>
concept commit_policy = std::is_empty_v<P> && std::default_initializable<P> &&
    requires(detail::archetype_transaction& tx)
{
    P::check_start(tx);
    {
        P::open_chunk(tx)
        } -> std::move_constructible;
    P::open_chunk(tx).commit();
};

/// Commit each chunk: begin, run the chunk, commit. Refuses to start inside a transaction
/// the caller opened, because committing would commit the caller's work too.
struct commit {
    template <transaction Tx> class scope {
    public:
        explicit scope(Tx& tx) : tx_(&tx) { tx.begin(); }
        scope(scope&& other) noexcept : tx_(std::exchange(other.tx_, nullptr)) {}
        scope& operator=(scope&&) = delete;
        ~scope()
        {
            if (tx_ != nullptr && tx_->in_transaction()) {
                try {
                    tx_->rollback();
                } catch (...) { // NOLINT(bugprone-empty-catch): a destructor cannot report
                }
            }
        }
        void commit()
        {
            tx_->commit(); // if this throws, the destructor rolls the chunk back
            tx_ = nullptr;
        }

    private:
        Tx* tx_;
    };

    /// Checked once before the first chunk.
    template <transaction Tx> static void check_start(Tx& tx)
    {
        if (tx.in_transaction()) {
            throw usage_error("chunked: a transaction is already open on this store, and the commit policy "
                              "would commit it with the first chunk. Commit or roll it back before the loop, "
                              "or run the loop with sturdy::no_commit inside it.");
        }
    }
    template <transaction Tx> static scope<Tx> open_chunk(Tx& tx) { return scope<Tx>(tx); }
};

/// Never commit: each chunk is a savepoint released into the caller's transaction (opened if
/// none is), so the caller decides: a test rolls back, a dry run rolls back, a wrapper commits.
struct no_commit {
    template <transaction Tx> class scope {
    public:
        explicit scope(Tx& tx) : savepoint_(tx.savepoint()) {}
        void commit() { savepoint_.release(); }

    private:
        decltype(std::declval<Tx&>().savepoint()) savepoint_;
    };

    template <transaction Tx> static void check_start(Tx& tx)
    {
        if (!tx.in_transaction()) {
            tx.begin(); // left open on purpose: the caller rolls it back
        }
    }
    template <transaction Tx> static scope<Tx> open_chunk(Tx& tx) { return scope<Tx>(tx); }
};

static_assert(commit_policy<commit>);
static_assert(commit_policy<no_commit>);

} // namespace sturdy
