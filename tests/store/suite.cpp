// The store suite: the same cases against every store (memory, SQLite, PostgreSQL), so a job
// written against one store behaves the same on another. The cases are the public conformance
// suite, sturdy::testing::check_store (sturdy/testing/conformance.hpp), which users run on their
// own stores; what it cannot ask of every store but sturdy's stores promise is checked here too.
// Store-specific cases live in tests/store/<store>.cpp. Runs under scripts/with-postgres (see
// tests/store/meson.build).
#include "../support.hpp"
#include "fixtures.hpp"

#include <sturdy/sturdy.hpp>
#include <sturdy/testing/conformance.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#define STORES test::memory_store, test::sqlite_store, test::postgres_store

TEMPLATE_TEST_CASE("store: the conformance suite (sturdy::testing::check_store) holds", "[store]", STORES)
{
    static_assert(sturdy::testing::store_fixture<TestType>);
    const auto r = sturdy::testing::check_store([] { return TestType{}; });
    INFO(r.describe());
    CHECK(r.ok());
    // Every case runs on sturdy's stores, except claim_all on a ledger that does not batch claims.
    using ledger_type = decltype(std::declval<TestType&>().db.ledger("x"));
    const std::vector<std::string> skipped =
        sturdy::batch_claiming_ledger<ledger_type>
            ? std::vector<std::string>{}
            : std::vector<std::string>{"claim_all: the ledger does not model sturdy::batch_claiming_ledger"};
    CHECK(r.cases_skipped == skipped);
    CHECK(r.cases_run.size() == 14 - skipped.size());
}

TEMPLATE_TEST_CASE("store: failure records are listed in key order, integers first; the ledger counts its keys",
                   "[store]", STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("sync");
    CHECK(ledger.name() == "sync");
    ledger.record_failure(42, "timeout", 3);
    ledger.record_failure("contact/7", "bad email", 3);
    ledger.record_failure("contact/8", "bad phone", 1);
    ledger.record_failure(5, "five", 3); // integers order by value, before texts
    const auto failures = ledger.failures();
    REQUIRE(failures.size() == 4);
    CHECK(failures[0].item_key == sturdy::key(5));
    CHECK(failures[1].item_key == sturdy::key(42));
    CHECK(failures[2].item_key == sturdy::key("contact/7"));
    CHECK(failures[3].item_key == sturdy::key("contact/8"));
    CHECK(failures[3].quarantined);

    CHECK(ledger.size() == 0);
    ledger.mark(5);
    ledger.mark("5");
    db.begin();
    ledger.mark(6);
    CHECK(ledger.size() == 3);
    db.rollback();
    CHECK(ledger.size() == 2);
    CHECK(db.ledger("other").size() == 0);
}
