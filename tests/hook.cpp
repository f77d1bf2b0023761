#include "support.hpp"

#include <sturdy/hook.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using test::range_of;

namespace {

/// Records every event it sees, as a line.
struct recorder {
    std::string name;
    std::vector<std::string>* events;

    void on_run_start(const sturdy::run_started& e)
    {
        events->push_back(name + " start " + (e.total ? std::to_string(*e.total) : "?"));
    }
    void before_chunk(const sturdy::chunk_starting& e)
    {
        events->push_back(name + " chunk after " + std::to_string(e.so_far.seen));
    }
    void on_item(const sturdy::item_settled& e)
    {
        const char* what[] = {"done", "skipped", "quarantined", "failed"};
        events->push_back(name + " item " + e.item_key.str() + " " + what[static_cast<int>(e.outcome)] +
                          (e.reason.empty() ? "" : ": " + std::string(e.reason)));
    }
    void on_successes(const sturdy::successes& e)
    {
        events->push_back(name + " successes " + std::to_string(e.done) + "/" + std::to_string(e.skipped) + "/" +
                          std::to_string(e.quarantined));
    }
    void before_commit(const sturdy::chunk_committing<int>& e)
    {
        events->push_back(name + " commit " + std::to_string(e.items) + " items, " + std::to_string(e.done) +
                          " done, last " + (e.last != nullptr ? std::to_string(*e.last) : "none"));
    }
    void after_chunk(const sturdy::chunk_ended& e)
    {
        events->push_back(name + " ended, done " + std::to_string(e.so_far.done));
    }
    void on_failure(const sturdy::failure_record& f) { events->push_back(name + " failure " + f.item_key.str()); }
    void on_run_end(const sturdy::report& r) { events->push_back(name + " end, done " + std::to_string(r.done)); }
};

static_assert(sturdy::run_hook<recorder, int>);

} // namespace

TEST_CASE("hooks see a clean run's events in order: counts per chunk on the fast path")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    std::vector<std::string> events;
    recorder a{"a", &events};
    const auto r = range_of(5) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 3) |
                   sturdy::guarded([&](int v) { out.put(v, "x"); }) | sturdy::hook(a) | sturdy::drain;
    CHECK(r.done == 5);
    CHECK(events == std::vector<std::string>{
                        "a start 5",
                        "a chunk after 0",
                        "a commit 3 items, 3 done, last 2",
                        "a successes 3/0/0",
                        "a ended, done 3",
                        "a chunk after 3",
                        "a commit 2 items, 2 done, last 4",
                        "a successes 2/0/0",
                        "a ended, done 5",
                        "a end, done 5",
                    });
}

TEST_CASE("hooks see each outcome of a chunk with a failure, in order, and are called in the order written")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    std::vector<std::string> events;
    recorder a{"a", &events};
    const auto r = range_of(4) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 4) |
                   sturdy::guarded([](int v) {
                       if (v == 2) {
                           throw std::runtime_error("bad two");
                       }
                   }) |
                   sturdy::hook(a) | sturdy::hook(recorder{"b", &events}) | sturdy::drain;
    CHECK(r.done == 3);
    CHECK(r.failed == 1);
    CHECK(events == std::vector<std::string>{
                        "a start 4",
                        "b start 4",
                        "a chunk after 0",
                        "b chunk after 0",
                        // the fast attempt's successes before the failure, then the careful path's outcomes
                        "a successes 2/0/0",
                        "b successes 2/0/0",
                        "a item 2 failed: bad two",
                        "b item 2 failed: bad two",
                        "a item 3 done",
                        "b item 3 done",
                        "a commit 4 items, 3 done, last 3",
                        "b commit 4 items, 3 done, last 3",
                        "a failure 2",
                        "b failure 2",
                        "a ended, done 3",
                        "b ended, done 3",
                        "a end, done 3",
                        "b end, done 3",
                    });
}

