// sturdy/testing/faults.hpp and faulty.hpp: the wrapper models what the store models, forwards
// every operation, and fails the chosen ones, the same way for the same seed; a fatal fault
// stops the run.
#include "memory_jobs.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>
#include <sturdy/testing.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

namespace {
using sturdy::testing::fail;
using sturdy::testing::faulty;
using sturdy::testing::injector;
using sturdy::testing::op;

using faulty_memory = faulty<sturdy::memory::database>;
using faulty_memory_ledger = decltype(std::declval<faulty_memory&>().ledger("x"));
static_assert(sturdy::transaction<faulty_memory>);
static_assert(sturdy::checkpoint_store<faulty_memory>);
static_assert(sturdy::claiming_ledger<faulty_memory_ledger>);
static_assert(sturdy::failure_ledger<faulty_memory_ledger>);
static_assert(sturdy::batch_claiming_ledger<faulty_memory_ledger> ==
              sturdy::batch_claiming_ledger<sturdy::memory::ledger>);

/// A ledger that only checks and marks: its wrapper has no claim and no failure records either.
struct plain_ledger {
    bool contains(const sturdy::key&) const { return false; }
    void mark(const sturdy::key&) {}
};
static_assert(sturdy::ledger<sturdy::testing::faulty_ledger<plain_ledger>>);
static_assert(!sturdy::claiming_ledger<sturdy::testing::faulty_ledger<plain_ledger>>);
static_assert(!sturdy::failure_ledger<sturdy::testing::faulty_ledger<plain_ledger>>);

std::vector<std::string> trace(const injector& i)
{
    std::vector<std::string> out;
    for (const auto& e : i.events()) {
        out.push_back(std::to_string(e.number) + " " + std::string(name(e.operation)) + " " + e.what);
    }
    return out;
}
} // namespace

TEST_CASE("faulty: every operation is forwarded and counted")
{
    sturdy::memory::database db;
    injector faults;
    faulty store(db, faults);
    auto ledger = store.ledger("l");
    auto&& t = store.table("t");
    store.begin();
    t.put(1, "a");
    CHECK(ledger.claim(1));
    CHECK(ledger.contains(1));
    store.set_checkpoint(std::string("w"), std::string("5"));
    {
        auto sp = store.savepoint();
        t.put(2, "b");
        sp.rollback();
    }
    auto sp = store.savepoint();
    sp.release();
    store.commit();
    CHECK(faults.operations() == 11);
    CHECK(db.table("t").size() == 1);
    CHECK(db.ledger("l").contains(1));
    CHECK(store.checkpoint(std::string("w")) == "5");
    CHECK(ledger.name() == "l");
    CHECK(faults.events().empty());
}

TEST_CASE("faulty: the nth call fails, transient or permanent, once or from then on")
{
    sturdy::memory::database db;
    SECTION("once")
    {
        injector faults(1, {fail(op::commit).at_call(2)});
        faulty store(db, faults);
        store.begin();
        store.commit();
        store.begin();
        CHECK_THROWS_AS(store.commit(), sturdy::transient_error);
        CHECK(store.in_transaction()); // the fault struck before the commit ran
        store.commit();
        CHECK(faults.faults_injected() == 1);
    }
    SECTION("permanently, and after")
    {
        injector faults(1, {fail(op::begin).at_call(1).permanently().and_after()});
        faulty store(db, faults);
        CHECK_THROWS_AS(store.begin(), sturdy::permanent_error);
        CHECK_THROWS_AS(store.begin(), sturdy::permanent_error);
        CHECK(faults.faults_injected() == 2);
        CHECK(!store.in_transaction());
    }
    SECTION("the message names the operation, its number and the seed")
    {
        injector faults(77, {fail(op::savepoint).at_call(1)});
        faulty store(db, faults);
        store.begin();
        try {
            store.savepoint();
            FAIL("no fault");
        } catch (const sturdy::transient_error& e) {
            CHECK(e.message() == "injected transient fault: savepoint (operation #2, seed 77)");
        }
    }
}

TEST_CASE("faulty: a rate strikes deterministically, by seed")
{
    const auto run = [](std::uint64_t seed) {
        sturdy::memory::database db;
        injector faults(seed, {fail(op::mark).at_rate(0.3)});
        faulty store(db, faults);
        auto ledger = store.ledger("l");
        for (int i = 0; i < 200; ++i) {
            try {
                ledger.mark(i);
            } catch (const sturdy::transient_error&) {
            }
        }
        return trace(faults);
    };
    const auto a = run(5);
    CHECK(a == run(5));
    CHECK(a != run(6));
    CHECK(a.size() > 30); // about 60 of 200
    CHECK(a.size() < 100);
}

