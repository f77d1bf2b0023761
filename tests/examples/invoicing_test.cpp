// The pitfalls of the fragile invoicing job, one test each, on the example's own job code.
#define STURDY_EXAMPLE_NO_MAIN
#include <subscription_invoicing.cpp>

#include "temp_db.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {
using sturdy::sqlite::database;

std::int64_t count(database& db, const char* sql) { return *db.query_one<std::int64_t>(sql); }

void add_subscription(database& db, std::int64_t id, std::int64_t amount, const std::string& start, int active = 1)
{
    db.execute("INSERT INTO subscription(id, partner, amount_cents, start_period, active) VALUES(?, ?, ?, ?, ?)", id,
               "partner-" + std::to_string(id), amount, start, active);
}

invoicing::options through(const std::string& period)
{
    invoicing::options o;
    o.through = period;
    o.chunk = 4;
    o.quarantine_after = 3;
    return o;
}

struct fixture {
    test::temp_dir dir;
    std::string path = dir.file("invoicing.db");
    database db{path};
    sturdy::manual_clock clock;
    std::vector<std::string> log;
    fixture() { invoicing::create_schema(db); }

    sturdy::report run(const invoicing::options& o)
    {
        return invoicing::invoice_due(db, o, clock, [this](sturdy::level, std::string_view m) { log.emplace_back(m); });
    }
    std::int64_t invoices() { return count(db, "SELECT count(*) FROM invoice"); }
    // No invoice twice for a (subscription, period), none without a line, amounts match the lines.
    void check_invariants()
    {
        CHECK(
            count(
                db,
                "SELECT count(*) FROM (SELECT 1 FROM invoice GROUP BY subscription_id, period HAVING count(*) > 1)") ==
            0);
        CHECK(count(db, "SELECT count(*) FROM invoice i WHERE NOT EXISTS (SELECT 1 FROM invoice_line l WHERE "
                        "l.invoice_id = i.id)") == 0);
        CHECK(
            count(db,
                  "SELECT count(*) FROM invoice i WHERE amount_cents != (SELECT sum(amount_cents) FROM invoice_line l "
                  "WHERE l.invoice_id = i.id)") == 0);
    }
};
} // namespace

TEST_CASE("invoicing: one failing subscription fails only itself, its invoice row is rolled back, it is quarantined")
{
    fixture f;
    add_subscription(f.db, 1, 1000, "2025-01");
    add_subscription(f.db, 2, -500, "2025-01"); // poison: the line's CHECK fails after the invoice row was written
    add_subscription(f.db, 3, 2000, "2025-01");
    const auto o = through("2025-02");

    const auto first = f.run(o);
    CHECK(first.done == 4);
    CHECK(first.failed == 2);
    CHECK(first.awaiting_retry == 2);
    CHECK(example::exit_status(first) == example::exit_run_again);
    CHECK(count(f.db, "SELECT count(*) FROM invoice WHERE subscription_id = 2") == 0);
    REQUIRE(!first.failures.empty());
    CHECK(first.failures[0].item_key == sturdy::key("2/2025-01"));
    CHECK(first.failures[0].reason.find("CHECK constraint failed") != std::string::npos);
    f.check_invariants();

    // Retried by later runs, quarantined after the third failed one: then nothing is pending.
    CHECK(f.run(o).awaiting_retry == 2);
    const auto third = f.run(o);
    CHECK(third.quarantined == 2);
    CHECK(example::exit_status(third) == example::exit_ok);
    const auto fourth = f.run(o);
    CHECK(fourth.quarantined == 2);
    CHECK(fourth.failed == 0);
    CHECK(example::exit_status(fourth) == example::exit_ok);

    // Fixed by an operator and requeued from the command line: invoiced.
    f.db.execute("UPDATE subscription SET amount_cents = 500 WHERE id = 2");
    const auto [status, out] =
        test::run_cli(invoicing::run_cli, {"--db", f.path, "--through", "2025-02", "--requeue", "all"});
    CHECK(status == example::exit_ok);
    CHECK(count(f.db, "SELECT count(*) FROM invoice WHERE subscription_id = 2") == 2);
    CHECK(count(f.db, "SELECT count(*) FROM sturdy_failure") == 0);
    f.check_invariants();
}

TEST_CASE("invoicing: a timeout keeps the committed chunks, and the next run does only the rest, without re-sending")
{
    fixture f;
    for (int id = 1; id <= 30; ++id) {
        add_subscription(f.db, id, 100 * id, "2025-01");
    }
    auto o = through("2025-02"); // 60 invoices, chunks of 4
    o.deadline = std::chrono::seconds(12);
    o.fail_rate = 0.3; // transient failures, retried in-run
    o.seed = 7;
    test::ticking_clock slow; // every clock read takes a second
    const auto first = invoicing::invoice_due(f.db, o, slow, sturdy::discard_sink{});
    CHECK(!first.stopped_early.empty());
    CHECK(first.remaining > 0);
    CHECK(first.done > 0);
    CHECK(first.done < 60);
    CHECK(f.invoices() == static_cast<std::int64_t>(first.done));
    CHECK(example::exit_status(first) == example::exit_run_again);

    o.deadline.reset();
    const auto second = f.run(o);
    CHECK(second.skipped == first.done);
    CHECK(second.done == 60 - first.done);
    CHECK(second.retried > 0);
    CHECK(f.invoices() == 60);
    f.check_invariants();
}

