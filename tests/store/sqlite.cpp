#include "../support.hpp"

#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

using namespace std::chrono_literals;
namespace sqlite = sturdy::sqlite;
namespace fs = std::filesystem;

namespace {

using test::temp_dir;

struct subscription {
    std::int64_t id;
    std::string partner;
    std::int64_t amount_cents;
};

const char* const schema = R"sql(
    CREATE TABLE subscription(id INTEGER PRIMARY KEY, partner TEXT NOT NULL, amount_cents INTEGER NOT NULL);
    CREATE TABLE invoice(id INTEGER PRIMARY KEY, subscription_id INTEGER NOT NULL, period TEXT NOT NULL,
                         UNIQUE(subscription_id, period));
    CREATE TABLE invoice_line(invoice_id INTEGER NOT NULL REFERENCES invoice(id),
                              amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0));
)sql";

void add_subscriptions(sqlite::database& db, int n, std::optional<int> poison = std::nullopt)
{
    db.begin();
    for (int i = 1; i <= n; ++i) {
        db.execute("INSERT INTO subscription(id, partner, amount_cents) VALUES(?, ?, ?)", i,
                   "partner " + std::to_string(i), i == poison ? -1 : i * 100);
    }
    db.commit();
}

std::vector<subscription> all_subscriptions(sqlite::database& db)
{
    return db.query<subscription>("SELECT id, partner, amount_cents FROM subscription ORDER BY id");
}

/// The invoice and its line: the line's CHECK fails for a negative amount, after the invoice row
/// was written.
void write_invoice(sqlite::database& db, const subscription& s, std::string_view period)
{
    db.execute("INSERT INTO invoice(subscription_id, period) VALUES(?, ?)", s.id, period);
    db.execute("INSERT INTO invoice_line(invoice_id, amount_cents) VALUES(?, ?)", db.last_insert_rowid(),
               s.amount_cents);
}

std::int64_t count(sqlite::database& db, const std::string& table)
{
    return *db.query_one<std::int64_t>("SELECT count(*) FROM " + table);
}

/// Every row of every table, as text: two equal dumps mean equal contents.
std::vector<std::string> dump(sqlite::database& db)
{
    std::vector<std::string> out;
    for (const auto& table :
         db.query<std::string>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")) {
        out.push_back("table " + table);
        std::vector<std::string> rows;
        auto& s = db.prepare("SELECT * FROM " + table);
        while (s.step()) {
            std::string row;
            for (int i = 0; i < s.column_count(); ++i) {
                row += s.column<std::optional<std::string>>(i).value_or("NULL") + "|";
            }
            rows.push_back(row);
        }
        s.reset();
        std::ranges::sort(rows);
        out.insert(out.end(), rows.begin(), rows.end());
    }
    return out;
}

std::string file_bytes(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class Fn> sturdy::failure_error failure_of(Fn&& fn)
{
    try {
        fn();
    } catch (const sturdy::failure_error& e) {
        return e;
    }
    FAIL("expected a sturdy::failure_error");
    throw std::logic_error("unreachable");
}

bool contains_text(const std::string& haystack, std::string_view needle)
{
    return haystack.find(needle) != std::string::npos;
}

/// A manual clock whose first sleep runs a callback: the test's way to let another connection
/// go at the exact moment the pipeline backs off, without sleeping.
struct releasing_clock {
    sturdy::manual_clock inner;
    std::function<void()> on_first_sleep;

    [[nodiscard]] sturdy::time_point now() const { return inner.now(); }
    void sleep_for(sturdy::duration d)
    {
        inner.sleep_for(d);
        if (auto release = std::exchange(on_first_sleep, nullptr)) {
            release();
        }
    }
};

} // namespace

static_assert(sturdy::transaction<sqlite::database>);
static_assert(sturdy::failure_ledger<sqlite::ledger>);
static_assert(std::ranges::input_range<sqlite::row_range<subscription>>);

TEST_CASE("sqlite: a new file is in WAL mode with foreign keys on")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    CHECK(db.query_one<std::string>("PRAGMA journal_mode") == "wal");
    CHECK(db.query_one<int>("PRAGMA foreign_keys") == 1);
    CHECK(db.query_one<int>("PRAGMA synchronous") == 1); // NORMAL
    CHECK(db.query_one<int>("PRAGMA busy_timeout") == 5000);
    db.exec(schema);
    const auto e = failure_of([&] { db.execute("INSERT INTO invoice_line(invoice_id, amount_cents) VALUES(99, 1)"); });
    CHECK(contains_text(e.message(), "FOREIGN KEY constraint failed"));
}

TEST_CASE("sqlite: a savepoint released outside a transaction commits to the file")
{
    // Savepoints' semantics, shared by every store: tests/store/suite.cpp.
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec("CREATE TABLE t(v INTEGER)");
    auto sp = db.savepoint();
    CHECK(db.in_transaction());
    db.execute("INSERT INTO t VALUES(8)");
    sp.release();
    CHECK_FALSE(db.in_transaction());
    sqlite::database other(db.path());
    CHECK(other.query<int>("SELECT v FROM t ORDER BY v") == std::vector<int>{8});
}

