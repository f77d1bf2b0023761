// The ledgers kept by the effect's own table (sturdy/store/effect_ledger.hpp): the SQLite
// store's unique-key and marker forms, and the memory store's equivalent, on the fast and the
// careful path.
#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace sqlite = sturdy::sqlite;
using test::temp_dir;

namespace {

const char* const schema = R"sql(
    CREATE TABLE subscription(id INTEGER PRIMARY KEY, amount_cents INTEGER NOT NULL);
    CREATE TABLE invoice(id INTEGER PRIMARY KEY, subscription_id INTEGER NOT NULL, period TEXT NOT NULL,
                         number TEXT UNIQUE, amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
                         UNIQUE(subscription_id, period));
    CREATE TABLE contact(id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, synced TEXT);
    CREATE TABLE remote(contact_id INTEGER NOT NULL, version INTEGER NOT NULL);
)sql";

struct subscription {
    std::int64_t id;
    std::int64_t amount_cents;
};

struct fixture {
    temp_dir dir;
    sqlite::database db{dir.file("effect.db")};
    fixture()
    {
        db.exec(schema);
        db.begin();
        for (int i = 1; i <= 20; ++i) {
            db.execute("INSERT INTO subscription(id, amount_cents) VALUES(?, ?)", i, i * 100);
            db.execute("INSERT INTO contact(id, name, version) VALUES(?, ?, 1)", i, "c" + std::to_string(i));
        }
        db.commit();
    }
    std::vector<subscription> subscriptions()
    {
        return db.query<subscription>("SELECT id, amount_cents FROM subscription ORDER BY id");
    }
    std::int64_t count(const std::string& table)
    {
        return *db.query_one<std::int64_t>("SELECT count(*) FROM " + table);
    }
};

} // namespace

using test::error_text;
using test::has;

TEST_CASE("unique-key ledger: the table, the columns and a unique index on exactly them are checked at creation")
{
    fixture f;
    auto& db = f.db;
    const auto missing_table = error_text([&] { db.ledger(sturdy::unique_key{"invoices", {"subscription_id"}}); });
    CHECK(has(missing_table, "has no table \"invoices\""));
    const auto missing_column = error_text([&] {
        db.ledger(sturdy::unique_key{"invoice", {"subscription_id", "periode"}});
    });
    CHECK(has(missing_column, "has no column \"periode\""));
    // subscription_id alone is not unique, nor is (subscription_id, period, amount_cents) an index
    for (const auto& columns : {std::vector<std::string>{"subscription_id"},
                                std::vector<std::string>{"subscription_id", "period", "amount_cents"}}) {
        const auto text = error_text([&] { db.ledger(sturdy::unique_key{"invoice", columns}); });
        CHECK(has(text, "has no unique index on exactly"));
        CHECK(has(text, "CREATE UNIQUE INDEX"));
        CHECK(has(text, "ON \"invoice\"("));
        try {
            db.ledger(sturdy::unique_key{"invoice", columns});
        } catch (const sturdy::failure_error& e) {
            CHECK(e.code() == sturdy::errc::schema_mismatch);
        }
    }
    db.exec("CREATE INDEX invoice_period ON invoice(period)"); // not unique: still refused
    CHECK(has(error_text([&] { db.ledger(sturdy::unique_key{"invoice", {"period"}}); }), "CREATE UNIQUE INDEX"));
    // in any order, schema-qualified, a primary key, a column UNIQUE of its own
    CHECK_NOTHROW(db.ledger(sturdy::unique_key{"invoice", {"period", "subscription_id"}}));
    CHECK_NOTHROW(db.ledger(sturdy::unique_key{"main.invoice", {"subscription_id", "period"}}));
    CHECK_NOTHROW(db.ledger(sturdy::unique_key{"invoice", {"id"}}));
    CHECK_NOTHROW(db.ledger(sturdy::unique_key{"invoice", {"number"}}));
    CHECK_THROWS_AS(db.ledger(sturdy::unique_key{"invoice", {}}), sturdy::usage_error);
}

