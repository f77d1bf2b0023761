// sturdy/testing/rollback_scope.hpp: a no_commit job run inside the scope, against a real SQLite
// file (examples/subscription_invoicing.cpp's job), leaves the file as it was.
#define STURDY_EXAMPLE_NO_MAIN
#include <subscription_invoicing.cpp>

#include <sturdy/store/memory.hpp>
#include <sturdy/store/sqlite.hpp>
#include <sturdy/testing.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace {
struct temp_file {
    std::string path =
        (std::filesystem::temp_directory_path() / ("sturdy-rollback-scope-" + std::to_string(::getpid()) + ".db"))
            .string();
    temp_file() = default;
    temp_file(const temp_file&) = delete;
    ~temp_file()
    {
        for (const char* suffix : {"", "-wal", "-shm"}) {
            std::error_code ec;
            std::filesystem::remove(path + suffix, ec);
        }
    }
};

/// Every row of the tables the job writes, as text.
std::vector<std::string> contents(sturdy::sqlite::database& db)
{
    std::vector<std::string> rows;
    for (const char* sql :
         {"SELECT 'invoice', id, subscription_id, period, amount_cents FROM invoice ORDER BY id",
          "SELECT 'line', id, invoice_id, label, amount_cents FROM invoice_line ORDER BY id",
          "SELECT 'ledger', namespace, item_key, 0, 0 FROM sturdy_ledger ORDER BY 2, 3",
          "SELECT 'failure', namespace, item_key, runs, quarantined FROM sturdy_failure ORDER BY 2, 3"}) {
        for (const auto& [a, b, c, d, e] :
             db.query<std::tuple<std::string, std::string, std::string, std::string, std::string>>(sql)) {
            rows.push_back(a + "|" + b + "|" + c + "|" + d + "|" + e);
        }
    }
    return rows;
}
} // namespace

TEST_CASE("rollback_scope: a no_commit job on a real SQLite file leaves it as it was")
{
    temp_file f;
    sturdy::sqlite::database db(f.path);
    invoicing::create_schema(db);
    invoicing::init_subscriptions(db, 30, "2026-03");
    sturdy::manual_clock clock;
    invoicing::options o;
    o.through = "2026-03";
    o.chunk = 7;
    invoicing::invoice_due(db, o, clock, sturdy::discard_sink{}); // some committed work to keep
    db.execute("INSERT INTO subscription(id, partner, amount_cents, start_period) VALUES(100, 'p', 500, '2026-01')");
    const auto before = contents(db);
    REQUIRE(!before.empty());
    {
        sturdy::testing::rollback_scope scope(db);
        const auto r = invoicing::invoice_due<sturdy::no_commit>(db, o, clock, sturdy::discard_sink{});
        CHECK(r.done == 3);                         // subscription 100, for 2026-01 .. 2026-03
        CHECK(contents(db).size() > before.size()); // visible inside the scope
    }
    CHECK(!db.in_transaction());
    CHECK(contents(db) == before);
    sturdy::sqlite::database other(f.path); // and from another connection: nothing was committed
    CHECK(contents(other) == before);
}

TEST_CASE("rollback_scope: an exception leaving the scope rolls back too")
{
    sturdy::memory::database db;
    try {
        sturdy::testing::rollback_scope scope(db);
        db.table("t").put(1, "x");
        throw std::runtime_error("a failed assertion, say");
    } catch (const std::runtime_error&) {
    }
    CHECK(!db.in_transaction());
    CHECK(db.table("t").size() == 0);
}

TEST_CASE("rollback_scope: refuses to start inside a transaction it did not open")
{
    sturdy::memory::database db;
    db.begin();
    CHECK_THROWS_AS(sturdy::testing::rollback_scope(db), sturdy::usage_error);
    CHECK(db.in_transaction()); // left alone
}