TEST_CASE("sqlite: the full pipeline isolates a failing item mid-chunk and a second run skips what is done")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec(schema);
    add_subscriptions(db, 25, 13);
    auto ledger = db.ledger("invoice");
    sturdy::manual_clock clock;
    test::captured_log log;
    const std::string period = "2024-05";

    auto run = [&] {
        return db.rows<subscription>("SELECT id, partner, amount_cents FROM subscription ORDER BY id") |
               sturdy::idempotent_by(ledger, [&](const subscription& s) { return std::tuple(s.id, period); }) |
               sturdy::chunked(db, 10) | sturdy::guarded([&](const subscription& s) { write_invoice(db, s, period); }) |
               sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::logged_every(10, log.sink()) |
               sturdy::with_clock(clock) | sturdy::drain;
    };

    const auto first = run();
    CHECK(first.seen == 25);
    CHECK(first.done == 24);
    CHECK(first.failed == 1);
    CHECK(first.chunks == 3);
    REQUIRE(first.failures.size() == 1);
    CHECK(first.failures[0].item_key == sturdy::key("13/2024-05"));
    CHECK(contains_text(first.failures[0].reason, "CHECK constraint failed"));
    CHECK(contains_text(first.failures[0].reason, "(in: INSERT INTO invoice_line"));
    CHECK(first.failures[0].kind == sturdy::failure_kind::permanent);
    CHECK(clock.sleeps.empty()); // a constraint is not retried
    CHECK(count(db, "invoice") == 24);
    CHECK(count(db, "invoice_line") == 24);
    CHECK_FALSE(db.query_one<int>("SELECT 1 FROM invoice WHERE subscription_id = 13")); // its partial write is gone
    CHECK(ledger.size() == 24);
    CHECK_FALSE(ledger.contains("13/2024-05"));
    CHECK_FALSE(db.in_transaction());

    // What was committed is in the file, as another connection sees it.
    sqlite::database reader(db.path());
    CHECK(count(reader, "invoice") == 24);

    const auto second = run();
    CHECK(second.seen == 25);
    CHECK(second.skipped == 24);
    CHECK(second.done == 0);
    CHECK(second.failed == 1);
    CHECK(count(db, "invoice") == 24);
}

TEST_CASE("sqlite: the lazy rows range feeds a pipeline that commits chunks while the cursor is open")
{
    // WAL reads through a second connection; a rollback journal reads on the writing one.
    const auto journal = GENERATE(sqlite::journal_mode::wal, sqlite::journal_mode::delete_);
    CAPTURE(journal == sqlite::journal_mode::wal ? "wal" : "delete");
    temp_dir dir;
    sqlite::options opts;
    opts.journal = journal;
    sqlite::database db(dir.file("jobs.db"), opts);
    db.exec(schema);
    add_subscriptions(db, 95);
    auto ledger = db.ledger("invoice");
    // The effect writes to the table the cursor reads, and to others; chunks commit mid-read.
    const auto r = db.rows<subscription>(
                       "SELECT id, partner, amount_cents FROM subscription WHERE amount_cents > ? ORDER BY id", 0) |
                   sturdy::idempotent_by(ledger, [](const subscription& s) { return s.id; }) | sturdy::chunked(db, 7) |
                   sturdy::guarded([&](const subscription& s) {
                       write_invoice(db, s, "2024-06");
                       db.execute("UPDATE subscription SET partner = partner || ' (invoiced)' WHERE id = ?", s.id);
                   }) |
                   sturdy::drain;
    CHECK(r.seen == 95);
    CHECK(r.done == 95);
    CHECK(r.chunks == 14);
    CHECK(count(db, "invoice") == 95);
    CHECK(ledger.size() == 95);
    CHECK(*db.query_one<std::int64_t>("SELECT count(*) FROM subscription WHERE partner LIKE '%(invoiced)'") == 95);

    SECTION("the range reads rows into aggregates, tuples and single columns")
    {
        std::vector<std::int64_t> ids;
        for (const auto& [id, partner] :
             db.rows<std::tuple<int, std::string>>("SELECT id, partner FROM subscription WHERE id <= 3 ORDER BY id")) {
            ids.push_back(id);
            CHECK(contains_text(partner, "partner"));
        }
        CHECK(ids == std::vector<std::int64_t>{1, 2, 3});
        auto range = db.rows<int>("SELECT id FROM subscription WHERE id > ? ORDER BY id", std::string("93"));
        std::vector<int> tail;
        for (const int id : range) {
            tail.push_back(id);
        }
        CHECK(tail == std::vector<int>{94, 95});
        CHECK(range.begin() == range.end()); // single-pass: a second walk finds it consumed
        CHECK(db.query<int>("SELECT id FROM subscription WHERE id > ? ORDER BY id", 93) == std::vector<int>{94, 95});
    }
}

TEST_CASE("sqlite: no_commit inside a test transaction leaves the file exactly as before after rollback")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec(schema);
    add_subscriptions(db, 30, 4);
    auto ledger = db.ledger("invoice");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const auto before = dump(db);
    const auto bytes_before = file_bytes(db.path());

    db.begin();
    // A fixture written inside the test's transaction: the rows range reads it.
    db.execute("INSERT INTO subscription(id, partner, amount_cents) VALUES(31, 'fixture', 3100)");
    const auto r = db.rows<subscription>("SELECT id, partner, amount_cents FROM subscription ORDER BY id") |
                   sturdy::idempotent_by(ledger, [](const subscription& s) { return s.id; }) |
                   sturdy::chunked<sturdy::no_commit>(db, 8) |
                   sturdy::guarded([&](const subscription& s) { write_invoice(db, s, "2024-07"); }) | sturdy::drain;
    CHECK(r.done == 30);
    CHECK(r.failed == 1);
    CHECK(db.in_transaction());
    CHECK(count(db, "invoice") == 30); // visible inside the test's transaction
    db.rollback();

    CHECK(dump(db) == before);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    CHECK(file_bytes(db.path()) == bytes_before);
}

