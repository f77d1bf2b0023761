// The README's examples, compiled and run as written. Their blocks are extracted from README.md
// at build time (tests/docs/check_docs.py extract); this file supplies what they use: the
// subscription table, `write_invoice`, and the names the loop form takes from its context.
#include "../support.hpp"

#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct subscription {
    std::int64_t id;
    std::string partner;
    std::int64_t amount_cents;
};

const char* const schema = R"sql(
    CREATE TABLE subscription(id INTEGER PRIMARY KEY, partner TEXT NOT NULL, amount_cents INTEGER NOT NULL,
                              active INTEGER NOT NULL);
    CREATE TABLE invoice(subscription_id INTEGER NOT NULL, period TEXT NOT NULL, amount_cents INTEGER NOT NULL,
                         UNIQUE(subscription_id, period));
)sql";

// The invoice of one subscription for one period; a second one breaks the unique constraint.
void write_invoice(sturdy::sqlite::database& db, const subscription& s, const std::string& period)
{
    db.execute("INSERT INTO invoice(subscription_id, period, amount_cents) VALUES(?, ?, ?)", s.id, period,
               s.amount_cents);
}

// The loop form's effect, which the README writes without a period; `fail_at` stops the loop
// with an exception at that subscription.
std::int64_t fail_at = -1;
void write_invoice(sturdy::sqlite::database& db, const subscription& s)
{
    if (s.id == fail_at) {
        throw std::runtime_error("the loop is left here");
    }
    write_invoice(db, s, "2026-11");
}

/// Every row of every table (sturdy's too) as text, read through SQLite's C API: what a person
/// opening the file would see.
std::vector<std::string> dump(const std::string& path)
{
    sqlite3* c = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &c, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    std::vector<std::string> out;
    auto each_row = [&](const std::string& sql, auto&& on_row) {
        sqlite3_stmt* st = nullptr;
        REQUIRE(sqlite3_prepare_v2(c, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            std::string row;
            for (int i = 0; i < sqlite3_column_count(st); ++i) {
                const auto* text = sqlite3_column_text(st, i);
                row += (text != nullptr ? reinterpret_cast<const char*>(text) : "NULL") + std::string("|");
            }
            on_row(st, row);
        }
        sqlite3_finalize(st);
    };
    std::vector<std::string> tables;
    each_row("SELECT type, name, sql FROM sqlite_schema ORDER BY name", [&](sqlite3_stmt* st, const std::string& row) {
        out.push_back(row);
        if (std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "table") {
            tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
        }
    });
    for (const auto& t : tables) {
        each_row("SELECT * FROM \"" + t + "\"",
                 [&](sqlite3_stmt*, const std::string& row) { out.push_back(t + ": " + row); });
    }
    sqlite3_close(c);
    std::sort(out.begin(), out.end());
    return out;
}

std::string bytes_of(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A database file with `n` active subscriptions, closed (so its WAL is checkpointed into it).
std::string fresh_file(const test::temp_dir& dir, int n)
{
    const auto path = dir.file("jobs.db");
    sturdy::sqlite::database db(path);
    db.exec(schema);
    for (int i = 1; i <= n; ++i) {
        db.execute("INSERT INTO subscription(id, partner, amount_cents, active) VALUES(?, ?, ?, 1)", i,
                   "partner-" + std::to_string(i), 1000 + i);
    }
    return path;
}

#include "readme_invoice_month.inc"

} // namespace

TEST_CASE("README: invoice_month<no_commit> inside the caller's transaction leaves the file exactly as before")
{
    test::temp_dir dir;
    const auto path = fresh_file(dir, 450);
    {
        // Subscription 7 was invoiced for 2026-11 by hand: its item fails (the unique constraint)
        // and is rolled back alone, on a file that has no sturdy tables yet, so the run creates
        // them inside the caller's transaction and reads the subscriptions on that connection.
        sturdy::sqlite::database db(path);
        db.execute("INSERT INTO invoice(subscription_id, period, amount_cents) VALUES(7, '2026-11', 1)");
    }
    const auto rows_before = dump(path);
    const auto bytes_before = bytes_of(path);
    {
        sturdy::sqlite::database db(path);
        auto run = [&] {
#include "readme_invoice_month_test.inc"
            return r;
        };
        const auto r = run();
        CHECK(r.done == 449); // the run did invoice, inside the transaction the caller rolled back
        CHECK(r.failed == 1);
        CHECK(r.stopped_early.empty());
    }
    CHECK(dump(path) == rows_before);
    CHECK(bytes_of(path) == bytes_before);

    // The same code with the default policy commits, and a second run skips everything but
    // the failing subscription, which it tries again.
    {
        sturdy::sqlite::database db(path);
        const auto first = invoice_month(db, "2026-11");
        CHECK(first.done == 449);
        CHECK(first.failed == 1);
        const auto again = invoice_month(db, "2026-11");
        CHECK(again.done == 0);
        CHECK(again.skipped == 449);
        CHECK(again.failed == 1);
        CHECK(*db.query_one<std::int64_t>("SELECT count(*) FROM invoice WHERE period = '2026-11'") == 450);
    }
    CHECK(dump(path) != rows_before);
}

TEST_CASE("README: the loop form marks and commits every 200; leaving it early keeps the finished chunks")
{
    test::temp_dir dir;
    const auto path = fresh_file(dir, 0);
    sturdy::sqlite::database db(path);
    std::vector<subscription> subscriptions;
    for (std::int64_t id = 1; id <= 450; ++id) {
        subscriptions.push_back({id, "partner", 1000});
    }
    auto ledger = db.ledger("invoice");
    auto key = [](const subscription& s) { return s.id; };
    auto invoices = [&] { return *db.query_one<std::int64_t>("SELECT count(*) FROM invoice"); };

    fail_at = 250;
    auto loop = [&] {
#include "readme_loop_form.inc"
    };
    CHECK_THROWS_WITH(loop(), "the loop is left here");
    CHECK(invoices() == 200); // the first chunk committed, the second rolled back

    fail_at = -1;
    loop();
    CHECK(invoices() == 450);
    loop(); // every key is in the ledger: nothing is written twice (the unique constraint would throw)
    CHECK(invoices() == 450);
}
