// Throughput on a real SQLite file: sturdy's full pipeline against the loops a user would write
// by hand. Every variant does the same writes for the same items: one row per item in the user
// table `out`, and (except where noted) one ledger row per item in `sturdy_ledger`, through one
// prepared statement each. BM_sqlite_pipeline_effect_ledger and BM_sqlite_fragile_checked
// write no ledger row: `out`'s primary key says what is done (the pipeline's unique-key ledger;
// the hand loop's lookup before each insert). Each iteration starts from a new database file in a temporary
// directory (WAL, synchronous=NORMAL: sturdy's defaults); creating it is not timed.
//
// Items per iteration: STURDY_BENCH_ITEMS (default 100000; scripts/bench --quick lowers it).
// BM_sqlite_naive and the chunk sizes 1 and 10 commit per item or per 10 items and are ~25x
// slower, so they run a tenth of the items; items/s is what is compared.
#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include "sqlite_support.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>

namespace {
namespace sqlite = sturdy::sqlite;
using bench_support::exists;
using bench_support::items_per_iteration;
using bench_support::run;

std::int64_t slow_items() { return std::max<std::int64_t>(10, items_per_iteration() / 10); }

/// The user's table. `v` is CHECKed, so a poison item (v < 0) fails inside SQLite, like a
/// constraint violation in a real job.
constexpr const char* user_schema = "CREATE TABLE out(id INTEGER PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0))";
constexpr const char* insert_sql = "INSERT INTO out(id, v) VALUES(?, ?)";
// The statements sturdy's SQLite ledger runs, written out by the hand loops (same table, same keys).
constexpr const char* ledger_contains_sql = "SELECT 1 FROM sturdy_ledger WHERE namespace = ? AND item_key = ?";
constexpr const char* ledger_mark_sql = "INSERT INTO sturdy_ledger(namespace, item_key, marked_at) VALUES(?, ?, ?)";
constexpr const char* job = "bench";

/// A fresh database file with the user table and sturdy's tables; removed when destroyed.
struct fresh_db {
    bench_support::temp_file file{"bench"};
    std::unique_ptr<sqlite::database> db = std::make_unique<sqlite::database>(file.path());

    fresh_db()
    {
        db->exec(user_schema);
        (void)db->ledger(job); // creates the sturdy tables
    }
};

std::int64_t now_seconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Runs `body(db, n)` on a fresh database per iteration and reports items/s.
template <class Body> void measure(benchmark::State& state, std::int64_t n, Body body)
{
    for (auto _ : state) {
        state.PauseTiming();
        {
            fresh_db f;
            state.ResumeTiming();
            body(*f.db, n);
            state.PauseTiming();
        }
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * n);
    state.counters["items"] = static_cast<double>(n);
}

// --- hand-written loops --------------------------------------------------------------------

/// The fragile loop: one transaction, effect and ledger mark per item, nothing else.
void BM_sqlite_fragile(benchmark::State& state)
{
    measure(state, items_per_iteration(), [](sqlite::database& db, std::int64_t n) {
        auto& insert = db.prepare(insert_sql);
        auto& mark = db.prepare(ledger_mark_sql);
        const auto now = now_seconds();
        db.exec("BEGIN IMMEDIATE");
        for (std::int64_t i = 0; i < n; ++i) {
            run(insert, i, i);
            run(mark, job, i, now);
        }
        db.exec("COMMIT");
    });
}

/// The fragile loop of a job whose effect's table says what is done: one transaction; per item,
/// look its key up in `out`, and insert the row when it is not there. No ledger, no savepoint.
void BM_sqlite_fragile_checked(benchmark::State& state)
{
    measure(state, items_per_iteration(), [](sqlite::database& db, std::int64_t n) {
        auto& insert = db.prepare(insert_sql);
        auto& find = db.prepare("SELECT 1 FROM out WHERE id = ?");
        std::int64_t done = 0;
        db.exec("BEGIN IMMEDIATE");
        for (std::int64_t i = 0; i < n; ++i) {
            if (exists(find, i)) {
                continue;
            }
            run(insert, i, i);
            ++done;
        }
        db.exec("COMMIT");
        benchmark::DoNotOptimize(done);
    });
}

/// The per-record idiom: per item, ledger check, begin, effect, mark, commit.
void BM_sqlite_naive(benchmark::State& state)
{
    measure(state, slow_items(), [](sqlite::database& db, std::int64_t n) {
        auto& insert = db.prepare(insert_sql);
        auto& contains = db.prepare(ledger_contains_sql);
        auto& mark = db.prepare(ledger_mark_sql);
        auto& begin = db.prepare("BEGIN IMMEDIATE");
        auto& commit = db.prepare("COMMIT");
        auto& rollback = db.prepare("ROLLBACK");
        std::int64_t done = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            if (exists(contains, job, i)) {
                continue;
            }
            run(begin);
            try {
                run(insert, i, i);
                run(mark, job, i, now_seconds());
                run(commit);
                ++done;
            } catch (const sturdy::failure_error&) {
                run(rollback);
            }
        }
        benchmark::DoNotOptimize(done);
    });
}