TEST_CASE("sqlite: a write lock held by another connection is a transient failure, and the pipeline waits it out")
{
    temp_dir dir;
    sqlite::options quick;
    quick.busy_timeout = 1ms;
    sqlite::database db(dir.file("jobs.db"), quick);
    db.exec(schema);
    add_subscriptions(db, 25);
    auto ledger = db.ledger("invoice");
    sqlite::database other(db.path());
    other.begin(); // BEGIN IMMEDIATE: holds the write lock

    SECTION("a write fails quickly with a transient code, and succeeds once the lock is gone")
    {
        const auto started = std::chrono::steady_clock::now();
        const auto e = failure_of([&] { db.execute("INSERT INTO invoice(subscription_id, period) VALUES(1, 'x')"); });
        CHECK(std::chrono::steady_clock::now() - started < 1s);
        CHECK(e.code().category() == sqlite::sqlite_category());
        CHECK((e.code().value() & 0xff) == SQLITE_BUSY);
        CHECK(sturdy::is_transient(e.code()));
        CHECK(contains_text(e.message(), "database is locked (in: INSERT INTO invoice"));
        CHECK_THROWS_AS(db.begin(), sturdy::failure_error);
        CHECK_FALSE(db.in_transaction());

        other.rollback();
        CHECK(db.execute("INSERT INTO invoice(subscription_id, period) VALUES(1, 'x')") == 1);
    }
    SECTION("the first chunk's BEGIN hits the lock; the backoff releases it; nothing is lost or doubled")
    {
        releasing_clock clock;
        clock.on_first_sleep = [&] { other.rollback(); };
        const auto r =
            all_subscriptions(db) | sturdy::idempotent_by(ledger, [](const subscription& s) { return s.id; }) |
            sturdy::chunked(db, 10) | sturdy::guarded([&](const subscription& s) { write_invoice(db, s, "2024-08"); }) |
            sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::with_clock(clock) | sturdy::drain;
        CHECK(clock.inner.sleeps.size() == 1);
        CHECK_FALSE(other.in_transaction());
        CHECK(r.done == 25);
        CHECK(r.failed == 0);
        CHECK(r.retried == 1);
        CHECK(r.chunks == 3);
        CHECK(count(db, "invoice") == 25);
        CHECK(*db.query_one<std::int64_t>("SELECT count(DISTINCT subscription_id) FROM invoice") == 25);
        CHECK(ledger.size() == 25);
    }
}

TEST_CASE("sqlite: a constraint violation is permanent and names SQLite's message and the statement")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec(schema);
    db.execute("INSERT INTO invoice(id, subscription_id, period) VALUES(1, 1, 'p')");
    const auto e =
        failure_of([&] { db.execute("INSERT INTO invoice_line(invoice_id, amount_cents) VALUES(?, ?)", 1, -5); });
    CHECK(e.code() == sqlite::make_error_code(SQLITE_CONSTRAINT_CHECK));
    CHECK_FALSE(sturdy::is_transient(e.code()));
    CHECK(e.message() == "CHECK constraint failed: amount_cents >= 0 (in: INSERT INTO invoice_line(invoice_id, "
                         "amount_cents) VALUES(?, ?))");

    auto ledger = db.ledger("job");
    ledger.mark(7);
    const auto dup = failure_of([&] { ledger.mark(7); });
    CHECK((dup.code().value() & 0xff) == SQLITE_CONSTRAINT);
    CHECK_FALSE(sturdy::is_transient(dup.code()));
    CHECK(contains_text(dup.message(), "UNIQUE constraint failed"));

    const auto syntax = failure_of([&] { db.execute("INSERT INTO nowhere VALUES(1)"); });
    CHECK(contains_text(syntax.message(), "no such table: nowhere (in: INSERT INTO nowhere VALUES(1))"));
}

namespace {
/// `hit` (a statement with one parameter) meets a condition no item can get past. Alone, it
/// fails with `expected`, classified fatal. As the effect of items 5..20 of a run over a
/// ledger, in chunks of 8, after items 1..4 wrote to table `good`: the run must stop at item 5
/// with `reason` in its report, keep items 1..4 and record no failure (five runs would
/// otherwise quarantine every item).
void check_stops_at_once(sqlite::database& db, const std::string& hit, std::error_code expected,
                         std::string_view reason)
{
    const auto e = failure_of([&] { db.execute(hit, 0); });
    CHECK(e.code() == expected);
    CHECK(sturdy::kind_of(e.code()) == sturdy::failure_kind::fatal);
    CHECK(contains_text(e.message(), reason));

    auto ledger = db.ledger("job");
    db.exec("CREATE TABLE IF NOT EXISTS good(v INTEGER PRIMARY KEY)");
    const auto r = std::views::iota(1, 21) | sturdy::idempotent_by(ledger, [](int v) { return v; }) |
                   sturdy::chunked(db, 8) | sturdy::guarded([&](int v) {
                       if (v < 5) {
                           db.execute("INSERT INTO good(v) VALUES(?)", v);
                       } else {
                           db.execute(hit, v);
                       }
                   }) |
                   sturdy::drain;
    CHECK(r.done == 4);
    CHECK(r.failed == 0);
    CHECK(r.remaining == 16);
    CHECK(r.failures.empty());
    INFO(r.stopped_early);
    CHECK(r.stopped_early.starts_with("stopped: "));
    CHECK(contains_text(r.stopped_early, reason));
    CHECK_FALSE(db.in_transaction());
    CHECK(ledger.failures().empty());
    CHECK(ledger.size() == 4);
    CHECK(count(db, "good") == 4);
}
} // namespace

