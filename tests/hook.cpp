#include "support.hpp"

#include <sturdy/hook.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
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
                        // the fast attempt was abandoned: the careful path tells every outcome
                        "a item 0 done",
                        "b item 0 done",
                        "a item 1 done",
                        "b item 1 done",
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

TEST_CASE("after a hook stops the run before a chunk, the hooks after it do not see that chunk start")
{
    // A rate limiter written after a stopping hook must not wait for a chunk that never runs.
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    std::vector<std::string> events;
    const auto r = range_of(10) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 3) |
                   sturdy::guarded([](int) {}) | sturdy::hook(stop_after{3}) | sturdy::hook(recorder{"b", &events}) |
                   sturdy::drain;
    CHECK(r.done == 3);
    CHECK(r.stopped_early == "enough: 3 items");
    CHECK(std::count(events.begin(), events.end(), "b chunk after 0") == 1);
    CHECK(std::count(events.begin(), events.end(), "b chunk after 3") == 0);
}

namespace {
/// Stops the run before its first chunk, with `why`.
struct stop_at_once {
    std::string why;
    [[nodiscard]] sturdy::verdict before_chunk(const sturdy::chunk_starting& /*unused*/) const
    {
        return sturdy::verdict::stop(why);
    }
};
} // namespace

TEST_CASE("when two hooks stop the run at the same event, the first written wins")
{
    sturdy::memory::database db;
    const auto r = range_of(10) | sturdy::chunked(db, 3) | sturdy::guarded([](int) {}) |
                   sturdy::hook(stop_at_once{"first"}) | sturdy::hook(stop_at_once{"second"}) | sturdy::drain;
    CHECK(r.stopped_early == "first");
    CHECK(r.done == 0);
    CHECK(r.remaining == 10);
}

TEST_CASE("a hook stops the run at an item and gives back the chunk's failures that look like an outage")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    two_strikes strikes;
    const auto r = range_of(10) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
                   sturdy::guarded([&](int v) {
                       if (v == 3 || v == 4) {
                           throw sturdy::transient_error("down");
                       }
                       out.put(v, "x");
                   }) |
                   sturdy::hook(strikes) | sturdy::drain;
    CHECK(strikes.failures == 2); // held by reference: the caller reads it after the run
    CHECK(r.stopped_early == "two strikes");
    CHECK(r.done == 3); // 0, 1, 2
    CHECK(r.failed == 0);
    CHECK(r.remaining == 7); // 3 and 4 given back, 5..9 not reached
    CHECK(ledger.failures().empty());
    CHECK(out.size() == 3);
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

TEST_CASE("the run-level stages are hooks called in the order written: a spent failure budget stops before the "
          "hooks after it see the item")
{
    for (const bool budget_first : {true, false}) {
        sturdy::memory::database db;
        auto ledger = db.ledger("job");
        std::vector<std::string> events;
        auto job = range_of(10) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
                   sturdy::guarded([](int v) {
                       if (v == 3 || v == 4) {
                           throw sturdy::transient_error("down");
                       }
                   });
        const auto r = budget_first
                           ? job | sturdy::failure_budget(2) | sturdy::hook(recorder{"a", &events}) | sturdy::drain
                           : job | sturdy::hook(recorder{"a", &events}) | sturdy::failure_budget(2) | sturdy::drain;
        CHECK(r.stopped_early.starts_with("failure budget spent: 2 consecutive failures"));
        CHECK(r.done == 3);
        CHECK(r.remaining == 7); // 3 and 4 given back, 5..9 not reached
        CHECK(ledger.failures().empty());
        std::vector<std::string> expected{
            "a start 10", "a chunk after 0", "a item 0 done", "a item 1 done", "a item 2 done", "a item 3 failed: down",
        };
        if (!budget_first) {
            expected.emplace_back("a item 4 failed: down"); // the budget after the recorder
        }
        for (const char* e : {"a commit 10 items, 3 done, last 2", "a ended, done 3", "a end, done 3"}) {
            expected.emplace_back(e);
        }
        CHECK(events == expected);
    }
}

namespace {

/// Throws `error` from before_commit the first `times` times.
struct failing_commit_hook {
    int times;
    bool transient;
    int calls = 0;
    void before_commit(const sturdy::chunk_committing<int>& /*unused*/)
    {
        if (calls++ < times) {
            if (transient) {
                throw sturdy::transient_error("audit table busy");
            }
            throw std::runtime_error("audit table missing");
        }
    }
};

} // namespace