TEST_CASE("invoicing: months that were not run are caught up, each once")
{
    fixture f;
    add_subscription(f.db, 1, 1000, "2024-11");
    add_subscription(f.db, 2, 1000, "2025-02");
    add_subscription(f.db, 3, 1000, "2024-01", 0); // inactive: never invoiced
    CHECK(f.run(through("2024-12")).done == 2);    // 1: 2024-11, 2024-12
    // The job did not run for three months.
    const auto r = f.run(through("2025-03"));
    CHECK(r.done == 5); // 1: 2025-01..03, 2: 2025-02..03
    CHECK(r.skipped == 2);
    CHECK(f.db.query<std::string>("SELECT period FROM invoice WHERE subscription_id = 1 ORDER BY period") ==
          std::vector<std::string>{"2024-11", "2024-12", "2025-01", "2025-02", "2025-03"});
    CHECK(count(f.db, "SELECT count(*) FROM invoice WHERE subscription_id = 3") == 0);
    f.check_invariants();
}

TEST_CASE("invoicing: transactions are one chunk long, and another connection writes between them")
{
    fixture f;
    for (int id = 1; id <= 20; ++id) {
        add_subscription(f.db, id, 1000, "2025-01");
    }
    database user(f.path, {.busy_timeout = std::chrono::milliseconds(0)}); // a user who never waits
    int user_writes = 0;
    auto o = through("2025-01");
    o.chunk = 5;
    o.log_every = 5; // a progress line after every chunk's commit
    const auto r = invoicing::invoice_due(f.db, o, f.clock, [&](sturdy::level, std::string_view m) {
        if (m.starts_with("progress")) {
            user.execute("UPDATE subscription SET partner = partner WHERE id = 1"); // throws if the job held the lock
            ++user_writes;
        }
    });
    CHECK(r.chunks == 4);
    CHECK(user_writes == 4);
    CHECK(f.invoices() == 20);
}

TEST_CASE("invoicing: a second run in the same month invoices nothing, and an invoice written by others is kept")
{
    fixture f;
    for (int id = 1; id <= 10; ++id) {
        add_subscription(f.db, id, 1000, "2025-01");
    }
    // Subscription 4's January invoice was written by the fragile job before this one took over.
    f.db.execute("INSERT INTO invoice(id, subscription_id, period, amount_cents) VALUES(1000, 4, '2025-01', 1000)");
    f.db.execute("INSERT INTO invoice_line(invoice_id, label, amount_cents) VALUES(1000, 'old', 1000)");
    auto o = through("2025-01");
    const bool table = GENERATE(false, true);
    CAPTURE(table);
    o.ledger = table ? invoicing::ledger_kind::table : invoicing::ledger_kind::unique_key;
    const auto first = f.run(o);
    if (table) {
        CHECK(first.done == 10); // adopted by the effect, and marked in sturdy_ledger
        CHECK(count(f.db, "SELECT count(*) FROM sturdy_ledger") == 10);
    } else {
        CHECK(first.done == 9); // the invoice table is the ledger: 4's invoice says it is done
        CHECK(first.skipped == 1);
        CHECK(count(f.db, "SELECT count(*) FROM sturdy_ledger") == 0);
    }
    CHECK(f.invoices() == 10);
    const auto second = f.run(o);
    CHECK(second.done == 0);
    CHECK(second.skipped == 10);
    CHECK(f.invoices() == 10);
    f.check_invariants();
}