TEST_CASE("sqlite: a missing table or column is fatal: the run stops at once and records no failure")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec("CREATE TABLE invoice(id INTEGER PRIMARY KEY, amount INTEGER)");
    const auto missing = sturdy::make_error_code(sturdy::errc::schema_mismatch);
    for (const char* sql : {"UPDATE invoice SET missing = 1", "SELECT missing FROM invoice"}) {
        const auto e = failure_of([&] { db.execute(sql); });
        CHECK(e.code() == missing);
        CHECK(contains_text(e.message(), std::string("no such column: missing (in: ") + sql + ")"));
    }
    // A failing SQL function is SQLITE_ERROR too, and stays permanent: it is one row's bad data.
    const auto bad_json = failure_of([&] { db.query<std::string>("SELECT json_extract('{', '$.a')"); });
    CHECK(bad_json.code() == sqlite::make_error_code(SQLITE_ERROR));
    CHECK(sturdy::kind_of(bad_json.code()) == sturdy::failure_kind::permanent);

    SECTION("a table")
    {
        check_stops_at_once(db, "INSERT INTO invoice_line(invoice_id) VALUES(?)", missing,
                            "no such table: invoice_line (in: INSERT INTO invoice_line");
    }
    SECTION("a column")
    {
        check_stops_at_once(db, "INSERT INTO invoice(id, currency) VALUES(?, 'EUR')", missing,
                            "table invoice has no column named currency");
    }
}

TEST_CASE("sqlite: a read-only database is fatal: the run stops at once and records no failure")
{
    temp_dir dir;
    const auto archive = dir.file("archive.db");
    {
        sqlite::options rollback_journal; // a WAL file opened read-only needs its -shm file
        rollback_journal.journal = sqlite::journal_mode::delete_;
        sqlite::database other(archive, rollback_journal);
        other.exec("CREATE TABLE archived(v INTEGER)");
    }
    sqlite::database db(dir.file("jobs.db"));
    // SQLite's own read-only open flag, on the database the effect writes to.
    db.execute("ATTACH DATABASE ? AS archive", "file:" + archive + "?mode=ro");
    check_stops_at_once(db, "INSERT INTO archive.archived(v) VALUES(?)", sqlite::make_error_code(SQLITE_READONLY),
                        "attempt to write a readonly database (in: INSERT INTO archive.archived");
}

TEST_CASE("sqlite: PRAGMA query_only and a database opened read_only fail writes fatally")
{
    temp_dir dir;
    const auto path = dir.file("jobs.db");
    auto write_fails_fatally = [](sqlite::database& db) {
        const auto e = failure_of([&] { db.execute("INSERT INTO t(v) VALUES(1)"); });
        CHECK(e.code() == sqlite::make_error_code(SQLITE_READONLY));
        CHECK(sturdy::is_fatal(e.code()));
    };
    {
        sqlite::database db(path);
        db.exec("CREATE TABLE t(v INTEGER)");
        db.exec("PRAGMA query_only = 1");
        write_fails_fatally(db);
    }
    sqlite::options read_only;
    read_only.read_only = true;
    sqlite::database db(path, read_only);
    write_fails_fatally(db);
}

TEST_CASE("sqlite: a corrupt file is fatal: the run stops at once and records no failure")
{
    temp_dir dir;
    const auto path = dir.file("jobs.db");
    std::int64_t page_size = 0;
    std::int64_t root_page = 0;
    {
        sqlite::database db(path);
        db.exec("CREATE TABLE damaged(v INTEGER PRIMARY KEY, pad TEXT)");
        db.ledger("job");
        page_size = *db.query_one<std::int64_t>("PRAGMA page_size");
        root_page = *db.query_one<std::int64_t>("SELECT rootpage FROM sqlite_schema WHERE name = 'damaged'");
    } // the last connection closing checkpoints the WAL into the file
    {
        // Garbage over table `damaged`'s root page: no valid b-tree page starts with 0xff.
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp((root_page - 1) * page_size);
        const std::string garbage(static_cast<std::size_t>(page_size), '\xff');
        f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
        REQUIRE(f.good());
    }
    sqlite::database db(path);
    check_stops_at_once(db, "INSERT INTO damaged(v) VALUES(?)", sqlite::make_error_code(SQLITE_CORRUPT),
                        "database disk image is malformed (in: INSERT INTO damaged");
}

TEST_CASE("sqlite: a full disk is fatal: the run stops at once and records no failure")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec("CREATE TABLE big(v INTEGER PRIMARY KEY, payload BLOB)");
    db.exec("CREATE TABLE good(v INTEGER PRIMARY KEY)");
    db.ledger("job");
    // The file may not grow by a page: small rows still fit in the pages it has, a large blob does not.
    db.exec("PRAGMA max_page_count = " + std::to_string(*db.query_one<std::int64_t>("PRAGMA page_count")));
    check_stops_at_once(db, "INSERT INTO big(v, payload) VALUES(?, zeroblob(100000))",
                        sqlite::make_error_code(SQLITE_FULL), "database or disk is full (in: INSERT INTO big");
}

