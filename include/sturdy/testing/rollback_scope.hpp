#pragma once
/// sturdy/testing/rollback_scope.hpp — a test's transaction, rolled back at the end of its scope,
/// so a `no_commit` job can run against a real database and leave it exactly as it was:
///
///     sturdy::sqlite::database db("test.db");
///     {
///         sturdy::testing::rollback_scope scope(db);   // BEGIN
///         auto r = my_job<sturdy::no_commit>(db);      // each chunk a released savepoint
///         CHECK(r.done == 3);                          // and the rows are visible here
///     }                                                // ROLLBACK: the file is as before
///
/// Works with any store modelling `sturdy::transaction` and any test framework (a Catch2
/// fixture: docs/testing.md). A failed assertion that throws unwinds through it and rolls back too.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>

namespace sturdy::testing {

template <transaction Tx> class rollback_scope {
public:
    /// Begins the transaction; refuses if one is already open (its rollback would undo someone
    /// else's work, and its commit would not be ours to prevent).
    explicit rollback_scope(Tx& tx) : tx_(&tx)
    {
        if (tx.in_transaction()) {
            throw usage_error("sturdy::testing::rollback_scope: a transaction is already open on this store; "
                              "commit or roll it back before the scope begins");
        }
        tx.begin();
    }
    rollback_scope(const rollback_scope&) = delete;
    rollback_scope& operator=(const rollback_scope&) = delete;
    ~rollback_scope()
    {
        if (tx_->in_transaction()) {
            try {
                tx_->rollback();
            } catch (...) { // NOLINT(bugprone-empty-catch): a destructor cannot report
            }
        }
    }

    [[nodiscard]] Tx& store() noexcept { return *tx_; }

private:
    Tx* tx_;
};

} // namespace sturdy::testing
