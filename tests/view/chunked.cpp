#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace std::chrono_literals;

TEST_CASE("chunked commits once per chunk of n items")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    std::vector<int> input(23);
    for (int i = 0; i < 23; ++i) {
        input[static_cast<std::size_t>(i)] = i;
    }
    std::vector<std::size_t> commits_seen_by_item;
    auto r = input | sturdy::chunked(db, 5) | sturdy::guarded([&](int v) {
                 commits_seen_by_item.push_back(db.commits());
                 out.put(v, "x");
             }) |
             sturdy::drain;
    CHECK(r.chunks == 5);
    CHECK(db.commits() == 5);
    CHECK(out.size() == 23);
    // Items 0..4 run before the first commit, 5..9 after it, and so on.
    CHECK(commits_seen_by_item[4] == 0);
    CHECK(commits_seen_by_item[5] == 1);
    CHECK(commits_seen_by_item[22] == 4);
    CHECK_FALSE(db.in_transaction());
}

TEST_CASE("a chunk that cannot commit loses only itself, and the next run redoes it")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    auto ledger = db.ledger("job");
    std::vector<int> input{1, 2, 3, 4, 5, 6};
    auto run = [&] {
        return input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
               sturdy::guarded([&](int v) { out.put(v, "x"); }) | sturdy::drain;
    };
    db.fail_next_commits(1); // the first chunk's commit fails (a lost connection, say); no retry configured
    const auto first = run();
    CHECK(first.done == 4);
    CHECK(first.failed == 2);
    CHECK(first.awaiting_retry == 2);
    REQUIRE(first.failures.size() == 2);
    CHECK(first.failures[0].reason == "its chunk could not commit: memory::database: commit failed (injected)");
    CHECK_FALSE(out.contains(1));
    CHECK_FALSE(out.contains(2));
    CHECK(out.contains(3));

    const auto second = run();
    CHECK(second.done == 2);
    CHECK(second.skipped == 4);
    CHECK(out.size() == 6);
    CHECK(ledger.size() == 6);
}

TEST_CASE("a transient commit failure is retried when retry_bounded is given")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    sturdy::manual_clock clock;
    db.fail_next_commits(2);
    auto r = std::vector<int>{1, 2, 3} | sturdy::chunked(db, 3) | sturdy::guarded([&](int v) { out.put(v, "x"); }) |
             sturdy::retry_bounded(3, sturdy::backoff::exponential(100ms, 1s, 0.0)) | sturdy::with_clock(clock) |
             sturdy::drain;
    CHECK(r.done == 3);
    CHECK(r.failed == 0);
    CHECK(r.retried == 2);
    CHECK(out.size() == 3);
    CHECK(clock.sleeps == std::vector<sturdy::duration>{100ms, 200ms});
}

TEST_CASE("chunked rejects a chunk size below 1, naming the argument")
{
    sturdy::memory::database db;
    CHECK_THROWS_WITH(sturdy::chunked(db, 0), Catch::Contains("chunked: the chunk size must be at least 1 (got 0)"));
    CHECK_THROWS_WITH(sturdy::chunked(-3), Catch::Contains("(got -3)"));
}

TEST_CASE("chunked with the commit policy refuses to commit a transaction the caller opened")
{
    sturdy::memory::database db;
    db.begin();
    db.table("mine").put(1, "caller's uncommitted work");
    auto run = [&] {
        return std::vector<int>{1} | sturdy::chunked(db, 1) | sturdy::guarded([](int) {}) | sturdy::drain;
    };
    CHECK_THROWS_WITH(run(), Catch::Contains("a transaction is already open"));
    CHECK(db.in_transaction());
    db.rollback();
    CHECK(db.snapshot().empty());
}

TEST_CASE("without a store, chunked(n) takes its store from guarded(tx, fn)")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    auto r = std::vector<int>{1, 2, 3, 4} | sturdy::chunked(2) | sturdy::guarded(db, [&](int v) { out.put(v, "x"); }) |
             sturdy::drain;
    CHECK(r.chunks == 2);
    CHECK(db.commits() == 2);
}