TEST_CASE("sqlite: opening bad paths fails with what to do, and touches nothing")
{
    temp_dir dir;
    SECTION("a missing directory")
    {
        const auto path = (dir.path / "missing" / "jobs.db").string();
        const auto e = failure_of([&] { sqlite::database db(path); });
        CHECK(e.code() == sturdy::errc::store_unavailable);
        CHECK(contains_text(e.message(), path));
        CHECK(contains_text(e.message(), "directory " + (dir.path / "missing").string() +
                                             " does not exist: create it or pass another --db path"));
        CHECK_FALSE(fs::exists(dir.path / "missing"));
    }
    SECTION("a file that does not exist, without create")
    {
        sqlite::options no_create;
        no_create.create = false;
        const auto e = failure_of([&] { sqlite::database db(dir.file("absent.db"), no_create); });
        CHECK(e.code() == sturdy::errc::store_unavailable);
        CHECK_FALSE(fs::exists(dir.file("absent.db")));
    }
    SECTION("a file that is not a database is left byte for byte as it was")
    {
        const auto path = dir.file("notes.txt");
        std::string garbage;
        for (int i = 0; i < 400; ++i) {
            garbage += "this is not a database, line " + std::to_string(i) + "\n";
        }
        std::ofstream(path, std::ios::binary) << garbage;
        const auto e = failure_of([&] { sqlite::database db(path); });
        CHECK(e.code() == sturdy::errc::store_unavailable);
        CHECK(contains_text(e.message(), path));
        CHECK(contains_text(e.message(), "file is not a database"));
        CHECK(contains_text(e.message(), "pass the path of an SQLite database"));
        CHECK(file_bytes(path) == garbage);
        CHECK_FALSE(fs::exists(path + "-wal"));
        CHECK_FALSE(fs::exists(path + "-journal"));
    }
    SECTION("a read-only file")
    {
        const auto path = dir.file("jobs.db");
        {
            sqlite::database db(path);
            db.exec("CREATE TABLE t(v INTEGER)");
        }
        fs::remove(path + "-wal");
        fs::remove(path + "-shm");
        ::chmod(path.c_str(), 0444);
        if (::geteuid() == 0) {
            WARN("running as root: file permissions do not stop root writing, so the chmod 0444 check is skipped; "
                 "the read_only option is checked instead");
        } else {
            const auto e = failure_of([&] { sqlite::database db(path); });
            CHECK(e.code() == sturdy::errc::store_unavailable);
            CHECK(contains_text(e.message(), "read-only"));
        }
        sqlite::options read_only;
        read_only.read_only = true;
        sqlite::database db(path, read_only);
        CHECK(db.query<int>("SELECT v FROM t").empty());
        const auto e = failure_of([&] { db.execute("INSERT INTO t VALUES(1)"); });
        CHECK(contains_text(e.message(), "readonly database (in: INSERT INTO t VALUES(1))"));
        CHECK_FALSE(sturdy::is_transient(e.code()));
    }
}

TEST_CASE("sqlite: integer keys are stored as integers, text keys as text")
{
    // The rest of the ledger's and failure records' behaviour: tests/store/suite.cpp.
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    auto ledger = db.ledger("sync");
    ledger.mark(5);
    ledger.mark("5");
    CHECK(ledger.size() == 2);
    CHECK(*db.query_one<std::string>("SELECT typeof(item_key) FROM sturdy_ledger WHERE item_key = 5") == "integer");
    CHECK(*db.query_one<std::string>("SELECT typeof(item_key) FROM sturdy_ledger WHERE item_key = '5'") == "text");
}

TEST_CASE("sqlite: checkpoints are written in the current transaction and survive reopening")
{
    temp_dir dir;
    const auto path = dir.file("jobs.db");
    {
        sqlite::database db(path);
        CHECK_FALSE(db.checkpoint("contacts"));
        db.begin();
        db.set_checkpoint("contacts", "2024-05-01T00:00:00");
        CHECK(db.checkpoint("contacts") == "2024-05-01T00:00:00");
        db.rollback();
        CHECK_FALSE(db.checkpoint("contacts"));
        db.set_checkpoint("contacts", "2024-05-02");
        db.set_checkpoint("contacts", "2024-05-03");
        db.set_checkpoint("orders", "17");
    }
    sqlite::database db(path);
    CHECK(db.checkpoint("contacts") == "2024-05-03");
    CHECK(db.checkpoint("orders") == "17");
}

TEST_CASE("sqlite: the sturdy tables carry a schema version; a newer one is refused")
{
    temp_dir dir;
    const auto path = dir.file("jobs.db");
    {
        sqlite::database db(path);
        db.ledger("x");
        CHECK(db.query<int>("SELECT version FROM sturdy_schema") == std::vector<int>{sqlite::database::schema_version});
        db.ledger("y"); // created once
        CHECK(count(db, "sturdy_schema") == 1);
    }
    {
        sqlite::database db(path); // the same version opens
        db.execute("UPDATE sturdy_schema SET version = 999");
    }
    const auto e = failure_of([&] { sqlite::database db(path); });
    CHECK(e.code() == sturdy::errc::schema_mismatch);
    CHECK(contains_text(e.message(), "schema version 999"));
    CHECK(contains_text(e.message(), "upgrade sturdy"));
}

TEST_CASE("sqlite: sturdy tables created inside a transaction that is rolled back are created again")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.begin();
    auto ledger = db.ledger("job");
    db.rollback();
    ledger.mark(1);
    CHECK(ledger.contains(1));
}