// hook.hpp: "An exception a hook throws from before_commit or on_item fails the chunk in flight like a
// failed commit (it is rolled back, then retried if the exception is transient, its items reported failed
// otherwise) ... from any other event, the exception ends the run and reaches the caller of drain."
TEST_CASE("a hook's exception from before_commit fails the chunk like a failed commit: retried if transient")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    sturdy::manual_clock clock;
    failing_commit_hook once{1, true};
    const auto r = range_of(4) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 4) |
                   sturdy::guarded([&](int v) { out.put(v, "x"); }) |
                   sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::with_clock(clock) | sturdy::hook(once) |
                   sturdy::drain;
    CHECK(once.calls == 2);
    CHECK(r.done == 4);
    CHECK(r.failed == 0);
    CHECK(r.retried == 1);
    CHECK(out.size() == 4);

    sturdy::memory::database db2;
    auto ledger2 = db2.ledger("job");
    auto& out2 = db2.table("out");
    failing_commit_hook always{100, false};
    const auto r2 = range_of(4) | sturdy::idempotent_by(ledger2, [](int v) { return v; }) | sturdy::chunked(db2, 4) |
                    sturdy::guarded([&](int v) { out2.put(v, "x"); }) | sturdy::hook(always) | sturdy::drain;
    CHECK(r2.done == 0);
    CHECK(r2.failed == 4);
    REQUIRE(!r2.failures.empty());
    CHECK(r2.failures[0].reason == "its chunk could not commit: audit table missing");
    CHECK(out2.size() == 0);
    CHECK(ledger2.size() == 0);

    // On the careful path, a chunk run whole again shows its items to on_item again.
    sturdy::memory::database db3;
    auto ledger3 = db3.ledger("job");
    std::vector<std::string> events;
    failing_commit_hook once_more{1, true};
    const auto r3 = range_of(4) | sturdy::idempotent_by(ledger3, [](int v) { return v; }) | sturdy::chunked(db3, 4) |
                    sturdy::guarded([](int v) {
                        if (v == 2) {
                            throw std::runtime_error("bad two");
                        }
                    }) |
                    sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::with_clock(clock) |
                    sturdy::hook(once_more) | sturdy::hook(recorder{"a", &events}) | sturdy::drain;
    CHECK(r3.done == 3);
    CHECK(r3.failed == 1);
    CHECK(std::count(events.begin(), events.end(), "a item 2 failed: bad two") == 2);
    CHECK(std::count(events.begin(), events.end(), "a failure 2") == 1);
}

namespace {

/// Throws from on_item at the first item it sees done.
struct throws_on_item {
    void on_item(const sturdy::item_settled& e)
    {
        if (e.outcome == sturdy::item_outcome::done) {
            throw std::runtime_error("metrics endpoint refused");
        }
    }
};

/// Throws from one event: `after_chunk` or `on_successes`.
struct throws_after_chunk {
    void after_chunk(const sturdy::chunk_ended& /*unused*/) { throw std::runtime_error("after_chunk threw"); }
};
struct throws_on_successes {
    void on_successes(const sturdy::successes& /*unused*/) { throw std::runtime_error("on_successes threw"); }
};

auto fails_two = [](int v) {
    if (v == 2) {
        throw std::runtime_error("bad two");
    }
};

} // namespace

TEST_CASE("a hook's exception from on_item fails the chunk; from after_chunk or on_successes it reaches drain's caller")
{
    {
        sturdy::memory::database db;
        auto ledger = db.ledger("job");
        const auto r = range_of(4) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 4) |
                       sturdy::guarded(fails_two) | sturdy::hook(throws_on_item{}) | sturdy::drain;
        CHECK(r.done == 0);
        CHECK(r.failed == 4); // the chunk, rolled back: each item "could not commit"
        CHECK(ledger.size() == 0);
    }
    {
        sturdy::memory::database db;
        auto ledger = db.ledger("job");
        auto run = [&] {
            return range_of(6) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 3) |
                   sturdy::guarded([](int /*unused*/) {}) | sturdy::hook(throws_after_chunk{}) | sturdy::drain;
        };
        CHECK_THROWS_WITH(run(), "after_chunk threw");
        CHECK(ledger.size() == 3); // the first chunk committed before its after_chunk
    }
    {
        // on_successes comes after a fast chunk's commit: its exception ends the run.
        sturdy::memory::database db;
        auto ledger = db.ledger("job");
        auto run = [&] {
            return range_of(4) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 4) |
                   sturdy::guarded([](int /*unused*/) {}) | sturdy::hook(throws_on_successes{}) | sturdy::drain;
        };
        CHECK_THROWS_WITH(run(), "on_successes threw");
        CHECK(ledger.size() == 4U);
    }
    {
        // A chunk whose fast attempt failed tells its outcomes through on_item, never on_successes.
        sturdy::memory::database db;
        auto ledger = db.ledger("job");
        const auto r = range_of(4) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 4) |
                       sturdy::guarded(fails_two) | sturdy::hook(throws_on_successes{}) | sturdy::drain;
        CHECK(r.done == 3);
        CHECK(ledger.size() == 3U);
    }
}