TEST_CASE("unique-key ledger: the invoice rows are the ledger, with no sturdy_ledger row")
{
    fixture f;
    auto& db = f.db;
    auto ledger = db.ledger(sturdy::unique_key{"invoice", {"subscription_id", "period"}});
    const std::string period = "2026-12";
    const auto policy = GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_item);
    CAPTURE(policy == sturdy::isolation::per_item);
    auto run = [&] {
        return f.subscriptions() |
               sturdy::idempotent_by(ledger, [&](const subscription& s) { return std::tuple(s.id, period); }) |
               sturdy::chunked(db, 6) |
               sturdy::guarded(
                   [&](const subscription& s) {
                       db.execute("INSERT INTO invoice(subscription_id, period, "
                                  "amount_cents) VALUES(?, ?, ?)",
                                  s.id, period, s.amount_cents);
                   },
                   policy) |
               sturdy::drain;
    };
    const auto first = run();
    CHECK(first.done == 20);
    CHECK(first.failed == 0);
    CHECK(f.count("invoice") == 20);
    CHECK(f.count("sturdy_ledger") == 0);
    CHECK(ledger.contains(sturdy::key("7/2026-12")));
    CHECK_FALSE(ledger.contains(sturdy::key("7/2027-01")));
    const auto second = run();
    CHECK(second.done == 0);
    CHECK(second.skipped == 20);
    CHECK(f.count("invoice") == 20);
}

TEST_CASE("unique-key ledger: an effect that returns without writing its row fails, named, and is quarantined")
{
    fixture f;
    auto& db = f.db;
    auto ledger = db.ledger(sturdy::unique_key{"invoice", {"subscription_id", "period"}});
    // Checked once per fast chunk, once per segment on the careful path, after each item alone.
    const auto policy =
        GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_segment, sturdy::isolation::per_item);
    CAPTURE(static_cast<int>(policy));
    auto run = [&] {
        return f.subscriptions() |
               sturdy::idempotent_by(
                   ledger, [](const subscription& s) { return std::tuple(s.id, "2026-12"); },
                   sturdy::quarantine_after{2}) |
               sturdy::chunked(db, 5) |
               sturdy::guarded(
                   [&](const subscription& s) {
                       if (s.id != 7) { // forgets the invoice of subscription 7
                           db.execute("INSERT INTO invoice(subscription_id, period, "
                                      "amount_cents) VALUES(?, ?, ?)",
                                      s.id, "2026-12", s.amount_cents);
                       }
                   },
                   policy) |
               sturdy::drain;
    };
    const auto first = run();
    CHECK(first.done == 19);
    REQUIRE(first.failed == 1);
    CHECK(first.failures[0].item_key == sturdy::key("7/2026-12"));
    CHECK(has(first.failures[0].reason, "returned without writing its row"));
    CHECK(has(first.failures[0].reason, "7/2026-12"));
    CHECK(first.failures[0].kind == sturdy::failure_kind::permanent);
    CHECK(f.count("invoice") == 19);
    REQUIRE(ledger.failures().size() == 1);
    const auto second = run();
    CHECK(second.skipped == 19);
    CHECK(second.failed == 1);
    REQUIRE(ledger.failures().size() == 1);
    CHECK(ledger.failures()[0].quarantined);
    const auto third = run();
    CHECK(third.quarantined == 1);
    CHECK(third.failed == 0);
}

TEST_CASE("unique-key ledger: a violation of its own index is done elsewhere, of another constraint a failure")
{
    fixture f;
    auto& db = f.db;
    auto ledger = db.ledger(sturdy::unique_key{"invoice", {"subscription_id", "period"}});
    const auto policy = GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_item);
    CAPTURE(policy == sturdy::isolation::per_item);
    const auto r = f.subscriptions() |
                   sturdy::idempotent_by(ledger, [](const subscription& s) { return std::tuple(s.id, "2026-12"); }) |
                   sturdy::chunked(db, 5) |
                   sturdy::guarded(
                       [&](const subscription& s) {
                           auto insert = [&](const std::string& number) {
                               db.execute("INSERT INTO invoice(subscription_id, period, number, "
                                          "amount_cents) VALUES(?, '2026-12', ?, ?)",
                                          s.id, number, s.amount_cents);
                           };
                           insert("N" + std::to_string(s.id));
                           if (s.id == 4) { // the same key twice: its own index
                               db.execute("INSERT INTO invoice(subscription_id, period, "
                                          "amount_cents) VALUES(4, '2026-12', 1)");
                           }
                           if (s.id == 9) { // the number of 8's invoice: another index
                               db.execute("INSERT INTO invoice(subscription_id, period, number, "
                                          "amount_cents) VALUES(99, '2026-12', 'N8', 1)");
                           }
                       },
                       policy) |
                   sturdy::drain;
    CHECK(r.done == 18);
    CHECK(r.skipped == 1);
    REQUIRE(r.failed == 1);
    CHECK(r.failures[0].item_key == sturdy::key("9/2026-12"));
    CHECK(has(r.failures[0].reason, "UNIQUE constraint failed: invoice.number"));
    REQUIRE(ledger.failures().size() == 1); // 4 has no failure record
    CHECK(ledger.failures()[0].item_key == sturdy::key("9/2026-12"));
    CHECK(f.count("invoice") == 18); // 4's writes and 9's are rolled back
}

