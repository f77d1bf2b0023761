// One worker of a job that several processes run at once over the same PostgreSQL table, with
// sturdy::postgres::claim_rows (tests/postgres/workers_test.py, scripts/bench-workers).
//
//   claim_worker CONNINFO setup N          create work_item 1..N (and empty effect), once
//   claim_worker CONNINFO totals           print sturdy::postgres::totals of the job as
//                                          "done awaiting_retry quarantined"
//   claim_worker CONNINFO run WORKER CHUNK [POISON [BUDGET]]
//                                          do every unclaimed item; items whose id is a
//                                          multiple of POISON fail for good (a permanent
//                                          error: their own data); with BUDGET, under
//                                          failure_budget(BUDGET) and quarantine_after{3}
//
// With CLAIM_WORKER_LEDGER=unique-key in the environment, the job's ledger is the effect's own
// table: the effect also inserts the item's id into `done_item` (its primary key), and
// `db.ledger(sturdy::unique_key{"done_item", {"item_id"}, "work"})` keeps no row of sturdy's
// (failure records stay under "work"); otherwise it is `db.ledger("work")` (sturdy_ledger).
//
// The effect inserts (item id, worker) into `effect` and first takes the item's transaction
// advisory lock with pg_try_advisory_xact_lock: it is held until the worker's chunk ends, so a
// second worker running the same item's effect while the first's chunk is open finds it taken.
// Such an overlap is counted; the last line is the report as JSON with "overlaps" added, and the
// exit status is 3 if any overlap was seen, 75 if work remains, else 0.
#include <sturdy/store/postgres.hpp>
#include <sturdy/store/postgres_claim.hpp>
#include <sturdy/sturdy.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

namespace {

struct item {
    std::int64_t id;
    std::int64_t payload;
};

int setup(const std::string& conninfo, std::int64_t n)
{
    sturdy::postgres::database db(conninfo);
    db.exec("CREATE TABLE IF NOT EXISTS work_item(id bigint PRIMARY KEY, payload bigint NOT NULL);"
            "CREATE TABLE IF NOT EXISTS effect(item_id bigint NOT NULL, worker integer NOT NULL);"
            "CREATE TABLE IF NOT EXISTS done_item(item_id bigint PRIMARY KEY)");
    db.execute("INSERT INTO work_item(id, payload) SELECT i, i * 7 FROM generate_series(1, $1) AS i "
               "ON CONFLICT DO NOTHING",
               n);
    db.ledger("work"); // the sturdy_ tables, before the workers start
    return 0;
}

template <class Ledger> int run_with(sturdy::postgres::database& db, Ledger& ledger, bool effect_ledger, int worker,
                                     std::size_t chunk, std::int64_t poison, std::size_t budget)
{
    using namespace std::chrono_literals;
    std::int64_t overlaps = 0;
    auto input = sturdy::postgres::claim_rows<item>(db, ledger,
                                                    {.select = "w.id, w.payload",
                                                     .from = "work_item AS w",
                                                     .key = "w.id",
                                                     .lock = "w",
                                                     .order_by = "w.id",
                                                     .resume = "w.id"});
    auto job = std::move(input) |
               sturdy::idempotent_by(
                   ledger, [](const item& i) { return i.id; }, sturdy::quarantine_after{budget > 0 ? 3 : 5}) |
               sturdy::chunked(db, chunk) | sturdy::guarded([&](const item& i) {
                   if (!*db.query_one<bool>("SELECT pg_try_advisory_xact_lock($1)", i.id)) {
                       ++overlaps;
                       fmt::print(stderr, "worker {}: item {} is being run by another worker\n", worker, i.id);
                   }
                   db.execute("INSERT INTO effect(item_id, worker) VALUES($1, $2)", i.id, worker);
                   if (effect_ledger) {
                       db.execute("INSERT INTO done_item(item_id) VALUES($1)", i.id);
                   }
                   if (poison > 0 && i.id % poison == 0) {
                       throw std::runtime_error(fmt::format("poison item {}", i.id));
                   }
               }) |
               sturdy::retry_bounded(8, sturdy::backoff::exponential(10ms, 500ms));
    const auto r =
        budget > 0 ? std::move(job) | sturdy::failure_budget(budget) | sturdy::drain : std::move(job) | sturdy::drain;
    std::string json = r.json();
    json.insert(json.size() - 1, fmt::format(R"(,"overlaps":{})", overlaps));
    fmt::print("{}\n", json);
    if (overlaps > 0) {
        return 3;
    }
    return r.run_again_soon() ? 75 : 0;
}

int run(const std::string& conninfo, int worker, std::size_t chunk, std::int64_t poison, std::size_t budget)
{
    // A server restart (workers_test.py's restart) takes seconds on a loaded machine: the
    // reconnect attempts' waits add up to about 30 s (0.1, 0.2 ... 5 s) before the worker gives up.
    sturdy::postgres::database db(conninfo, {.reconnect_attempts = 12});
    const char* const kind = std::getenv("CLAIM_WORKER_LEDGER");
    if (kind != nullptr && std::string(kind) == "unique-key") {
        auto ledger = db.ledger(sturdy::unique_key{"done_item", {"item_id"}, "work"});
        return run_with(db, ledger, true, worker, chunk, poison, budget);
    }
    auto ledger = db.ledger("work");
    return run_with(db, ledger, false, worker, chunk, poison, budget);
}

} // namespace

int main(int argc, char** argv)
{
    try {
        const std::string mode = argc > 2 ? argv[2] : "";
        if (mode == "setup" && argc == 4) {
            return setup(argv[1], std::stoll(argv[3]));
        }
        if (mode == "totals" && argc == 3) {
            sturdy::postgres::database db(argv[1]);
            const auto t = sturdy::postgres::totals(db, "work");
            fmt::print("{} {} {}\n", t.done, t.awaiting_retry, t.quarantined);
            return 0;
        }
        if (mode == "run" && argc >= 5 && argc <= 7) {
            return run(argv[1], std::stoi(argv[3]), std::stoul(argv[4]), argc >= 6 ? std::stoll(argv[5]) : 0,
                       argc == 7 ? std::stoul(argv[6]) : 0);
        }
        fmt::print(
            stderr,
            "usage: claim_worker CONNINFO setup N | CONNINFO totals | CONNINFO run WORKER CHUNK [POISON [BUDGET]]\n");
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "claim_worker: {}\n", e.what());
        return 1;
    }
}