TEST_CASE("faulty: bad rules are refused with the fix")
{
    CHECK_THROWS_AS(fail(op::commit).at_rate(1.5), sturdy::usage_error);
    CHECK_THROWS_AS(fail(op::commit).at_call(0), sturdy::usage_error);
}

TEST_CASE("faulty: a job under faults on every operation still does each item exactly once, over several runs")
{
    std::vector<sturdy::testing::fault> rules;
    for (const auto o : {op::begin, op::commit, op::savepoint, op::release, op::rollback_to, op::claim, op::mark,
                         op::record_failure, op::clear_failure, op::read_failures, op::write}) {
        rules.push_back(fail(o).at_rate(0.02));
    }
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        memory_jobs::invoicing_world w(40);
        injector faults(seed, rules);
        faulty store(w.db, faults);
        bool done = false;
        for (int run = 0; run < 50 && !done; ++run) {
            try {
                done = memory_jobs::invoice_due(store, w.input, w.clock);
            } catch (const sturdy::failure_error&) { // read_failures at the start: the run fails as a whole
            }
        }
        CHECK(done);
        CHECK(faults.faults_injected() > 0);
        INFO("seed " << seed);
        CHECK(memory_jobs::check_invoicing(w) == "");
    }
}

namespace {
/// A ledger that claims a chunk's keys in one call, as the PostgreSQL store's does.
struct batch_ledger {
    std::vector<sturdy::key> marked;
    bool contains(const sturdy::key& k) const { return std::ranges::find(marked, k) != marked.end(); }
    void mark(const sturdy::key& k) { marked.push_back(k); }
    bool claim(const sturdy::key& k)
    {
        if (contains(k)) {
            return false;
        }
        mark(k);
        return true;
    }
    void claim_all(std::span<const sturdy::key> keys, std::vector<bool>& claimed)
    {
        claimed.clear();
        for (const auto& k : keys) {
            claimed.push_back(claim(k));
        }
    }
};
static_assert(sturdy::batch_claiming_ledger<sturdy::testing::faulty_ledger<batch_ledger>>);
} // namespace

TEST_CASE("faulty: a batch claim is one operation, and can fail")
{
    injector faults(3, {fail(op::claim).at_call(2)});
    sturdy::testing::faulty_ledger<batch_ledger> ledger(batch_ledger{}, faults);
    const std::vector<sturdy::key> keys{1, 2, 3};
    std::vector<bool> claimed;
    ledger.claim_all(keys, claimed);
    CHECK(claimed == std::vector<bool>{true, true, true});
    CHECK(faults.operations() == 1);
    CHECK_THROWS_AS(ledger.claim_all(keys, claimed), sturdy::transient_error);
    CHECK(ledger.inner().marked.size() == 3);
}

TEST_CASE("faulty: a fatal fault stops the run, records no failure, and leaves the rest for the next run")
{
    sturdy::memory::database db;
    const std::vector<int> items = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    auto run = [&](injector& faults) {
        faulty store(db, faults);
        auto ledger = store.ledger("job");
        return items | sturdy::idempotent_by(ledger, [](int i) { return i; }) | sturdy::chunked(store, 5) |
               sturdy::guarded([&](int i) { store.table("t").put(i, "x"); }) | sturdy::retry_bounded(3) | sturdy::drain;
    };
    SECTION("the error is classified fatal")
    {
        injector faults(9, {fail(op::write).at_call(1).fatally()});
        faulty store(db, faults);
        try {
            store.table("t").put(1, "x");
            FAIL("no fault");
        } catch (const sturdy::failure_error& e) {
            CHECK(sturdy::kind_of(e.code()) == sturdy::failure_kind::fatal);
            CHECK(e.code() == sturdy::errc::schema_mismatch);
            CHECK(e.message() == "injected fatal fault: write (operation #1, seed 9)");
        }
        CHECK(trace(faults) == std::vector<std::string>{"1 write fatal fault"});
    }
    SECTION("the run stops")
    {
        injector faults(1, {fail(op::write).at_call(8).fatally()});
        const auto r = run(faults);
        INFO(fmt::format("{}", r));
        CHECK(faults.faults_injected() == 1); // not retried
        CHECK_THAT(r.stopped_early, Catch::Contains("injected fatal fault: write"));
        CHECK(r.failed == 0);
        CHECK(r.done == 7); // the first chunk, and the second's items before the fault: kept
        CHECK(r.remaining == 13);
        CHECK(r.run_again_soon());
        CHECK(db.ledger("job").failures().empty()); // nothing recorded, nothing quarantined
        CHECK(db.table("t").size() == 7);
        CHECK_FALSE(db.table("t").contains(8));

        injector none;
        const auto again = run(none);
        CHECK(again.stopped_early.empty());
        CHECK(again.skipped == 7);
        CHECK(again.done == 13);
        CHECK(db.table("t").size() == 20);
    }
}
