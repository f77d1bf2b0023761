#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace std::chrono_literals;

TEST_CASE("a time budget stops at a chunk boundary before the deadline; the next run finishes")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    sturdy::manual_clock clock;
    std::vector<int> input(100);
    for (int i = 0; i < 100; ++i) {
        input[static_cast<std::size_t>(i)] = i;
    }
    auto run = [&] {
        return input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
               sturdy::guarded([&](int v) {
                   clock.advance(1s);
                   out.put(v, "x");
               }) |
               sturdy::time_budget(35s) | sturdy::with_clock(clock) | sturdy::drain;
    };
    const auto first = run();
    // Chunks take 10s: after 3 chunks (30s) a fourth would end at 40s > 35s, so it stops.
    CHECK(first.done == 30);
    CHECK(first.remaining == 70);
    CHECK(first.chunks == 3);
    CHECK(first.stopped_early == "time budget of 35.0s reached");
    CHECK(first.run_again_soon());
    CHECK(out.size() == 30);
    CHECK_FALSE(db.in_transaction());

    const auto second = run();
    CHECK(second.done == 30);
    CHECK(second.skipped == 30);
    run();
    const auto last = run();
    CHECK(last.done == 10);
    CHECK(last.remaining == 0);
    CHECK_FALSE(last.run_again_soon());
    CHECK(out.size() == 100);
}

TEST_CASE("time_budget rejects a budget that is not positive")
{
    CHECK_THROWS_WITH(sturdy::time_budget(0s), Catch::Contains("time_budget: the budget must be positive"));
}
