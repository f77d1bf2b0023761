#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using test::range_of;

TEST_CASE("an outage trips the failure budget: the run stops, commits what succeeded, loses nothing")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("sync");
    auto& remote = db.table("remote");
    bool outage = true;
    auto run = [&] {
        return range_of(100) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
               sturdy::guarded([&](int v) {
                   if (outage && v >= 15) {
                       throw sturdy::transient_error("connection refused");
                   }
                   remote.put(v, "pushed");
               }) |
               sturdy::failure_budget(5) | sturdy::drain;
    };
    const auto r = run();
    CHECK(r.done == 15);
    CHECK(r.failed == 0); // the streak is the outage's fault, not the items'
    CHECK(r.remaining == 85);
    CHECK(r.stopped_early == "failure budget spent: 5 consecutive failures, the last: connection refused (is a service "
                             "they depend on unavailable?)");
    CHECK(r.run_again_soon());
    CHECK(ledger.failures().empty()); // an outage never counts toward quarantine
    CHECK(remote.size() == 15);

    outage = false;
    const auto again = run();
    CHECK(again.done == 85);
    CHECK(again.skipped == 15);
    CHECK_FALSE(again.run_again_soon());
    CHECK(remote.size() == 100);
}

TEST_CASE("items whose key function throws are the items' own: they fail, and never spend the budget")
{
    const auto mode =
        GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_segment, sturdy::isolation::per_item);
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    int effects = 0;
    const auto r = range_of(100) |
                   sturdy::idempotent_by(
                       ledger, [&](int v) -> int { throw std::invalid_argument("no key for " + std::to_string(v)); }) |
                   sturdy::chunked(db, 10) | sturdy::guarded([&](int) { ++effects; }, mode) |
                   sturdy::failure_budget(5) | sturdy::drain;
    CHECK(r.stopped_early.empty());
    CHECK(r.failed == 100);
    CHECK(r.awaiting_retry == 100);
    CHECK(effects == 0);
}

TEST_CASE("a streak across chunks is given back whole: the committed chunks' failures get no record either")
{
    const auto mode =
        GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_segment, sturdy::isolation::per_item);
    const std::size_t chunk = GENERATE(1U, 2U, 3U, 7U);
    CAPTURE(mode, chunk);
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    const auto r = range_of(40) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, chunk) |
                   sturdy::guarded(
                       [&](int v) {
                           if (v >= 4) {
                               throw sturdy::transient_error("remote down");
                           }
                       },
                       mode) |
                   sturdy::failure_budget(5) | sturdy::drain;
    CHECK(r.stopped_early.starts_with("failure budget spent: 5 consecutive failures"));
    CHECK(r.done == 4);
    CHECK(r.failed == 0);
    CHECK(r.remaining == 36);
    CHECK(ledger.failures().empty());
}

TEST_CASE("successes in between break the streak; the held failures are recorded with the success's chunk")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    const auto r = range_of(100) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 3) |
                   sturdy::guarded([&](int v) {
                       if (v % 5 != 0) {
                           throw sturdy::transient_error("busy");
                       }
                   }) |
                   sturdy::failure_budget(5) | sturdy::drain;
    CHECK(r.stopped_early.empty());
    CHECK(r.failed == 80);
    CHECK(r.done == 20);
    CHECK(ledger.failures().size() == 80);
}

TEST_CASE("the failure budget by rate over a window")
{
    sturdy::memory::database db;
    auto r = range_of(200) | sturdy::chunked(db, 20) | sturdy::guarded([](int v) {
                 if (v >= 50 && v % 2 == 0) {
                     throw sturdy::transient_error("half the calls time out");
                 }
             }) |
             sturdy::failure_budget(100, 0.5, 20) | sturdy::drain;
    CHECK_FALSE(r.stopped_early.empty());
    CHECK(r.stopped_early.find("10 of the last 20 items failed") != std::string::npos);
    CHECK(r.done + r.failed + r.remaining == 200);
    CHECK(r.remaining > 100);
}

TEST_CASE("isolated failures below the budget do not stop the run")
{
    sturdy::memory::database db;
    auto r = range_of(100) | sturdy::chunked(db, 10) | sturdy::guarded([](int v) {
                 if (v % 10 == 3) {
                     throw std::runtime_error("bad row");
                 }
             }) |
             sturdy::failure_budget(3) | sturdy::drain;
    CHECK(r.stopped_early.empty());
    CHECK(r.failed == 10);
    CHECK(r.done == 90);
}

