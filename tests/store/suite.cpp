// The store suite: the same cases against every store (memory, SQLite, PostgreSQL), so a job
// written against one store behaves the same on another. Store-specific cases live in
// tests/store/<store>.cpp. Runs under scripts/with-postgres (see tests/store/meson.build).
#include "../support.hpp"
#include "fixtures.hpp"

#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <ranges>
#include <string>
#include <vector>

using namespace std::chrono_literals;

#define STORES test::memory_store, test::sqlite_store, test::postgres_store

TEMPLATE_TEST_CASE("store: commit keeps, rollback undoes", "[store]", STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("job");
    db.begin();
    CHECK(db.in_transaction());
    s.write(1, 1);
    ledger.mark(1);
    db.commit();
    CHECK_FALSE(db.in_transaction());
    db.begin();
    s.write(2, 2);
    ledger.mark(2);
    db.rollback();
    CHECK_FALSE(db.in_transaction());
    CHECK(s.count() == 1);
    CHECK(s.has(1));
    CHECK(ledger.contains(1));
    CHECK_FALSE(ledger.contains(2));
}

TEMPLATE_TEST_CASE("store: nested savepoints undo only their own writes", "[store]", STORES)
{
    TestType s;
    auto& db = s.db;
    db.begin();
    s.write(1, 1);
    {
        auto outer = db.savepoint();
        s.write(2, 2);
        {
            auto inner = db.savepoint();
            s.write(3, 3);
            inner.rollback();
        }
        CHECK_FALSE(s.has(3));
        {
            auto inner = db.savepoint();
            s.write(4, 4);
            auto moved = std::move(inner); // the guard moves; only the new owner acts
            // destroyed unreleased: rolls back
        }
        CHECK_FALSE(s.has(4));
        {
            auto inner = db.savepoint();
            s.write(5, 5);
            inner.release();
        }
        outer.release();
    }
    CHECK(s.count() == 3);
    db.commit();
    CHECK(s.count() == 3);

    SECTION("rollback undoes everything since begin, and makes open guards inert")
    {
        db.begin();
        s.write(6, 6);
        auto sp = db.savepoint();
        s.write(7, 7);
        db.rollback();
        sp.rollback();
        CHECK_FALSE(db.in_transaction());
        CHECK(s.count() == 3);
    }
    SECTION("a savepoint outside a transaction starts one; release commits, destruction rolls back")
    {
        {
            auto sp = db.savepoint();
            CHECK(db.in_transaction());
            s.write(8, 8);
            sp.release();
        }
        CHECK_FALSE(db.in_transaction());
        {
            auto sp = db.savepoint();
            s.write(9, 9);
        }
        CHECK_FALSE(db.in_transaction());
        CHECK(s.has(8));
        CHECK_FALSE(s.has(9));
    }
    SECTION("begin inside a transaction, commit or rollback outside one are usage errors")
    {
        db.begin();
        CHECK_THROWS_AS(db.begin(), sturdy::usage_error);
        db.rollback();
        CHECK_THROWS_AS(db.commit(), sturdy::usage_error);
        CHECK_THROWS_AS(db.rollback(), sturdy::usage_error);
    }
}

TEMPLATE_TEST_CASE("store: checkpoints are written in the current transaction", "[store]", STORES)
{
    TestType s;
    auto& db = s.db;
    CHECK_FALSE(db.checkpoint("contacts"));
    db.begin();
    db.set_checkpoint("contacts", "2024-05-01T00:00:00");
    CHECK(db.checkpoint("contacts") == "2024-05-01T00:00:00");
    db.rollback();
    CHECK_FALSE(db.checkpoint("contacts"));
    db.set_checkpoint("contacts", "2024-05-02");
    db.set_checkpoint("contacts", "2024-05-03");
    db.set_checkpoint("orders", "17");
    CHECK(db.checkpoint("contacts") == "2024-05-03");
    CHECK(db.checkpoint("orders") == "17");
}

TEMPLATE_TEST_CASE("store: failure records count runs, quarantine, requeue and clear", "[store]", STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("sync");
    CHECK(ledger.name() == "sync");

    CHECK(ledger.record_failure(42, "timeout", 3).runs == 1);
    CHECK(ledger.record_failure(42, "timeout again", 3).runs == 2);
    const auto third = ledger.record_failure(42, "still down", 3);
    CHECK(third.runs == 3);
    CHECK(third.quarantined);
    CHECK(third.last_reason == "still down");
    CHECK(third.item_key == sturdy::key(42));
    CHECK(third.last_failed >= third.first_failed);
    const auto text_key = ledger.record_failure("contact/7", "bad email", 3);
    CHECK_FALSE(text_key.quarantined);
    ledger.record_failure("contact/8", "bad phone", 1);
    ledger.record_failure(5, "five", 3); // integers order by value, before texts

    auto failures = ledger.failures();
    REQUIRE(failures.size() == 4);
    CHECK(failures[0].item_key == sturdy::key(5));
    CHECK(failures[1].item_key == sturdy::key(42));
    CHECK(failures[2].item_key == sturdy::key("contact/7"));
    CHECK(failures[3].quarantined);

    // Another ledger's records are its own.
    auto other = db.ledger("other");
    CHECK(other.failures().empty());

    CHECK(ledger.requeue(42));
    CHECK_FALSE(ledger.requeue(999));
    failures = ledger.failures();
    CHECK(failures[1].runs == 0);
    CHECK_FALSE(failures[1].quarantined);
    CHECK(ledger.requeue_all() == 1); // contact/8
    ledger.clear_failure("contact/7");
    ledger.clear_failure(5);
    CHECK(ledger.failures().size() == 2);

    SECTION("records and marks are written in the current transaction")
    {
        db.begin();
        ledger.record_failure(5, "x", 3);
        ledger.mark(6);
        db.rollback();
        CHECK(ledger.failures().size() == 2);
        CHECK_FALSE(ledger.contains(6));
    }
    SECTION("claim marks a key once, and a rolled-back savepoint takes the claim back")
    {
        db.begin();
        CHECK(ledger.claim(9));
        CHECK_FALSE(ledger.claim(9));
        {
            auto sp = db.savepoint();
            CHECK(ledger.claim("9"));
            sp.rollback();
        }
        CHECK_FALSE(ledger.contains("9"));
        CHECK(ledger.claim("9"));
        db.commit();
        CHECK(ledger.contains(9));
        CHECK(ledger.contains("9"));
        CHECK_FALSE(ledger.claim(9)); // outside a transaction too
        CHECK(ledger.size() == 2);
    }
    SECTION("integer and text keys are different keys")
    {
        ledger.mark(5);
        CHECK(ledger.contains(5));
        CHECK_FALSE(ledger.contains("5"));
        ledger.mark("5");
        CHECK(ledger.size() == 2);
        CHECK_FALSE(other.contains(5)); // nor are other ledgers' keys
    }
}

