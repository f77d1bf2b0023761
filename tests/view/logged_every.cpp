#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("progress lines every n items with done/total, rate and ETA from the injected clock")
{
    sturdy::memory::database db;
    sturdy::manual_clock clock;
    test::captured_log log;
    std::vector<int> input(100);
    auto r = input | sturdy::chunked(db, 10) | sturdy::guarded([&](int) { clock.advance(10ms); }) |
             sturdy::logged_every(25, log.sink()) | sturdy::with_clock(clock) | sturdy::drain;
    CHECK(r.done == 100);
    // Progress is emitted at the first chunk boundary after each multiple of 25: at 30, 50, 80, 100.
    REQUIRE(log.count_starting("progress ") == 4);
    CHECK(log.lines[0] == "progress 30/100 (30.0%): done 30, skipped 0, failed 0, retried 0 | 100 items/s, ETA 700ms");
    CHECK(log.lines.back().starts_with(
        "finished: seen 100, done 100, skipped 0 (already done), failed 0, retried 0, in 1.0s"));
}

TEST_CASE("progress by clock time")
{
    sturdy::memory::database db;
    sturdy::manual_clock clock;
    test::captured_log log;
    std::vector<int> input(50);
    input | sturdy::chunked(db, 5) | sturdy::guarded([&](int) { clock.advance(1s); }) |
        sturdy::logged_every(std::chrono::seconds(20), log.sink()) | sturdy::with_clock(clock) | sturdy::drain;
    CHECK(log.count_starting("progress ") == 2); // at 20s and 40s
}

TEST_CASE("each failure is logged with key and reason; repeated reasons are folded")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    test::captured_log log;
    std::vector<int> input(130);
    for (int i = 0; i < 130; ++i) {
        input[static_cast<std::size_t>(i)] = i;
    }
    auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 50) |
             sturdy::guarded([&](int v) {
                 if (v % 10 == 0) {
                     throw std::runtime_error("partner has no address");
                 }
                 if (v == 7) {
                     throw std::runtime_error("amount overflow");
                 }
             }) |
             sturdy::logged_every(1000, log.sink()) | sturdy::drain;
    CHECK(r.failed == 14);
    CHECK(log.count_starting("failed 0: partner has no address") == 1);
    CHECK(log.count_starting("failed 10: partner has no address") == 1);
    CHECK(log.count_starting("failed 20: partner has no address") == 1);
    CHECK(log.count_starting("failed 30:") == 0);
    CHECK(log.count_starting("failed 7: amount overflow") == 1);
    CHECK(log.count_starting("... and 10 more like this: partner has no address") == 1);
    CHECK(log.count_starting("finished: ") == 1);
}

TEST_CASE("logged_every rejects a zero interval")
{
    CHECK_THROWS_WITH(sturdy::logged_every(0), Catch::Contains("logged_every: log every n items with n >= 1 (got 0)"));
    CHECK_THROWS_WITH(sturdy::logged_every(0s), Catch::Contains("the interval must be positive"));
}