namespace {

/// Stops before the chunk that would start after `limit` items were seen.
struct stop_after {
    std::size_t limit;
    sturdy::verdict before_chunk(const sturdy::chunk_starting& e) const
    {
        if (e.so_far.seen >= limit) {
            return sturdy::verdict::stop("enough: " + std::to_string(e.so_far.seen) + " items");
        }
        return sturdy::verdict::go_on();
    }
};

/// Stops at the second failure, giving back both failures.
struct two_strikes {
    int failures = 0;
    sturdy::verdict on_item(const sturdy::item_settled& e)
    {
        if (e.outcome == sturdy::item_outcome::failed && ++failures == 2) {
            return sturdy::verdict::stop("two strikes", 2);
        }
        return sturdy::verdict::go_on();
    }
};

} // namespace

TEST_CASE("a hook stops the run before a chunk; the rest is remaining")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    const auto r = range_of(10) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 3) |
                   sturdy::guarded([](int) {}) | sturdy::hook(stop_after{6}) | sturdy::drain;
    CHECK(r.done == 6);
    CHECK(r.remaining == 4);
    CHECK(r.stopped_early == "enough: 6 items");
    CHECK(r.run_again_soon());
}

TEST_CASE("a hook stops the run at an item and gives back the chunk's failures")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    two_strikes strikes;
    const auto r = range_of(10) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
                   sturdy::guarded([&](int v) {
                       if (v == 3 || v == 5) {
                           throw std::runtime_error("down");
                       }
                       out.put(v, "x");
                   }) |
                   sturdy::hook(strikes) | sturdy::drain;
    CHECK(strikes.failures == 2); // held by reference: the caller reads it after the run
    CHECK(r.stopped_early == "two strikes");
    CHECK(r.done == 4); // 0, 1, 2, 4
    CHECK(r.failed == 0);
    CHECK(r.remaining == 6); // 3 and 5 given back, 6..9 not reached
    CHECK(ledger.failures().empty());
    CHECK(out.size() == 4);
    CHECK_FALSE(db.in_transaction());
}

namespace {

/// Writes an audit row per chunk in the chunk's transaction, and can be told to fail.
struct audit {
    sturdy::memory::table* rows;
    int chunks = 0;
    void before_commit(const sturdy::chunk_committing<int>& c)
    {
        rows->put(++chunks, std::to_string(c.items) + " items");
    }
};

} // namespace

TEST_CASE("before_commit writes in the chunk's transaction: rolled back with it under no_commit")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& rows = db.table("audit");
    audit a{&rows};
    db.begin();
    const auto r = range_of(7) | sturdy::idempotent_by(ledger, [](int v) { return v; }) |
                   sturdy::chunked<sturdy::no_commit>(db, 3) | sturdy::guarded([](int) {}) | sturdy::hook(a) |
                   sturdy::drain;
    CHECK(r.chunks == 3);
    CHECK(rows.size() == 3);
    CHECK(rows.get(3) == "1 items");
    db.rollback();
    CHECK(rows.size() == 0);
}

TEST_CASE("a hook without events is refused (compile-time checks)")
{
    struct nothing {};
    struct wrong_signature {
        void on_item(int) {}
    };
    STATIC_REQUIRE_FALSE(sturdy::run_hook<nothing, int>);
    STATIC_REQUIRE_FALSE(sturdy::run_hook<wrong_signature, int>);
    STATIC_REQUIRE(sturdy::run_hook<stop_after, int>);
    STATIC_REQUIRE(sturdy::run_hook<two_strikes, int>);
}

TEST_CASE(
    "the built-in stages are hooks called before the user's: a spent failure budget stops before they see the item")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    std::vector<std::string> events;
    const auto r = range_of(10) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
                   sturdy::guarded([](int v) {
                       if (v == 3 || v == 4) {
                           throw std::runtime_error("down");
                       }
                   }) |
                   sturdy::hook(recorder{"a", &events}) | sturdy::failure_budget(2) | sturdy::drain;
    CHECK(r.stopped_early.starts_with("failure budget spent: 2 consecutive failures"));
    CHECK(r.done == 3);
    CHECK(r.remaining == 7); // 3 and 4 given back, 5..9 not reached
    CHECK(events == std::vector<std::string>{
                        "a start 10",
                        "a chunk after 0",
                        "a successes 3/0/0",
                        "a item 3 failed: down", // item 4 spent the budget, which was called first
                        "a commit 10 items, 3 done, last 2",
                        "a ended, done 3",
                        "a end, done 3",
                    });
}