TEST_CASE("sqlite: on a fresh file, the sturdy tables created in the caller's transaction do not break a read "
          "when an item fails")
{
    temp_dir dir;
    const auto path = dir.file("jobs.db");
    {
        sqlite::database setup(path);
        setup.exec("CREATE TABLE item(id INTEGER PRIMARY KEY); CREATE TABLE done(id INTEGER PRIMARY KEY)");
        for (int i = 1; i <= 100; ++i) {
            setup.execute("INSERT INTO item(id) VALUES(?)", i);
        }
    }
    sqlite::database db(path);
    db.begin();
    auto ledger = db.ledger("job"); // creates the sturdy tables inside this transaction
    std::vector<std::int64_t> effects;
    const auto r = db.rows<std::int64_t>("SELECT id FROM item ORDER BY id") |
                   sturdy::idempotent_by(ledger, [](std::int64_t id) { return id; }) |
                   sturdy::chunked<sturdy::no_commit>(db, 10) | sturdy::guarded([&](std::int64_t id) {
                       db.execute("INSERT INTO done(id) VALUES(?)", id);
                       if (id % 30 == 0) {
                           throw sturdy::permanent_error("item " + std::to_string(id) + " fails");
                       }
                       effects.push_back(id);
                   }) |
                   sturdy::drain;
    // Each ROLLBACK TO of a failed item would have aborted a read pending on this connection.
    CHECK(r.seen == 100);
    CHECK(r.done == 97);
    CHECK(r.failed == 3);
    CHECK(count(db, "done") == 97);
    db.rollback();
    CHECK(count(db, "done") == 0);
    CHECK(db.ledger("job").size() == 0);

    SECTION("a read already pending when the tables would be created is refused, with the fix")
    {
        sqlite::database fresh(dir.file("other.db"));
        fresh.exec("CREATE TABLE item(id INTEGER PRIMARY KEY); INSERT INTO item(id) VALUES(1), (2)");
        fresh.begin();
        auto rows = fresh.rows<std::int64_t>("SELECT id FROM item");
        auto it = rows.begin();
        CHECK(*it == 1);
        CHECK_THROWS_WITH(fresh.ledger("job"), Catch::Contains("call ledger() or checkpoint() before reading"));
        fresh.rollback();
    }
}

TEST_CASE("sqlite: the store forgets sturdy tables exactly when the rollback that undoes them happens")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    auto tables = [&] { return count(db, "sqlite_schema WHERE name LIKE 'sturdy_%'"); };
    auto ledger_works = [&] {
        CHECK(db.ledger("job").claim(1));
        CHECK(db.checkpoint("cp") == std::nullopt);
    };

    SECTION("created in a savepoint that is rolled back")
    {
        db.begin();
        auto chunk = db.savepoint();
        auto ledger = db.ledger("job");
        chunk.rollback();
        CHECK(tables() == 0);
        CHECK(ledger.claim(1));
        db.commit();
        CHECK(ledger.contains(1));
    }
    SECTION("created in a savepoint that is released, then rolled back with its enclosing one")
    {
        db.begin();
        auto chunk = db.savepoint();
        auto item = db.savepoint();
        auto ledger = db.ledger("job");
        item.release();
        auto next_item = db.savepoint();
        next_item.rollback(); // does not undo the tables
        CHECK(ledger.claim(1));
        chunk.rollback(); // does
        CHECK(tables() == 0);
        CHECK(ledger.claim(2));
        db.commit();
        CHECK(ledger.size() == 1);
    }
    SECTION("created in the transaction, savepoints rolled back, then the transaction")
    {
        db.begin();
        auto ledger = db.ledger("job");
        {
            auto chunk = db.savepoint();
            auto item = db.savepoint();
            ledger.mark(5);
            item.rollback();
            chunk.rollback();
        }
        CHECK(tables() == 4);
        CHECK(ledger.claim(1));
        db.rollback();
        CHECK(tables() == 0);
        ledger_works();
    }
    SECTION("created in the transaction, which is rolled back by a statement the store does not track")
    {
        db.begin();
        db.ledger("job");
        db.exec("ROLLBACK");
        CHECK(tables() == 0);
        ledger_works();
    }
    SECTION("created in the transaction, which is committed by a statement the store does not track")
    {
        db.begin();
        db.ledger("job").mark(3);
        db.exec("COMMIT");
        CHECK(db.ledger("job").contains(3));
        db.begin();
        db.rollback();
        CHECK(tables() == 4);
        ledger_works();
    }
    SECTION("created in the transaction, which commits: no rollback afterwards removes them")
    {
        db.begin();
        db.ledger("job");
        db.commit();
        db.begin();
        db.ledger("job").mark(3);
        db.rollback();
        CHECK(tables() == 4);
        ledger_works();
    }
}

TEST_CASE("sqlite: prepare finds each text's own statement, among recent ones of the same length and beyond them")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    std::vector<sqlite::statement*> first;
    for (int i = 0; i < 20; ++i) { // more texts of one length than prepare() keeps at hand
        first.push_back(&db.prepare("SELECT " + std::to_string(10 + i)));
    }
    for (int round = 0; round < 2; ++round) {
        for (int i = 19; i >= 0; --i) {
            auto& s = db.prepare("SELECT " + std::to_string(10 + i));
            CHECK(&s == first[static_cast<std::size_t>(i)]);
            CHECK(s.sql() == "SELECT " + std::to_string(10 + i));
        }
    }
    CHECK(*db.query_one<int>("SELECT 12") == 12);
    CHECK(*db.query_one<int>("SELECT 13") == 13);
}