TEMPLATE_TEST_CASE("store: the pipeline isolates a failing item mid-chunk and a second run skips what is done",
                   "[store]", STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("invoice");
    sturdy::manual_clock clock;
    auto run = [&] {
        return std::views::iota(std::int64_t{1}, std::int64_t{26}) |
               sturdy::idempotent_by(ledger, [](std::int64_t id) { return std::tuple(id, "2024-05"); }) |
               sturdy::chunked(db, 10) | sturdy::guarded([&](std::int64_t id) { s.write(id, id == 13 ? -1 : id); }) |
               sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::with_clock(clock) | sturdy::drain;
    };
    const auto first = run();
    CHECK(first.seen == 25);
    CHECK(first.done == 24);
    CHECK(first.failed == 1);
    CHECK(first.chunks == 3);
    REQUIRE(first.failures.size() == 1);
    CHECK(first.failures[0].item_key == sturdy::key("13/2024-05"));
    CHECK(first.failures[0].kind == sturdy::failure_kind::permanent);
    CHECK(clock.sleeps.empty()); // a constraint is not retried
    CHECK(s.count() == 24);
    CHECK_FALSE(s.has(13)); // its partial write is gone
    CHECK(ledger.size() == 24);
    CHECK_FALSE(ledger.contains("13/2024-05"));
    CHECK_FALSE(db.in_transaction());
    REQUIRE(ledger.failures().size() == 1);
    CHECK(ledger.failures()[0].runs == 1);

    const auto second = run();
    CHECK(second.seen == 25);
    CHECK(second.skipped == 24);
    CHECK(second.done == 0);
    CHECK(second.failed == 1);
    CHECK(s.count() == 24);
    CHECK(ledger.failures()[0].runs == 2);
}

TEMPLATE_TEST_CASE("store: no_commit inside a test transaction leaves the store as before after rollback", "[store]",
                   STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("job");
    s.write(100, 1);
    db.begin();
    const auto r = std::views::iota(std::int64_t{1}, std::int64_t{21}) |
                   sturdy::idempotent_by(ledger, [](std::int64_t id) { return id; }) |
                   sturdy::chunked<sturdy::no_commit>(db, 7) |
                   sturdy::guarded([&](std::int64_t id) { s.write(id, id == 5 ? -1 : id); }) | sturdy::drain;
    CHECK(r.done == 19);
    CHECK(r.failed == 1);
    CHECK(db.in_transaction());
    CHECK(s.count() == 20); // the loop's writes are visible inside the transaction
    db.rollback();
    CHECK(s.count() == 1);
    CHECK(ledger.size() == 0);
    CHECK(ledger.failures().empty());
}

TEMPLATE_TEST_CASE("store: sturdy tables created in a caller's transaction outlive the rollback of a failing "
                   "no_commit run",
                   "[store]", STORES)
{
    // A fresh store: the tables are created inside the caller's transaction, and the caller's
    // rollback takes them away. Rolling back an item's or a chunk's savepoint must not make the
    // store forget that, or every later ledger call would meet "no such table".
    const auto isolation = GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_item);
    TestType s;
    auto& db = s.db;
    db.begin();
    auto ledger = db.ledger("job");
    const auto r = std::views::iota(std::int64_t{1}, std::int64_t{21}) |
                   sturdy::idempotent_by(ledger, [](std::int64_t v) { return v; }) |
                   sturdy::chunked<sturdy::no_commit>(db, 8) |
                   sturdy::guarded([&](std::int64_t v) { s.write(v, v == 7 ? -1 : v); }, isolation) | sturdy::drain;
    CHECK(r.done == 19);
    CHECK(r.failed == 1);
    CHECK(ledger.size() == 19);
    db.rollback();

    CHECK_FALSE(ledger.contains(1));
    CHECK(ledger.claim(1));
    CHECK(ledger.size() == 1);
    CHECK(ledger.failures().empty());
    CHECK(ledger.record_failure(2, "why", 5).runs == 1);
    CHECK_FALSE(db.checkpoint("cp"));
    db.set_checkpoint("cp", "x");
    CHECK(db.checkpoint("cp") == "x");
}
