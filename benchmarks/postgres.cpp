// Throughput on a real PostgreSQL server (scripts/bench runs it under scripts/with-postgres, over
// the unix socket): sturdy's full pipeline against the loops a user would write by hand. Every
// variant does the same effect for the same items, one prepared INSERT per item into the user
// table `out`; all but BM_pg_fragile also keep the ledger. Each iteration starts from empty
// tables (emptying them is not timed).
//
// Every statement is a round trip to the server, which is what these loops are made of: the
// pipeline claims a chunk's keys in one statement (sturdy::batch_claiming_ledger), so it pays
// the effect's round trip per item and a few per chunk, like the fragile loop.
//
// Items per iteration: STURDY_BENCH_ITEMS / 10 (default 10000; scripts/bench --quick lowers it);
// BM_pg_naive commits per item and runs a tenth of that. Items/s is what is compared.
//
// The invoicing example end to end, on PostgreSQL (benchmarks/examples.cpp has the SQLite pair):
//
// BM_pg_invoicing_job: examples/subscription_invoicing.cpp's own job function, `invoice_due`
// (the example compiled in without its main), chunk 1000, no injected failures, progress lines
// to a sink that drops them; its default ledger, the invoice table's UNIQUE (subscription_id,
// period). On PostgreSQL it reads the due rows through `claim_rows` (each chunk claims its rows
// with FOR NO KEY UPDATE ... SKIP LOCKED in its transaction). BM_pg_invoicing_job_table: the
// same with `ledger_kind::table` (sturdy's own ledger table, sturdy_ledger).
//
// BM_pg_invoicing_hand: the same statements per item by hand on the same kind of connection, in
// one transaction: the due rows read in the same order by a plain SELECT (the claim query's
// columns, FROM, WHERE and ORDER BY, without the ledger's and failure records' exclusions and
// without the row locks) through one cursor (FETCH 1000 rows at a time, as the job claims 1000
// rows at a time), then per item: look the invoice up (SELECT 1 FROM invoice WHERE
// subscription_id = $1 AND period = $2), insert it (INSERT ... RETURNING id, as the example does
// on PostgreSQL), insert its line. No ledger, no savepoint, no error handling.
//
// No poison subscriptions in this pair: the example's --init rule makes every 97th subscription's
// amount negative, so that its line breaks a CHECK; here those amounts are made positive before
// the run (not timed). The SQLite loop by hand catches that failure and goes on, which works on
// SQLite because a failed statement leaves its transaction usable; on PostgreSQL a failed
// statement aborts the transaction, and a loop by hand can go on only with a savepoint per item
// (SAVEPOINT, RELEASE or ROLLBACK TO: two more round trips per item, which is BM_pg_hand_resilient's
// pattern, not the fragile loop's). Without failures the fragile loop needs none, and the job's
// chunks all commit on its fast path, which takes no savepoint either: both do the work that
// succeeds, and nothing is charged for failures neither meets. Both must read the same items
// (the count of due rows, queried before the run): a std::logic_error otherwise.
//
// Data: the example's create_schema and --init rule (init_subscriptions) for STURDY_BENCH_ITEMS
// / 100 subscriptions (1000 by default, at least 40) started 0 to 11 months before 2026-05,
// invoiced through 2026-11: 7 to 18 due periods each (12,252 items for 1000). Each iteration runs
// on a new connection whose search_path is a new schema (as tests/store/fixtures.hpp's
// postgres_schema does), made and dropped outside the timed part.
#define STURDY_EXAMPLE_NO_MAIN
#include <subscription_invoicing.cpp>

#include <sturdy/store/postgres.hpp>
#include <sturdy/sturdy.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {
namespace pg = sturdy::postgres;