TEST_CASE("sqlite: statements are compiled once and cached by their text")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec("CREATE TABLE t(i INTEGER, r REAL, s TEXT, o TEXT)");
    const std::string sql = "INSERT INTO t VALUES(?, ?, ?, ?)";
    auto& first = db.prepare(sql);
    CHECK(&db.prepare(std::string_view(sql)) == &first);
    CHECK(&db.prepare("SELECT 1") != &first);

    const std::optional<std::string> none;
    const std::optional<std::string> some = "o";
    db.execute(sql, 1, 1.5, "c-string", none);
    db.execute(sql, std::int64_t{2}, 2.5f, std::string_view("view"), some);
    db.execute(sql, sturdy::key(3), nullptr, std::string("string"), std::nullopt);
    CHECK(db.last_insert_rowid() == 3);
    using row = std::tuple<int, std::optional<double>, std::string, std::optional<std::string>>;
    const auto rows = db.query<row>("SELECT i, r, s, o FROM t ORDER BY i");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0] == row{1, 1.5, "c-string", std::nullopt});
    CHECK(rows[1] == row{2, 2.5, "view", "o"});
    CHECK(rows[2] == row{3, std::nullopt, "string", std::nullopt});
    CHECK(db.execute("UPDATE t SET s = 'x' WHERE i >= ?", 2) == 2);

    const auto null_read = failure_of([&] { db.query<double>("SELECT r FROM t WHERE i = 3"); });
    CHECK(contains_text(null_read.message(), "is NULL; read it as a std::optional"));
    CHECK_THROWS_AS(db.query<subscription>("SELECT i, s FROM t"), sturdy::usage_error);
}

TEST_CASE("sqlite: another connection may commit between chunks while the lazy rows range is being read")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec(schema);
    add_subscriptions(db, 9);
    auto ledger = db.ledger("invoice");
    sqlite::database other(db.path());
    int other_writes = 0;
    // Progress lines come at chunk boundaries, after a commit: the moment another process writes.
    auto other_writes_now = [&](sturdy::level, std::string_view) {
        other.execute("INSERT INTO invoice(subscription_id, period) VALUES(?, 'other')", 1000 + ++other_writes);
    };
    const auto r = db.rows<subscription>("SELECT id, partner, amount_cents FROM subscription ORDER BY id") |
                   sturdy::idempotent_by(ledger, [](const subscription& s) { return s.id; }) | sturdy::chunked(db, 2) |
                   sturdy::guarded([&](const subscription& s) { write_invoice(db, s, "2024-09"); }) |
                   sturdy::logged_every(1, other_writes_now) | sturdy::drain;
    CHECK(r.done == 9);
    CHECK(r.failed == 0);
    CHECK(r.retried == 0);
    CHECK(other_writes >= 4);
    CHECK(count(db, "invoice") == 9 + other_writes);
    CHECK(ledger.size() == 9);
}

TEST_CASE("sqlite: a watermark pipeline reads only what changed and moves its checkpoint with each chunk")
{
    temp_dir dir;
    sqlite::database db(dir.file("jobs.db"));
    db.exec("CREATE TABLE contact(id INTEGER PRIMARY KEY, write_date INTEGER NOT NULL);"
            "CREATE TABLE pushed(contact_id INTEGER NOT NULL, write_date INTEGER NOT NULL)");
    db.begin();
    for (int id = 1; id <= 12; ++id) {
        db.execute("INSERT INTO contact VALUES(?, ?)", id, 100 + id);
    }
    db.commit();
    auto ledger = db.ledger("contacts");
    struct contact {
        std::int64_t id;
        std::int64_t write_date;
    };
    auto run = [&] {
        const auto since = std::stoll(db.checkpoint("contacts").value_or("0"));
        return db.rows<contact>("SELECT id, write_date FROM contact WHERE write_date >= ? ORDER BY write_date, id",
                                since) |
               sturdy::idempotent_by(ledger, [](const contact& c) { return std::tuple(c.id, c.write_date); }) |
               sturdy::watermark(db, "contacts", [](const contact& c) { return c.write_date; }) |
               sturdy::chunked(db, 5) | sturdy::guarded([&](const contact& c) {
                   db.execute("INSERT INTO pushed VALUES(?, ?)", c.id, c.write_date);
               }) |
               sturdy::drain;
    };
    const auto first = run();
    CHECK(first.done == 12);
    CHECK(db.checkpoint("contacts") == "112");
    CHECK(count(db, "pushed") == 12);

    db.execute("UPDATE contact SET write_date = 200 WHERE id = 3");
    const auto second = run();
    CHECK(second.seen == 2); // the boundary row again (skipped), and the change
    CHECK(second.skipped == 1);
    CHECK(second.done == 1);
    CHECK(db.checkpoint("contacts") == "200");
    CHECK(count(db, "pushed") == 13);
}

TEST_CASE("sqlite: a COMMIT blocked by a reader (rollback journal) rolls the chunk back and retries it")
{
    temp_dir dir;
    sqlite::options opts;
    opts.journal = sqlite::journal_mode::delete_;
    opts.busy_timeout = 1ms;
    sqlite::database db(dir.file("jobs.db"), opts);
    db.exec(schema);
    add_subscriptions(db, 12);
    auto ledger = db.ledger("invoice");
    sqlite::database reader(db.path(), opts);
    reader.exec("BEGIN"); // deferred: the SELECT takes a shared lock, which blocks a writer's COMMIT
    CHECK(count(reader, "invoice") == 0);

    releasing_clock clock;
    clock.on_first_sleep = [&] { reader.rollback(); };
    const auto r =
        all_subscriptions(db) | sturdy::idempotent_by(ledger, [](const subscription& s) { return s.id; }) |
        sturdy::chunked(db, 5) | sturdy::guarded([&](const subscription& s) { write_invoice(db, s, "2024-10"); }) |
        sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::with_clock(clock) | sturdy::drain;
    CHECK(clock.inner.sleeps.size() == 1);
    CHECK(r.done == 12);
    CHECK(r.failed == 0);
    CHECK(r.retried == 1);
    CHECK(count(db, "invoice") == 12);
    CHECK(ledger.size() == 12);
}