/// The careful hand-written loop: chunk transactions of 1000, a savepoint per item, the ledger
/// checked and marked per item, a failing item rolled back alone.
void BM_sqlite_hand_resilient(benchmark::State& state)
{
    measure(state, items_per_iteration(), [](sqlite::database& db, std::int64_t n) {
        constexpr std::int64_t chunk = 1000;
        auto& insert = db.prepare(insert_sql);
        auto& contains = db.prepare(ledger_contains_sql);
        auto& mark = db.prepare(ledger_mark_sql);
        auto& begin = db.prepare("BEGIN IMMEDIATE");
        auto& commit = db.prepare("COMMIT");
        auto& save = db.prepare("SAVEPOINT item");
        auto& release = db.prepare("RELEASE item");
        auto& rollback_to = db.prepare("ROLLBACK TO item");
        std::int64_t done = 0;
        std::int64_t failed = 0;
        for (std::int64_t start = 0; start < n; start += chunk) {
            run(begin);
            const auto now = now_seconds();
            for (std::int64_t i = start; i < std::min(n, start + chunk); ++i) {
                if (exists(contains, job, i)) {
                    continue;
                }
                run(save);
                try {
                    run(insert, i, i);
                    run(mark, job, i, now);
                    run(release);
                    ++done;
                } catch (const sturdy::failure_error&) {
                    run(rollback_to);
                    run(release);
                    ++failed; // a real loop would record the failure here
                }
            }
            run(commit);
        }
        benchmark::DoNotOptimize(done);
        benchmark::DoNotOptimize(failed);
    });
}

// --- the pipeline --------------------------------------------------------------------------

/// `poison` items per 10,000 fail (a CHECK constraint) after their row was half-written.
/// `effect_ledger`: the ledger is `out`'s own primary key (db.ledger(sturdy::unique_key{...})),
/// so no `sturdy_ledger` row is written.
template <class Ledger>
void pipeline_with(Ledger& ledger, sqlite::database& db, std::int64_t n, std::size_t chunk, std::int64_t poison)
{
    auto& insert = db.prepare(insert_sql);
    const std::int64_t stride = poison > 0 ? 10'000 / poison : 0;
    auto r = std::views::iota(std::int64_t{0}, n) | sturdy::idempotent_by(ledger, [](std::int64_t i) { return i; }) |
             sturdy::chunked(db, chunk) | sturdy::guarded([&](std::int64_t i) {
                 const bool bad = stride > 0 && i % stride == stride / 2;
                 run(insert, i, bad ? -1 : i);
             }) |
             sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::logged_every(10'000, sturdy::discard_sink{}) |
             sturdy::drain;
    if (r.done + r.failed != static_cast<std::size_t>(n)) {
        throw std::logic_error("pipeline: not every item was processed");
    }
    benchmark::DoNotOptimize(r.done);
}

void pipeline(sqlite::database& db, std::int64_t n, std::size_t chunk, std::int64_t poison)
{
    auto ledger = db.ledger(job);
    pipeline_with(ledger, db, n, chunk, poison);
}

void BM_sqlite_pipeline(benchmark::State& state)
{
    measure(state, items_per_iteration(), [](sqlite::database& db, std::int64_t n) { pipeline(db, n, 1000, 0); });
}

void BM_sqlite_pipeline_poison(benchmark::State& state)
{
    const auto poison = state.range(0);
    measure(state, items_per_iteration(), [&](sqlite::database& db, std::int64_t n) { pipeline(db, n, 1000, poison); });
}

/// The pipeline with the effect's table as its ledger: against BM_sqlite_fragile_checked.
void BM_sqlite_pipeline_effect_ledger(benchmark::State& state)
{
    measure(state, items_per_iteration(), [](sqlite::database& db, std::int64_t n) {
        auto ledger = db.ledger(sturdy::unique_key{"out", {"id"}});
        pipeline_with(ledger, db, n, 1000, 0);
    });
}

void BM_sqlite_pipeline_chunk(benchmark::State& state)
{
    const auto chunk = static_cast<std::size_t>(state.range(0));
    const auto n = chunk < 100 ? slow_items() : items_per_iteration();
    measure(state, n, [&](sqlite::database& db, std::int64_t count) { pipeline(db, count, chunk, 0); });
}
} // namespace

BENCHMARK(BM_sqlite_fragile)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_naive)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_hand_resilient)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_pipeline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_fragile_checked)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_pipeline_effect_ledger)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_pipeline_poison)->Arg(0)->Arg(1)->Arg(10)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_pipeline_chunk)
    ->Arg(1)
    ->Arg(10)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