TEST_CASE("unique-key ledger: keys with fewer parts than columns are a usage error; a key of one column")
{
    fixture f;
    auto& db = f.db;
    auto pair = db.ledger(sturdy::unique_key{"invoice", {"subscription_id", "period"}});
    const auto text = error_text([&] { (void)pair.contains(sturdy::key(7)); });
    CHECK(has(text, "the key 7 has 1 part(s)"));
    CHECK(has(text, "the unique key (subscription_id, period) of invoice has 2"));
    auto one = db.ledger(sturdy::unique_key{"invoice", {"number"}, "by-number"});
    CHECK(one.name() == "by-number");
    db.execute("INSERT INTO invoice(subscription_id, period, number, amount_cents) VALUES(1, 'p', 'a/b', 1)");
    CHECK(one.contains(sturdy::key("a/b"))); // one column: the whole key, slashes and all
    CHECK_FALSE(one.contains(sturdy::key("a")));
    std::vector<bool> claimed;
    const std::vector<sturdy::key> keys{"x", "a/b", "x", "y"};
    one.claim_all(keys, claimed);
    CHECK(claimed == std::vector<bool>{true, false, false, true}); // found, and a key given twice
    CHECK(one.confirm_all(std::vector<sturdy::key>{"a/b", "x"}) == 1);
    CHECK(one.confirm_all(std::vector<sturdy::key>{"a/b"}) == 1);
}

TEST_CASE("unique-key ledger: lookups of more keys than one statement holds, quoted names")
{
    fixture f;
    auto& db = f.db;
    db.exec(
        R"sql(CREATE TABLE "order"("group" INTEGER NOT NULL, "we""ird" TEXT NOT NULL, UNIQUE("we""ird", "group")))sql");
    db.begin();
    for (int i = 0; i < 300; i += 3) {
        db.execute(R"sql(INSERT INTO "order"("group", "we""ird") VALUES(?, 'x'))sql", i);
    }
    db.commit();
    auto ledger = db.ledger(sturdy::unique_key{"order", {"group", "we\"ird"}});
    std::vector<sturdy::key> keys;
    for (int i = 0; i < 300; ++i) {
        keys.emplace_back(std::to_string(i) + "/x");
    }
    std::vector<bool> claimed;
    ledger.claim_all(keys, claimed);
    for (int i = 0; i < 300; ++i) {
        CHECK(claimed[static_cast<std::size_t>(i)] == (i % 3 != 0));
    }
}

TEST_CASE("marker ledger: the marker is written in the chunk's transaction; a failed item's marker is rolled back")
{
    fixture f;
    auto& db = f.db;
    auto ledger = db.ledger(sturdy::marker{"contact", "id", "synced"});
    auto ids = [&] { return db.query<std::int64_t>("SELECT id FROM contact ORDER BY id"); };
    auto run = [&] {
        return ids() | sturdy::idempotent_by(ledger, [](std::int64_t id) { return id; }) | sturdy::chunked(db, 6) |
               sturdy::guarded([&](std::int64_t id) {
                   db.execute("INSERT INTO remote(contact_id, version) VALUES(?, 1)", id);
                   if (id == 11) {
                       throw sturdy::permanent_error("remote refused contact 11");
                   }
               }) |
               sturdy::drain;
    };
    const auto first = run();
    CHECK(first.done == 19);
    CHECK(first.failed == 1);
    CHECK(f.count("remote") == 19);
    CHECK(*db.query_one<std::int64_t>("SELECT count(*) FROM contact WHERE synced IS NOT NULL") == 19);
    CHECK_FALSE(db.query_one<std::optional<std::string>>("SELECT synced FROM contact WHERE id = 11")->has_value());
    CHECK(f.count("sturdy_ledger") == 0);
    const auto second = run();
    CHECK(second.skipped == 19);
    CHECK(second.failed == 1);
}

