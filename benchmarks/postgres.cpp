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
#include <sturdy/store/postgres.hpp>
#include <sturdy/sturdy.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>

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

/// The connection, with the user table and sturdy's tables, made once.
pg::database& connection()
{
    static const std::unique_ptr<pg::database> db = [] {
        const char* conninfo = std::getenv("STURDY_TEST_POSTGRES");
        if (conninfo == nullptr) {
            throw std::runtime_error("STURDY_TEST_POSTGRES is not set: run bench_postgres under scripts/with-postgres "
                                     "(scripts/bench does)");
        }
        auto d = std::make_unique<pg::database>(conninfo);
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
} // namespace

BENCHMARK(BM_pg_fragile)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_naive)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_hand_resilient)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_pipeline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pg_pipeline_poison)->Arg(0)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
