// testing_my_job — how to test a job of your own with sturdy/testing.hpp (docs/testing.md): a
// Catch2 test file for a small job, from a no_commit unit test to injected faults to 1,000
// simulated crashes, on the memory store, in well under a second. Catch2 is this file's choice:
// sturdy/testing.hpp works with any test framework.

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>
#include <sturdy/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace std::chrono_literals;

// --- the job under test ----------------------------------------------------------------------

struct order {
    std::int64_t id;
    std::int64_t cents;
};

/// Grants loyalty points for each paid order: one row in `points` per order. A template over its
/// store, so that the tests can hand it a sturdy::testing::faulty one.
template <sturdy::commit_policy Commit = sturdy::commit, class Db, sturdy::clock Clock>
sturdy::report grant_points(Db& db, const std::vector<order>& paid, Clock& clock)
{
    auto ledger = db.ledger("points");
    auto&& points = db.table("points"); // auto&&: a faulty store's table is a temporary
    return paid | sturdy::idempotent_by(ledger, [](const order& o) { return o.id; }) | sturdy::chunked<Commit>(db, 50) |
           sturdy::guarded([&](const order& o) {
               if (o.cents < 0) {
                   throw sturdy::permanent_error("order " + std::to_string(o.id) + " has a negative amount");
               }
               // Appended, so a grant made twice shows twice.
               points.insert(static_cast<std::int64_t>(points.size()) + 1, std::to_string(o.id));
           }) |
           sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::with_clock(clock) | sturdy::drain;
}

// --- what the tests share ------------------------------------------------------------------------

std::vector<order> some_orders(std::int64_t n)
{
    std::vector<order> out;
    for (std::int64_t i = 1; i <= n; ++i) {
        out.push_back({i, i % 17 == 0 ? -1 : 100 * i}); // every 17th is bad
    }
    return out;
}

/// Every order granted exactly once, bad ones (failing) never; the ledger agrees.
std::string granted_once(sturdy::memory::database& db, const std::vector<order>& orders)
{
    std::vector<sturdy::key> expected;
    std::vector<sturdy::key> effects;
    std::vector<sturdy::key> failing;
    std::vector<sturdy::key> done;
    for (const auto& o : orders) {
        expected.emplace_back(o.id);
    }
    for (const auto& [row, id] : db.table("points").rows()) {
        effects.emplace_back(std::stoll(id));
    }
    for (const auto& f : db.ledger("points").failures()) {
        failing.push_back(f.item_key);
    }
    for (const auto& [k, unused] : db.table("sturdy_ledger:points").rows()) {
        done.push_back(k);
    }
    return sturdy::testing::exactly_once(expected, effects, failing) +
           sturdy::testing::ledger_matches_effects(done, effects);
}

// --- 1. a unit test: no_commit inside a transaction the test rolls back ------------------------

/// A Catch2 fixture: each test runs inside a transaction, rolled back when the test ends (also
/// when an assertion fails). With a real database: `sturdy::sqlite::database db{"test.db"};`.
struct rolled_back_store {
    sturdy::memory::database db;
    sturdy::testing::rollback_scope<sturdy::memory::database> scope{db};
    sturdy::manual_clock clock;
};

TEST_CASE_METHOD(rolled_back_store, "grant_points: one row per order, the bad one recorded")
{
    const auto r = grant_points<sturdy::no_commit>(db, some_orders(20), clock);
    CHECK(r.done == 19);
    CHECK(r.failed == 1);
    CHECK(db.table("points").size() == 19);
    CHECK(db.commits() == 0); // nothing committed: the scope rolls it all back
}

// --- 2. injected faults: the job still grants each order once, over as many runs as it takes ----

TEST_CASE("grant_points: under faults on commits, claims and writes, each order is granted once")
{
    using sturdy::testing::fail;
    using sturdy::testing::op;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        sturdy::memory::database db;
        sturdy::manual_clock clock;
        sturdy::testing::injector faults(seed, {fail(op::commit).at_rate(0.05), fail(op::claim).at_rate(0.02),
                                                fail(op::write).at_rate(0.02).permanently()});
        sturdy::testing::faulty store(db, faults);
        const auto orders = some_orders(200);
        const auto bad =
            static_cast<std::size_t>(std::ranges::count_if(orders, [](const order& o) { return o.cents < 0; }));
        for (int run = 0; run < 10; ++run) { // as the scheduler would run it again
            if (grant_points(store, orders, clock).remaining == 0 && db.ledger("points").failures().size() == bad) {
                break; // done: only the bad orders are still failing
            }
        }
        INFO("seed " << seed << ", " << faults.faults_injected() << " faults");
        CHECK(faults.faults_injected() > 0);
        CHECK(granted_once(db, orders) == "");
    }
}

// --- 3. crash simulation: killed anywhere, run again, still exactly once ---------------------

struct world {
    sturdy::memory::database db;
    std::vector<order> orders = some_orders(120);
    sturdy::manual_clock clock;
};

TEST_CASE("grant_points: 1,000 crashes at any store operation, then a rerun: each order granted once")
{
    const auto r = sturdy::testing::simulate_crashes(
        {.scenarios = 600}, [] { return world(); }, // a fresh store for each scenario
        [](world& w, sturdy::testing::injector& faults) {
            sturdy::testing::faulty store(w.db, faults);
            return grant_points(store, w.orders, w.clock).remaining == 0; // false: run it again
        },
        [](world& w) { return granted_once(w.db, w.orders); });
    INFO(r.describe()); // on failure: the seed, its crash points, how to replay it
    CHECK(r.ok());
    CHECK(r.crashes >= 1000);
}