TEST_CASE("invoicing: an invoice table without UNIQUE (subscription_id, period) is refused, naming the index to add; "
          "--ledger table runs on it")
{
    test::temp_dir dir;
    const auto path = dir.file("legacy.db");
    {
        database db(path);
        db.exec("CREATE TABLE subscription(id INTEGER PRIMARY KEY, partner TEXT NOT NULL, amount_cents INTEGER NOT "
                "NULL, start_period TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);"
                "CREATE TABLE invoice(id INTEGER PRIMARY KEY, subscription_id INTEGER NOT NULL, period TEXT NOT NULL, "
                "amount_cents INTEGER NOT NULL);"
                "CREATE TABLE invoice_line(id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL, label TEXT NOT NULL, "
                "amount_cents INTEGER NOT NULL);"
                "CREATE INDEX invoice_subscription_period ON invoice(subscription_id, period);"
                "INSERT INTO subscription VALUES(1, 'p', 1000, '2025-01', 1)");
        sturdy::manual_clock clock;
        std::string message;
        try {
            (void)invoicing::invoice_due(db, through("2025-02"), clock, sturdy::discard_sink{});
        } catch (const sturdy::failure_error& e) {
            message = e.what();
            CHECK(e.code() == sturdy::errc::schema_mismatch);
        }
        CHECK(message.find("has no unique index on exactly (subscription_id, period)") != std::string::npos);
        CHECK(message.find("CREATE UNIQUE INDEX \"invoice_subscription_id_period\" ON \"invoice\"(\"subscription_id\", "
                           "\"period\")") != std::string::npos);
        CHECK(count(db, "SELECT count(*) FROM invoice") == 0);
    }
    auto [status, out] = test::run_cli(invoicing::run_cli, {"--db", path, "--through", "2025-02"});
    CHECK(status == example::exit_usage); // the store's error: exit 1, the message on stderr
    auto [table_status, table_out] =
        test::run_cli(invoicing::run_cli, {"--db", path, "--through", "2025-02", "--ledger", "table"});
    CHECK(table_status == example::exit_ok);
    database db(path);
    CHECK(count(db, "SELECT count(*) FROM invoice") == 2);
    CHECK(test::run_cli(invoicing::run_cli, {"--db", path, "--ledger", "rows"}).first == example::exit_usage);
}

TEST_CASE("invoicing: under no_commit a test's rollback leaves the file as it was")
{
    fixture f;
    add_subscription(f.db, 1, 1000, "2025-01");
    f.db.begin();
    const auto r = invoicing::invoice_due<sturdy::no_commit>(f.db, through("2025-03"), f.clock, sturdy::discard_sink{});
    CHECK(r.done == 3);
    CHECK(f.invoices() == 3);
    f.db.rollback();
    CHECK(f.invoices() == 0);
    CHECK(count(f.db, "SELECT count(*) FROM sturdy_ledger") == 0);
}

TEST_CASE("invoicing: the command line: --init, the JSON report, exit statuses, and what to do on bad usage")
{
    test::temp_dir dir;
    const auto path = dir.file("cli.db");

    auto [missing, _] = test::run_cli(invoicing::run_cli, {"--db", dir.file("nope.db")});
    CHECK(missing == example::exit_usage);
    CHECK(!std::filesystem::exists(dir.file("nope.db")));
    CHECK(test::run_cli(invoicing::run_cli, {"--init", "5"}).first == example::exit_usage);
    CHECK(test::run_cli(invoicing::run_cli, {"--db", path, "--through", "2025-13"}).first == example::exit_usage);
    CHECK(test::run_cli(invoicing::run_cli, {"--db", path, "--chunk", "0"}).first == example::exit_usage);
    CHECK(test::run_cli(invoicing::run_cli, {"--db", path, "--fail-rate", "2"}).first == example::exit_usage);
    CHECK(test::run_cli(invoicing::run_cli, {"--db", dir.file("no/such/dir.db"), "--init", "3"}).first ==
          example::exit_usage);
    // A path the file system refuses to look up (a name longer than NAME_MAX): the store's error
    // and exit 1, not an exception out of main.
    CHECK(test::run_cli(invoicing::run_cli, {"--db", dir.file(std::string(300, 'x') + ".db")}).first ==
          example::exit_usage);

    // 200 subscriptions: 2 poison (97, 194), 4 inactive; start periods 0..11 months back.
    const std::vector<std::string_view> args{
        "--db", path, "--init", "200", "--through", "2025-06", "--report", "json", "--quarantine-after", "2"};
    auto [status, out] = test::run_cli(invoicing::run_cli, args);
    CHECK(status == example::exit_run_again); // the poison ones await a retry
    const auto last_line = out.substr(out.rfind('\n', out.size() - 2) + 1);
    CHECK(last_line.starts_with("{\"seen\":"));
    for (const auto* k :
         {"\"done\":", "\"skipped\":0", "\"failed\":", "\"retried\":", "\"quarantined\":0", "\"remaining\":0"}) {
        CHECK(last_line.find(k) != std::string::npos);
    }
    auto [again, out2] = test::run_cli(invoicing::run_cli, args); // --init on a full file adds nothing
    CHECK(again == example::exit_ok);
    CHECK(out2.find("\"done\":0,") != std::string::npos);
    database db(path);
    CHECK(count(db, "SELECT count(*) FROM subscription") == 200);
    // Every active healthy subscription i has (i % 12) + 1 invoices.
    CHECK(count(db, "SELECT count(*) FROM invoice") ==
          count(db, "SELECT sum(id % 12 + 1) FROM subscription WHERE active AND amount_cents >= 0"));
    CHECK(count(db, "SELECT count(*) FROM sturdy_failure WHERE quarantined") == 97 % 12 + 1 + 194 % 12 + 1);
    CHECK(test::run_cli(invoicing::run_cli, {"--db", path, "--requeue", "1/2025-06"}).first == example::exit_usage);
}
