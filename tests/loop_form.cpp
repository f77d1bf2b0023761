// Each adaptor alone, in the loop form: a pipeline without `guarded` is a range whose loop body
// is the effect.
#include "support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <ranges>
#include <stdexcept>
#include <string>
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

namespace {
/// Keeps the events a loop raises, as lines.
struct loop_recorder {
    std::vector<std::string>* lines;
    void on_run_start(const sturdy::run_started& e)
    {
        lines->push_back("start " + std::to_string(e.total.value_or(0)));
    }
    void before_chunk(const sturdy::chunk_starting& e)
    {
        lines->push_back("chunk after " + std::to_string(e.so_far.seen));
    }
    void on_item(const sturdy::item_settled& e)
    {
        lines->push_back("item " + e.item_key.str() + (e.outcome == sturdy::item_outcome::done ? " done" : " skipped"));
    }
    void before_commit(const sturdy::chunk_committing<int>& c)
    {
        lines->push_back("commit " + std::to_string(c.items) + " items, " + std::to_string(c.done) + " done, last " +
                         (c.last != nullptr ? std::to_string(*c.last) : "none"));
    }
    void after_chunk(const sturdy::chunk_ended& e) { lines->push_back("ended, done " + std::to_string(e.so_far.done)); }
    void on_run_end(const sturdy::report& r) { lines->push_back("end, done " + std::to_string(r.done)); }
};
} // namespace

TEST_CASE("hooks in a for loop get the events a loop raises, through drain's dispatch")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    ledger.mark(sturdy::key(1));
    std::vector<std::string> lines;
    for (int v : std::vector<int>{0, 1, 2} | sturdy::idempotent_by(ledger, [](int v) { return v; }) |
                     sturdy::chunked(db, 2) | sturdy::hook(loop_recorder{&lines})) {
        (void)v;
    }
    CHECK(lines == std::vector<std::string>{
                       "start 3",
                       "chunk after 0",
                       "item 0 done",
                       "item 1 skipped",
                       "commit 2 items, 1 done, last 1",
                       "ended, done 1",
                       "chunk after 2",
                       "item 2 done",
                       "commit 1 items, 1 done, last 2",
                       "ended, done 2",
                       "end, done 2",
                   });
}

TEST_CASE("time_budget in a for loop ends it at a chunk boundary")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    sturdy::manual_clock clock;
    int body_runs = 0;
    for (int v : std::views::iota(0, 10) | sturdy::chunked(db, 2) | sturdy::time_budget(std::chrono::seconds(5)) |
                     sturdy::with_clock(clock)) {
        clock.advance(std::chrono::seconds(1)); // 2 s a chunk: the third would end after 5 s
        out.put(v, "x");
        ++body_runs;
    }
    CHECK(body_runs == 4);
    CHECK(out.size() == 4);
    CHECK_FALSE(db.in_transaction());
}

TEST_CASE("watermark in a for loop moves with each committed chunk, and not with one rolled back")
{
    sturdy::memory::database db;
    auto loop = [&](int stop_at) {
        for (int v :
             std::views::iota(0, 7) | sturdy::chunked(db, 3) | sturdy::watermark(db, "w", [](int v) { return v; })) {
            if (v == stop_at) {
                throw std::runtime_error("body failed");
            }
        }
    };
    CHECK_THROWS(loop(4));
    CHECK(db.checkpoint("w") == "2"); // chunk 0..2 committed; 3..5 rolled back with its checkpoint
    loop(-1);
    CHECK(db.checkpoint("w") == "6");
}