TEST_CASE("failure_budget rejects arguments that cannot work")
{
    CHECK_THROWS_WITH(sturdy::failure_budget(0), Catch::Contains("at least 1"));
    CHECK_THROWS_WITH(sturdy::failure_budget(5, 1.5, 10), Catch::Contains("fraction"));
    CHECK_THROWS_WITH(sturdy::failure_budget(5, 0.5), Catch::Contains("window"));
}

TEST_CASE("the window sees the successes before a failure in the same chunk, with or without shared savepoints")
{
    // Window of 4, tripped at 2 failures: items 3 and 5 fail, so the window over items 2..5
    // (success, failure, success, failure) trips it, but only if items 0..2 were counted.
    auto run = [](sturdy::isolation mode) {
        sturdy::memory::database db;
        auto r = range_of(10) | sturdy::chunked(db, 10) |
                 sturdy::guarded(
                     [](int v) {
                         if (v == 3 || v == 5) {
                             throw sturdy::transient_error("refused");
                         }
                     },
                     mode) |
                 sturdy::failure_budget(100, 0.5, 4) | sturdy::drain;
        return std::tuple(r.done, r.failed, r.remaining, r.stopped_early);
    };
    const auto per_item = run(sturdy::isolation::per_item);
    CHECK(std::get<3>(per_item) == "failure budget spent: 2 of the last 4 items failed, the last: refused (is a "
                                   "service they depend on unavailable?)");
    CHECK(run(sturdy::isolation::per_chunk) == per_item);
    CHECK(run(sturdy::isolation::per_segment) == per_item);
}

TEST_CASE("an item done ends a failure streak whether it arrives alone or counted in a fast chunk; others do not")
{
    // The budget's two ways of hearing of outcomes must agree: `on_item` (the careful path) and
    // `on_successes` (a chunk that committed on the fast path, items counted, not shown).
    const sturdy::key k{1};
    const auto down = [&] {
        return sturdy::item_settled{sturdy::item_outcome::failed, k, "down", sturdy::failure_kind::transient, false};
    };
    auto budget = [] { return sturdy::failure_budget(3).held; };

    auto alone = budget();
    alone.on_run_start({});
    CHECK_FALSE(alone.on_item(down()).stops());
    CHECK_FALSE(alone.on_item({sturdy::item_outcome::quarantined, k, ""}).stops()); // no news of the service
    CHECK_FALSE(alone.on_item(down()).stops());
    CHECK_FALSE(alone.on_item({sturdy::item_outcome::done, k, ""}).stops()); // the service answered
    CHECK_FALSE(alone.on_item(down()).stops());
    CHECK_FALSE(alone.on_item(down()).stops());
    CHECK(alone.on_item(down()).stops());

    auto counted = budget();
    counted.on_run_start({});
    CHECK_FALSE(counted.on_item(down()).stops());
    counted.on_successes({.done = 0, .skipped = 2, .quarantined = 2});
    CHECK_FALSE(counted.on_item(down()).stops());
    counted.on_successes({.done = 1, .skipped = 0, .quarantined = 0});
    CHECK_FALSE(counted.on_item(down()).stops());
    CHECK_FALSE(counted.on_item(down()).stops());
    CHECK(counted.on_item(down()).stops());
}

TEST_CASE("only new transient failures spend the budget: permanent ones and keys failing again are the items' own")
{
    const sturdy::key k{1};
    auto b = sturdy::failure_budget(2).held;
    b.on_run_start({});
    const sturdy::item_settled permanent{sturdy::item_outcome::failed, k, "bad row", sturdy::failure_kind::permanent,
                                         false};
    const sturdy::item_settled again{sturdy::item_outcome::failed, k, "down", sturdy::failure_kind::transient, true};
    const sturdy::item_settled down{sturdy::item_outcome::failed, k, "down", sturdy::failure_kind::transient, false};
    for (int i = 0; i < 10; ++i) {
        CHECK_FALSE(b.on_item(permanent).stops());
        CHECK_FALSE(b.on_item(again).stops());
    }
    CHECK_FALSE(b.on_item(down).stops());
    CHECK_FALSE(b.on_item(permanent).stops()); // neither ends the streak
    const auto v = b.on_item(down);
    CHECK(v.stops());
    CHECK(v.give_back == 2);
}
