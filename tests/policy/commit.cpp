#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {
// One job, written once; the commit policy is its only template parameter.
template <sturdy::commit_policy Commit = sturdy::commit>
sturdy::report invoice_all(sturdy::memory::database& db, const std::vector<int>& subscriptions)
{
    auto ledger = db.ledger("invoice");
    auto& invoices = db.table("invoice");
    return subscriptions | sturdy::idempotent_by(ledger, [](int id) { return std::tuple(id, "2026-11"); }) |
           sturdy::chunked<Commit>(db, 3) | sturdy::guarded([&](int id) { invoices.insert(id, "2026-11"); }) |
           sturdy::drain;
}
} // namespace

TEST_CASE("one job template: with commit the data persists; with no_commit the test's rollback undoes it all")
{
    const std::vector<int> subscriptions{1, 2, 3, 4, 5, 6, 7};

    sturdy::memory::database committed;
    const auto r1 = invoice_all(committed, subscriptions);
    CHECK(r1.done == 7);
    CHECK(committed.commits() == 3);
    CHECK_FALSE(committed.in_transaction());
    CHECK(committed.table("invoice").size() == 7);

    sturdy::memory::database tested;
    tested.table("invoice").put(99, "existing row");
    const auto before = tested.snapshot();
    tested.begin();
    const auto r2 = invoice_all<sturdy::no_commit>(tested, subscriptions);
    CHECK(r2.done == 7);
    CHECK(r2.chunks == 3);
    CHECK(tested.commits() == 0);
    CHECK(tested.in_transaction());             // the caller's transaction is still open
    CHECK(tested.table("invoice").size() == 8); // and sees the loop's writes
    tested.rollback();
    CHECK(tested.snapshot() == before); // exactly as before
}

TEST_CASE("no_commit opens a transaction when the caller has none, and leaves it to the caller")
{
    sturdy::memory::database db;
    invoice_all<sturdy::no_commit>(db, {1, 2});
    CHECK(db.in_transaction());
    db.rollback();
    CHECK(db.snapshot().empty());
}

TEST_CASE("commit policies are stateless types")
{
    STATIC_REQUIRE(sturdy::commit_policy<sturdy::commit>);
    STATIC_REQUIRE(sturdy::commit_policy<sturdy::no_commit>);
    STATIC_REQUIRE_FALSE(sturdy::commit_policy<int>);
    STATIC_REQUIRE_FALSE(sturdy::commit_policy<std::string>);
}