TEST_CASE("marker ledger, versioned: a new version runs again; an id with no row fails, named")
{
    fixture f;
    auto& db = f.db;
    auto ledger = db.ledger(sturdy::marker{"contact", "id", "synced", true});
    struct contact {
        std::int64_t id;
        std::int64_t version;
    };
    auto run = [&](bool ghost) {
        auto rows = db.query<contact>("SELECT id, version FROM contact ORDER BY id");
        if (ghost) {
            rows.push_back({404, 1});
        }
        return rows | sturdy::idempotent_by(ledger, [](const contact& c) { return std::tuple(c.id, c.version); }) |
               sturdy::chunked(db, 8) | sturdy::guarded([&](const contact& c) {
                   db.execute("INSERT INTO remote(contact_id, version) VALUES(?, ?)", c.id, c.version);
               }) |
               sturdy::drain;
    };
    CHECK(run(false).done == 20);
    db.execute("UPDATE contact SET version = 2 WHERE id IN (3, 5)");
    const auto second = run(true);
    CHECK(second.done == 2);
    CHECK(second.skipped == 18);
    REQUIRE(second.failed == 1);
    CHECK(second.failures[0].item_key == sturdy::key("404/1"));
    CHECK(has(second.failures[0].reason, "contact has no row with id = 404"));
    CHECK(f.count("remote") == 22);
    CHECK(*db.query_one<std::string>("SELECT synced FROM contact WHERE id = 3") == "2");
    CHECK(ledger.contains(sturdy::key("3/2")));
    CHECK_FALSE(ledger.contains(sturdy::key("3/1")));
}

TEST_CASE("marker ledger: the id column must be unique, the columns must exist")
{
    fixture f;
    auto& db = f.db;
    CHECK(has(error_text([&] { db.ledger(sturdy::marker{"contact", "name", "synced"}); }), "CREATE UNIQUE INDEX"));
    CHECK(has(error_text([&] { db.ledger(sturdy::marker{"contact", "id", "sync"}); }), "has no column \"sync\""));
    CHECK(has(error_text([&] { db.ledger(sturdy::marker{"contacts", "id", "synced"}); }), "has no table"));
}

TEST_CASE("memory unique-key ledger: the effect's table is the ledger; its unique error is done elsewhere")
{
    sturdy::memory::database db;
    auto& invoices = db.table("invoice");
    auto ledger = db.ledger(sturdy::unique_key{"invoice", {}});
    CHECK(ledger.name() == "invoice");
    const auto policy = GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_item);
    CAPTURE(policy == sturdy::isolation::per_item);
    std::vector<int> items;
    for (int i = 1; i <= 20; ++i) {
        items.push_back(i);
    }
    auto run = [&] {
        return items | sturdy::idempotent_by(ledger, [](int i) { return i; }) | sturdy::chunked(db, 6) |
               sturdy::guarded(
                   [&](int i) {
                       if (i == 7) {
                           return; // forgets its row
                       }
                       invoices.insert(i, "invoice");
                       if (i == 4) {
                           invoices.insert(i, "again"); // its own key: done elsewhere
                       }
                       if (i == 9) {
                           db.table("number").insert(1, "taken"); // another table's key: a failure
                           db.table("number").insert(1, "taken");
                       }
                   },
                   policy) |
               sturdy::drain;
    };
    const auto first = run();
    CHECK(first.done == 17);
    CHECK(first.skipped == 1);
    REQUIRE(first.failed == 2);
    CHECK(first.failures[0].item_key == sturdy::key(7));
    CHECK(has(first.failures[0].reason, "returned without writing its row"));
    CHECK(first.failures[1].item_key == sturdy::key(9));
    CHECK(invoices.size() == 17);
    const auto second = run();
    CHECK(second.skipped == 17 + 1);
    CHECK(second.failed == 2);
}