std::int64_t items_per_iteration()
{
    static const std::int64_t n = [] {
        const char* env = std::getenv("STURDY_BENCH_ITEMS");
        return std::max<std::int64_t>(10, (env != nullptr ? std::stoll(env) : std::int64_t{100'000}) / 10);
    }();
    return n;
}
std::int64_t slow_items() { return std::max<std::int64_t>(10, items_per_iteration() / 10); }

constexpr const char* insert_sql = "INSERT INTO out(id, v) VALUES($1, $2)";
// The statements sturdy's PostgreSQL ledger runs, written out by the hand loops.
constexpr const char* ledger_contains_sql =
    "SELECT 1 FROM sturdy_ledger WHERE namespace = $1 AND item_key = $2 AND key_is_text = $3";
constexpr const char* ledger_mark_sql =
    "INSERT INTO sturdy_ledger(namespace, item_key, key_is_text, marked_at) VALUES($1, $2, $3, $4)";
constexpr const char* job = "bench";

/// The server's connection string, from scripts/with-postgres.
std::string conninfo()
{
    const char* conninfo = std::getenv("STURDY_TEST_POSTGRES");
    if (conninfo == nullptr) {
        throw std::runtime_error("STURDY_TEST_POSTGRES is not set: run bench_postgres under scripts/with-postgres "
                                 "(scripts/bench does)");
    }
    return conninfo;
}

/// The connection, with the user table and sturdy's tables, made once.
pg::database& connection()
{
    static const std::unique_ptr<pg::database> db = [] {
        auto d = std::make_unique<pg::database>(conninfo());
        d->exec("DROP TABLE IF EXISTS out; "
                "CREATE TABLE out(id bigint PRIMARY KEY, v bigint NOT NULL CHECK (v >= 0))");
        (void)d->ledger(job); // creates the sturdy tables
        return d;
    }();
    return *db;
}

std::int64_t now_seconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Runs `body(db, n)` on empty tables per iteration and reports items/s.
template <class Body> void measure(benchmark::State& state, std::int64_t n, Body body)
{
    auto& db = connection();
    for (auto _ : state) {
        state.PauseTiming();
        db.exec("TRUNCATE out, sturdy_ledger, sturdy_failure");
        state.ResumeTiming();
        body(db, n);
    }
    state.SetItemsProcessed(state.iterations() * n);
    state.counters["items"] = static_cast<double>(n);
}

// --- hand-written loops --------------------------------------------------------------------

/// The fragile loop: one transaction, the effect per item, nothing else (no ledger).
void BM_pg_fragile(benchmark::State& state)
{
    measure(state, items_per_iteration(), [](pg::database& db, std::int64_t n) {
        db.begin();
        for (std::int64_t i = 0; i < n; ++i) {
            db.execute(insert_sql, i, i);
        }
        db.commit();
    });
}

/// The per-record idiom: per item, ledger check, begin, effect, mark, commit.
void BM_pg_naive(benchmark::State& state)
{
    measure(state, slow_items(), [](pg::database& db, std::int64_t n) {
        std::int64_t done = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            if (db.query_one<int>(ledger_contains_sql, job, std::to_string(i), false)) {
                continue;
            }
            db.begin();
            try {
                db.execute(insert_sql, i, i);
                db.execute(ledger_mark_sql, job, std::to_string(i), false, now_seconds());
                db.commit();
                ++done;
            } catch (const sturdy::failure_error&) {
                db.rollback();
            }
        }
        benchmark::DoNotOptimize(done);
    });
}

/// The careful hand-written loop: chunk transactions of 1000, a savepoint per item, the ledger
/// checked and marked per item, a failing item rolled back alone.
void BM_pg_hand_resilient(benchmark::State& state)
{
    measure(state, items_per_iteration(), [](pg::database& db, std::int64_t n) {
        constexpr std::int64_t chunk = 1000;
        std::int64_t done = 0;
        std::int64_t failed = 0;
        for (std::int64_t start = 0; start < n; start += chunk) {
            db.begin();
            const auto now = now_seconds();
            for (std::int64_t i = start; i < std::min(n, start + chunk); ++i) {
                const auto k = std::to_string(i);
                if (db.query_one<int>(ledger_contains_sql, job, k, false)) {
                    continue;
                }
                auto sp = db.savepoint();
                try {
                    db.execute(insert_sql, i, i);
                    db.execute(ledger_mark_sql, job, k, false, now);
                    sp.release();
                    ++done;
                } catch (const sturdy::failure_error&) {
                    sp.rollback();
                    ++failed; // a real loop would record the failure here
                }
            }
            db.commit();
        }
        benchmark::DoNotOptimize(done);
        benchmark::DoNotOptimize(failed);
    });
}

// --- the pipeline --------------------------------------------------------------------------

/// `poison` items per 10,000 fail (a CHECK constraint).
void pipeline(pg::database& db, std::int64_t n, std::size_t chunk, std::int64_t poison)
{
    auto ledger = db.ledger(job);
    const std::int64_t stride = poison > 0 ? 10'000 / poison : 0;
    auto r = std::views::iota(std::int64_t{0}, n) | sturdy::idempotent_by(ledger, [](std::int64_t i) { return i; }) |
             sturdy::chunked(db, chunk) | sturdy::guarded([&](std::int64_t i) {
                 const bool bad = stride > 0 && i % stride == stride / 2;
                 db.execute(insert_sql, i, bad ? -1 : i);
             }) |
             sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::logged_every(10'000, sturdy::discard_sink{}) |
             sturdy::drain;
    if (r.done + r.failed != static_cast<std::size_t>(n)) {
        throw std::logic_error("pipeline: not every item was processed");
    }
    benchmark::DoNotOptimize(r.done);
}

void BM_pg_pipeline(benchmark::State& state)
{
    measure(state, items_per_iteration(), [](pg::database& db, std::int64_t n) { pipeline(db, n, 1000, 0); });
}

void BM_pg_pipeline_poison(benchmark::State& state)
{
    const auto poison = state.range(0);
    measure(state, items_per_iteration(), [&](pg::database& db, std::int64_t n) { pipeline(db, n, 1000, poison); });
}

// --- the invoicing example -----------------------------------------------------------------

constexpr const char* invoicing_start = "2026-05"; // the --init rule's reference month
constexpr const char* invoicing_through = "2026-11";

std::int64_t subscriptions() { return std::max<std::int64_t>(40, items_per_iteration() / 10); }

/// The due rows the job's claims read (examples/subscription_invoicing.cpp, due_items for
/// PostgreSQL), as one plain query in the same order. Built by appending: GCC 12 -O3 warns
/// (-Wrestrict) on "literal" + std::string.
const std::string& due_sql()
{
    static const std::string sql = [] {
        std::string s = "SELECT s.id, s.partner, s.amount_cents, to_char(m, 'YYYY-MM') "
                        "FROM subscription AS s CROSS JOIN LATERAL generate_series(to_date(s.start_period, "
                        "'YYYY-MM'), to_date($1, 'YYYY-MM'), interval '1 month') AS m WHERE s.active <> 0 AND ";
        s += invoicing::postgres_well_formed;
        s += " ORDER BY s.id, m";
        return s;
    }();
    return sql;
}

/// The example's job; returns the items it read.
[[gnu::noinline]] std::int64_t invoicing_job(pg::database& db, invoicing::ledger_kind ledger)
{
    invoicing::options o;
    o.through = invoicing_through;
    o.chunk = 1000;
    o.ledger = ledger;
    sturdy::steady_clock clock;
    const auto r = invoicing::invoice_due(db, o, clock, sturdy::discard_sink{});
    if (r.done != r.seen || r.failed != 0) {
        throw std::logic_error("invoicing job: unexpected report (no item should fail)");
    }
    return static_cast<std::int64_t>(r.seen);
}

/// The same statements per item by hand, in one transaction; returns the items it read.
[[gnu::noinline]] std::int64_t invoicing_hand(pg::database& db)
{
    std::int64_t items = 0;
    db.begin();
    for (const auto& d : db.rows<invoicing::due>(due_sql(), std::string_view(invoicing_through))) {
        ++items;
        if (db.query_one<int>("SELECT 1 FROM invoice WHERE subscription_id = $1 AND period = $2", d.subscription_id,
                              d.period)) {
            continue;
        }
        const auto invoice_id = *db.query_one<std::int64_t>(
            "INSERT INTO invoice(subscription_id, period, amount_cents) VALUES($1, $2, $3) RETURNING id",
            d.subscription_id, d.period, d.amount_cents);
        db.execute("INSERT INTO invoice_line(invoice_id, label, amount_cents) VALUES($1, $2, $3)", invoice_id,
                   fmt::format("{} subscription {}", d.partner, d.period), d.amount_cents);
    }
    db.commit();
    return items;
}

/// A schema of its own and a connection whose search_path is it; the schema is dropped after.
class fresh_schema {
public:
    fresh_schema() : name_(next_name()), db_(with_search_path(name_)) {}
    fresh_schema(const fresh_schema&) = delete;
    fresh_schema& operator=(const fresh_schema&) = delete;
    ~fresh_schema()
    {
        db_.reset();
        try {
            std::string sql = "DROP SCHEMA IF EXISTS ";
            sql += name_;
            sql += " CASCADE";
            admin().exec(sql);
        } catch (...) { // NOLINT(bugprone-empty-catch): a leftover schema dies with the throwaway cluster
        }
    }
    pg::database& db() { return *db_; }

private:
    static pg::database& admin()
    {
        static pg::database a(conninfo());
        return a;
    }
    static std::string next_name()
    {
        static int counter = 0;
        std::string name = "bench_inv_";
        name += std::to_string(::getpid());
        name += '_';
        name += std::to_string(++counter);
        std::string sql = "DROP SCHEMA IF EXISTS ";
        sql += name;
        sql += " CASCADE; CREATE SCHEMA ";
        sql += name;
        admin().exec(sql);
        return name;
    }
    static std::unique_ptr<pg::database> with_search_path(const std::string& name)
    {
        std::string c = conninfo();
        c += c.find('?') == std::string::npos ? '?' : '&';
        c += "options=-csearch_path%3D";
        c += name;
        return std::make_unique<pg::database>(c);
    }

    std::string name_;
    std::unique_ptr<pg::database> db_;
};

/// Runs `body(db)` (returning the items it read) on a fresh invoicing schema per iteration, with
/// no poison subscription; checks that it read every due item and wrote every invoice and line.
template <class Body> void measure_invoicing(benchmark::State& state, Body body)
{
    std::int64_t items = 0;
    for (auto _ : state) {
        state.PauseTiming();
        {
            fresh_schema schema;
            auto& db = schema.db();
            invoicing::create_schema(db);
            invoicing::init_subscriptions(db, subscriptions(), invoicing_start);
            db.execute("UPDATE subscription SET amount_cents = -amount_cents WHERE amount_cents < 0");
            std::string count = "SELECT count(*) FROM (";
            count += due_sql();
            count += ") AS due";
            const auto expected = *db.query_one<std::int64_t>(count, std::string_view(invoicing_through));
            state.ResumeTiming();
            items = body(db);
            state.PauseTiming();
            const auto invoices = *db.query_one<std::int64_t>("SELECT count(*) FROM invoice");
            const auto lines = *db.query_one<std::int64_t>("SELECT count(*) FROM invoice_line");
            if (items != expected || invoices != expected || lines != expected) {
                throw std::logic_error(fmt::format("invoicing: {} due items, {} read, {} invoices, {} lines", expected,
                                                   items, invoices, lines));
            }
        }
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * items);
    state.counters["items"] = static_cast<double>(items);
}

void BM_pg_invoicing_job(benchmark::State& state)
{
    measure_invoicing(state, [](pg::database& db) { return invoicing_job(db, invoicing::ledger_kind::unique_key); });
}
void BM_pg_invoicing_job_table(benchmark::State& state)
{
    measure_invoicing(state, [](pg::database& db) { return invoicing_job(db, invoicing::ledger_kind::table); });
}
void BM_pg_invoicing_hand(benchmark::State& state) { measure_invoicing(state, invoicing_hand); }
} // namespace

BENCHMARK(BM_pg_fragile)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_naive)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_hand_resilient)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_pipeline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_pipeline_poison)->Arg(0)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_invoicing_job)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_invoicing_job_table)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_invoicing_hand)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
