// The two seed jobs of examples/ end to end, against the same work written by hand, in one
// process over the same generated data: what a user compares when they run their job.
//
// BM_sqlite_invoicing_job: examples/subscription_invoicing.cpp's `invoice_due` (the example's
// own job code, compiled in without its main), chunk 1000, no injected failures, progress
// lines to a sink that drops them, with its default ledger: the invoice table's UNIQUE
// (subscription_id, period). BM_sqlite_invoicing_job_table: the same with --ledger table
// (a sturdy_ledger row per item). BM_sqlite_invoicing_hand: the same statements per item
// (read the due rows through the same query, look the invoice up, insert the invoice, insert
// its line) in one transaction, with no ledger, no savepoint and no error handling beyond
// catching the poison line's CHECK failure and going on (which leaves that invoice without a
// line: the fragile job). The data is the example's --init rule: STURDY_BENCH_ITEMS / 12.5
// subscriptions (8000 by default) started 1 to 12 months before 2026-05, invoiced through
// 2026-11, so each is due 7 to 18 periods: 98,072 (subscription, period) items for 8000, of
// which every 97th subscription's (1%) fail their line's CHECK.
//
// BM_sqlite_contact_sync_job: examples/contact_sync.cpp's `sync_contacts` pushing every contact
// of a fresh database to the stand-in remote (a second SQLite file, one transaction per push),
// chunk 1000. BM_sqlite_contact_sync_hand: the same reads and the same pushes, with the same
// idempotency keys, in one local transaction that sets the checkpoint at the end; no ledger.
// STURDY_BENCH_ITEMS / 10 contacts (each push commits a transaction on the remote).
//
// Each iteration starts from new files in a temporary directory; creating them is not timed.
#define STURDY_EXAMPLE_NO_MAIN
#include <contact_sync.cpp>
#include <subscription_invoicing.cpp>

#include "sqlite_support.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

// The timed bodies, named so that callgrind can count each alone (--toggle-collect='bench::*').
namespace bench {
namespace sqlite = sturdy::sqlite;
using bench_support::exists;
using bench_support::run;

constexpr const char* invoicing_start = "2026-05"; // the --init rule's reference month
constexpr const char* invoicing_through = "2026-11";

/// The example's job (its default ledger: the invoice table's unique key; `table`: sturdy's own
/// ledger table); returns the items it read.
[[gnu::noinline]] std::int64_t invoicing_job(sqlite::database& db, bool table = false)
{
    invoicing::options o;
    o.ledger = table ? invoicing::ledger_kind::table : invoicing::ledger_kind::unique_key;
    o.through = invoicing_through;
    o.chunk = 1000;
    sturdy::steady_clock clock;
    const auto r = invoicing::invoice_due(db, o, clock, sturdy::discard_sink{});
    if (r.done + r.failed != r.seen || r.failed == 0) {
        throw std::logic_error("invoicing job: unexpected report");
    }
    return static_cast<std::int64_t>(r.seen);
}

/// The invoice's line; false when it fails (the poison's CHECK): the fragile job goes on and its
/// invoice stays, without a line. A function of its own, so that its exception handler is not
/// part of invoicing_hand (callgrind's --toggle-collect would take that part for an exit).
[[gnu::noinline]] bool insert_line_or_fail(sqlite::statement& insert_line, std::int64_t invoice_id,
                                           const invoicing::due& d)
{
    try {
        run(insert_line, invoice_id, fmt::format("{} subscription {}", d.partner, d.period), d.amount_cents);
        return true;
    } catch (const sturdy::failure_error&) {
        return false;
    }
}

/// The same statements per item by hand, in one transaction; returns the items it read.
[[gnu::noinline]] std::int64_t invoicing_hand(sqlite::database& db)
{
    auto& due = db.prepare(invoicing::due_sql);
    auto& find = db.prepare("SELECT 1 FROM invoice WHERE subscription_id = $1 AND period = $2");
    auto& insert_invoice = db.prepare("INSERT INTO invoice(subscription_id, period, amount_cents) VALUES($1, $2, $3)");
    auto& insert_line = db.prepare("INSERT INTO invoice_line(invoice_id, label, amount_cents) VALUES($1, $2, $3)");
    std::int64_t items = 0;
    std::int64_t failed = 0;
    db.begin();
    due.bind(std::string_view(invoicing_through));
    while (due.step()) {
        const auto d = due.row<invoicing::due>();
        ++items;
        if (exists(find, d.subscription_id, d.period)) {
            continue;
        }
        run(insert_invoice, d.subscription_id, d.period, d.amount_cents);
        const auto invoice_id = db.last_insert_rowid();
        failed += insert_line_or_fail(insert_line, invoice_id, d) ? 0 : 1;
    }
    due.reset();
    db.commit();
    if (failed == 0) {
        throw std::logic_error("invoicing by hand: no poison subscription failed");
    }
    return items;
}

/// The example's job; returns the items it read.
[[gnu::noinline]] std::int64_t contact_sync_job(sqlite::database& db, contacts::remote_crm& remote)
{
    contacts::options o;
    o.chunk = 1000;
    sturdy::steady_clock clock;
    const auto r = contacts::sync_contacts(db, remote, o, clock, sturdy::discard_sink{});
    if (r.done != r.seen) {
        throw std::logic_error("contact sync job: unexpected report");
    }
    return static_cast<std::int64_t>(r.seen);
}

/// The same reads and pushes by hand, in one local transaction; returns the items it read.
[[gnu::noinline]] std::int64_t contact_sync_hand(sqlite::database& db, contacts::remote_crm& remote)
{
    auto& changed = db.prepare(contacts::changed_sql);
    std::int64_t items = 0;
    std::int64_t last = 0;
    db.begin();
    changed.bind(std::numeric_limits<std::int64_t>::min(), std::string_view("[]"));
    while (changed.step()) {
        const auto c = changed.row<contacts::contact>();
        ++items;
        remote.push(c, fmt::format("contact_sync:{}/{}", c.id, c.write_date), 0, 1);
        last = c.write_date;
    }
    changed.reset();
    db.set_checkpoint("contact_sync", std::to_string(last));
    db.commit();
    return items;
}
} // namespace bench