TEST_CASE("sqlite: items that fail on their own data reach quarantine though they fail in a row and a failure "
          "budget is set, with an input that leaves done keys out")
{
    // 30 subscriptions whose invoice line fails its CHECK constraint, all the input holds once
    // the good ones are done: a permanent failure is the item's own, so the budget does not
    // count it, and each run records all 30 until quarantine_after runs have passed.
    temp_dir dir;
    sqlite::database db(dir.file("poison.db"));
    db.exec(schema);
    db.begin();
    for (int i = 1; i <= 40; ++i) {
        db.execute("INSERT INTO subscription(id, partner, amount_cents) VALUES(?, ?, ?)", i, "p",
                   i > 10 ? -1 : i * 100);
    }
    db.commit();
    auto ledger = db.ledger("invoice");
    sturdy::manual_clock clock;
    auto run = [&] {
        // Leaves done keys out, as a claiming input or a query joined against the ledger does.
        auto todo =
            db.query<subscription>("SELECT id, partner, amount_cents FROM subscription s WHERE NOT EXISTS "
                                   "(SELECT 1 FROM sturdy_ledger l WHERE l.namespace = 'invoice' AND l.item_key "
                                   "= s.id) ORDER BY id");
        return todo |
               sturdy::idempotent_by(
                   ledger, [](const subscription& s) { return s.id; }, sturdy::quarantine_after{3}) |
               sturdy::chunked(db, 7) |
               sturdy::guarded([&](const subscription& s) { write_invoice(db, s, "2026-12"); }) |
               sturdy::retry_bounded(2, sturdy::backoff::none()) | sturdy::with_clock(clock) |
               sturdy::failure_budget(10) | sturdy::drain;
    };
    const auto first = run();
    CHECK(first.done == 10);
    CHECK(first.failed == 30);
    CHECK(first.stopped_early.empty());
    CHECK(run().awaiting_retry == 30);
    const auto third = run();
    CHECK(third.quarantined == 30);
    CHECK(third.failed == 30);
    const auto fourth = run();
    CHECK(fourth.quarantined == 30);
    CHECK(fourth.failed == 0);
    CHECK_FALSE(fourth.run_again_soon());
    CHECK(ledger.failures().size() == 30);
}

TEST_CASE("sqlite: an outage that trips the failure budget quarantines nothing, even when its streak began in a "
          "chunk already committed")
{
    temp_dir dir;
    sqlite::database db(dir.file("outage.db"));
    db.exec(schema);
    add_subscriptions(db, 20);
    auto ledger = db.ledger("invoice");
    sturdy::manual_clock clock;
    bool down = true;
    auto run = [&] {
        return all_subscriptions(db) |
               sturdy::idempotent_by(
                   ledger, [](const subscription& s) { return s.id; }, sturdy::quarantine_after{2}) |
               sturdy::chunked(db, 5) | sturdy::guarded([&](const subscription& s) {
                   if (down && s.id >= 4) {
                       throw sturdy::transient_error("remote down");
                   }
                   write_invoice(db, s, "2026-12");
               }) |
               sturdy::retry_bounded(2, sturdy::backoff::none()) | sturdy::with_clock(clock) |
               sturdy::failure_budget(3) | sturdy::drain;
    };
    for (int i = 0; i < 5; ++i) {
        const auto r = run();
        CHECK(r.stopped_early.starts_with("failure budget spent: 3 consecutive failures"));
        CHECK(r.failed == 0);
        CHECK(r.quarantined == 0);
        CHECK(r.remaining == 17); // 4 and 5 (the committed chunk's) and 6 given back, 7..20 not reached
        CHECK(ledger.failures().empty());
    }
    down = false;
    const auto after = run();
    CHECK(after.done == 17);
    CHECK(after.skipped == 3);
    CHECK(count(db, "invoice") == 20);
}

TEST_CASE("sqlite: transient failures held for the budget are recorded once an item after them is done")
{
    temp_dir dir;
    sqlite::database db(dir.file("held.db"));
    db.exec(schema);
    add_subscriptions(db, 12);
    auto ledger = db.ledger("invoice");
    sturdy::manual_clock clock;
    std::vector<std::string> failures_seen;
    struct failures_hook {
        std::vector<std::string>* seen;
        void on_failure(const sturdy::failure_record& f) { seen->push_back(f.item_key.str()); }
    };
    const auto r = all_subscriptions(db) | sturdy::idempotent_by(ledger, [](const subscription& s) { return s.id; }) |
                   sturdy::chunked(db, 3) | sturdy::guarded([&](const subscription& s) {
                       if (s.id == 3 || s.id == 4 || s.id == 12) {
                           throw sturdy::transient_error("remote busy");
                       }
                       write_invoice(db, s, "2026-12");
                   }) |
                   sturdy::with_clock(clock) | sturdy::failure_budget(3) | sturdy::hook(failures_hook{&failures_seen}) |
                   sturdy::drain;
    CHECK(r.stopped_early.empty());
    CHECK(r.failed == 3);
    CHECK(r.awaiting_retry == 3);
    CHECK(failures_seen == std::vector<std::string>{"3", "4", "12"}); // 12: at the run's end
    CHECK(ledger.failures().size() == 3);
}
