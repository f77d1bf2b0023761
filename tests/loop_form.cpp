// Each adaptor alone, in the loop form: a pipeline without `guarded` is a range whose loop body
// is the effect.
#include "support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <ranges>
#include <stdexcept>
#include <vector>

TEST_CASE("chunked alone: the loop body's writes commit every n items")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    std::vector<std::size_t> commits_seen;
    for (int v : std::views::iota(0, 7) | sturdy::chunked(db, 3)) {
        commits_seen.push_back(db.commits());
        out.put(v, "x");
    }
    CHECK(commits_seen == std::vector<std::size_t>{0, 0, 0, 1, 1, 1, 2});
    CHECK(db.commits() == 3);
    CHECK(out.size() == 7);
    CHECK_FALSE(db.in_transaction());
}

TEST_CASE("leaving the loop early rolls back the chunk in flight and keeps finished chunks")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    SECTION("break")
    {
        for (int v : std::views::iota(0, 10) | sturdy::chunked(db, 3)) {
            out.put(v, "x");
            if (v == 4) {
                break;
            }
        }
    }
    SECTION("exception")
    {
        auto loop = [&] {
            for (int v : std::views::iota(0, 10) | sturdy::chunked(db, 3)) {
                out.put(v, "x");
                if (v == 4) {
                    throw std::runtime_error("crash");
                }
            }
        };
        CHECK_THROWS(loop());
    }
    CHECK(out.size() == 3); // 0..2 committed; 3 and 4 rolled back
    CHECK_FALSE(db.in_transaction());
}

TEST_CASE("idempotent_by alone: the loop sees only keys not done, and finishing an item marks it")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    std::vector<int> first;
    for (int v : std::vector<int>{1, 2, 3} | sturdy::idempotent_by(ledger, [](int v) { return v; })) {
        first.push_back(v);
    }
    CHECK(first == std::vector<int>{1, 2, 3});
    std::vector<int> second;
    for (int v : std::vector<int>{1, 2, 3, 4} | sturdy::idempotent_by(ledger, [](int v) { return v; })) {
        second.push_back(v);
    }
    CHECK(second == std::vector<int>{4});
}

TEST_CASE("logged_every alone over any range")
{
    test::captured_log log;
    sturdy::manual_clock clock;
    int sum = 0;
    for (int v : std::views::iota(1, 11) | sturdy::logged_every(5, log.sink()) | sturdy::with_clock(clock)) {
        clock.advance(std::chrono::milliseconds(100));
        sum += v;
    }
    CHECK(sum == 55);
    CHECK(log.count_starting("progress 5/10 (50.0%)") == 1);
    CHECK(log.count_starting("finished: seen 10, done 10") == 1);
}

TEST_CASE("the loop form is an input range; with an effect the pipeline is drained instead")
{
    sturdy::memory::database db;
    using loop = decltype(std::views::iota(0, 3) | sturdy::chunked(db, 2));
    STATIC_REQUIRE(std::ranges::input_range<loop>);
}