namespace {
using bench_support::temp_file;
namespace sqlite = sturdy::sqlite;

std::int64_t subscriptions() { return std::max<std::int64_t>(1, bench_support::items_per_iteration() * 2 / 25); }
std::int64_t contacts_count() { return std::max<std::int64_t>(10, bench_support::items_per_iteration() / 10); }

/// Runs `body(db)` (returning the items it read) on a fresh invoicing database per iteration.
template <class Body> void measure_invoicing(benchmark::State& state, Body body)
{
    std::int64_t items = 0;
    for (auto _ : state) {
        state.PauseTiming();
        {
            temp_file file("invoicing");
            sqlite::database db(file.path());
            invoicing::create_schema(db);
            invoicing::init_subscriptions(db, subscriptions(), bench::invoicing_start);
            state.ResumeTiming();
            items = body(db);
            state.PauseTiming();
        }
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * items);
    state.counters["items"] = static_cast<double>(items);
}

/// Runs `body(db, remote)` (returning the items it read) on fresh local and remote databases.
template <class Body> void measure_contact_sync(benchmark::State& state, Body body)
{
    std::int64_t items = 0;
    for (auto _ : state) {
        state.PauseTiming();
        {
            temp_file local("contacts");
            temp_file remote_file("remote");
            sqlite::database db(local.path());
            contacts::create_schema(db);
            contacts::init_contacts(db, contacts_count());
            contacts::remote_crm remote(remote_file.path(), {});
            state.ResumeTiming();
            items = body(db, remote);
            state.PauseTiming();
        }
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * items);
    state.counters["items"] = static_cast<double>(items);
}

void BM_sqlite_invoicing_job(benchmark::State& state)
{
    measure_invoicing(state, [](sqlite::database& db) { return bench::invoicing_job(db); });
}
void BM_sqlite_invoicing_job_table(benchmark::State& state)
{
    measure_invoicing(state, [](sqlite::database& db) { return bench::invoicing_job(db, true); });
}
void BM_sqlite_invoicing_hand(benchmark::State& state) { measure_invoicing(state, bench::invoicing_hand); }
void BM_sqlite_contact_sync_job(benchmark::State& state) { measure_contact_sync(state, bench::contact_sync_job); }
void BM_sqlite_contact_sync_hand(benchmark::State& state) { measure_contact_sync(state, bench::contact_sync_hand); }
} // namespace

BENCHMARK(BM_sqlite_invoicing_job)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_invoicing_hand)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_invoicing_job_table)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_contact_sync_job)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sqlite_contact_sync_hand)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
