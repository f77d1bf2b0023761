// subscription_invoicing — invoice every active subscription for every month it is due, on the
// SQLite store. The fragile version of this job (one loop, one transaction, "this month only")
// fails in five ways; each adaptor below removes one of them:
//
//   one failing subscription fails all     -> guarded: each item's effect is rolled back alone
//   a timeout redoes everything, re-sends  -> chunked + idempotent_by: committed chunks stay done
//   a skipped month is never invoiced      -> the source is every (subscription, due period)
//   long transactions collide with users   -> chunked(db, --chunk): short write transactions
//   a second run invoices twice            -> idempotent_by: key (subscription, period) in a ledger
//
// and a poison subscription (negative amount: its line breaks a CHECK after its invoice row was
// written) is rolled back, recorded, retried by later runs and quarantined after
// --quarantine-after failed runs. See docs/examples.md.
//
// The job itself is `invoice_due`; `run_cli` is the command line. Tests compile this file with
// STURDY_EXAMPLE_NO_MAIN and call both.

#include "common/cli.hpp"

#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace invoicing {

/// The tables (fixed: other tools read them) and one index of ours to find an existing invoice.
inline constexpr const char* schema = R"sql(
    CREATE TABLE IF NOT EXISTS subscription(
        id INTEGER PRIMARY KEY, partner TEXT NOT NULL, amount_cents INTEGER NOT NULL,
        start_period TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1);
    CREATE TABLE IF NOT EXISTS invoice(
        id INTEGER PRIMARY KEY, subscription_id INTEGER NOT NULL REFERENCES subscription(id),
        period TEXT NOT NULL, amount_cents INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS invoice_line(
        id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoice(id),
        label TEXT NOT NULL, amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0));
    CREATE INDEX IF NOT EXISTS invoice_subscription_period ON invoice(subscription_id, period);
)sql";

/// One unit of work: a subscription and one period it is due for.
struct due {
    std::int64_t subscription_id;
    std::string partner;
    std::int64_t amount_cents;
    std::string period;
};

/// Every (active subscription, period) from its start_period through ?1, one row at a time:
/// a recursive CTE generates the months, so nothing is materialised in the program and memory
/// stays O(chunk). Subscriptions are read in id order, periods in order within each.
/// Rows with a malformed start_period are left out here and reported by `malformed_starts`.
inline constexpr const char* due_sql = R"sql(
    WITH RECURSIVE month(period) AS (
        SELECT min(start_period) FROM subscription
         WHERE active AND start_period GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]'
        UNION ALL
        SELECT strftime('%Y-%m', period || '-01', '+1 month') FROM month WHERE period < ?1
    )
    SELECT s.id, s.partner, s.amount_cents, m.period
      FROM subscription AS s JOIN month AS m ON m.period >= s.start_period AND m.period <= ?1
     WHERE s.active AND s.start_period GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]'
     ORDER BY s.id, m.period
)sql";

struct options {
    std::string through;                                   ///< last period to invoice, "YYYY-MM"
    std::size_t chunk = 200;                               ///< items per transaction
    double fail_rate = 0.0;                                ///< injected transient failures, fraction of attempts
    std::uint64_t seed = 0;                                ///< seed of the injection
    std::optional<std::chrono::duration<double>> deadline; ///< stop cleanly before this much time
    int quarantine_after = 5;                              ///< failed runs before a key is quarantined
    std::size_t log_every = 1000;                          ///< a progress line every this many items
};

/// Creates the tables if missing, in one transaction.
inline void create_schema(sturdy::sqlite::database& db)
{
    db.begin();
    db.exec(schema);
    db.commit();
    db.ledger("invoice"); // creates the sturdy_ tables now, not in the first chunk
}

/// `--init N`: when the subscription table is empty, fills it with N subscriptions, in one
/// transaction (a crash leaves it empty, and the next --init fills it). Returns how many were
/// added (0 when the table already had rows). The rule, for i = 1..N:
///   partner       "partner-<i % 97>"
///   amount_cents  1000 + (i % 7) * 250; every 97th (i % 97 == 0) is poison: -(100 + i % 9 * 100)
///   start_period  through minus (i % 12) months, so catch-up has 1 to 12 periods to invoice
///   active        0 for every 50th (i % 50 == 0), else 1
inline std::int64_t init_subscriptions(sturdy::sqlite::database& db, std::int64_t n, const std::string& through)
{
    const int last = *example::month_index(through);
    db.begin();
    if (*db.query_one<std::int64_t>("SELECT count(*) FROM subscription") > 0) {
        db.rollback();
        return 0;
    }
    for (std::int64_t i = 1; i <= n; ++i) {
        const std::int64_t amount = i % 97 == 0 ? -(100 + i % 9 * 100) : 1000 + i % 7 * 250;
        db.execute("INSERT INTO subscription(id, partner, amount_cents, start_period, active) VALUES(?, ?, ?, ?, ?)", i,
                   fmt::format("partner-{}", i % 97), amount, example::period_of(last - static_cast<int>(i % 12)),
                   i % 50 == 0 ? 0 : 1);
    }
    db.commit();
    return n;
}

/// Active subscriptions whose start_period is not YYYY-MM: they cannot be invoiced until fixed.
inline std::vector<std::int64_t> malformed_starts(sturdy::sqlite::database& db)
{
    return db.query<std::int64_t>("SELECT id FROM subscription WHERE active AND "
                                  "start_period NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]' ORDER BY id LIMIT 20");
}

/// The job: invoices every due (subscription, period) through `o.through`. `Commit` is
/// sturdy::commit in production and sturdy::no_commit in tests that roll everything back.
template <sturdy::commit_policy Commit = sturdy::commit, sturdy::clock Clock = sturdy::steady_clock,
          sturdy::log_sink Sink = sturdy::stderr_sink>
sturdy::report invoice_due(sturdy::sqlite::database& db, const options& o, Clock& clock, Sink sink = {})
{
    using namespace std::chrono_literals;
    auto ledger = db.ledger("invoice");

    // Failed runs so far per key: the injected failures draw again in each new run, as a real
    // transient fault would, yet a run over the same data injects the same failures.
    std::unordered_map<std::string, int> failed_runs;
    if (o.fail_rate > 0) {
        for (const auto& f : ledger.failures()) {
            failed_runs.emplace(f.item_key.str(), f.runs);
        }
    }

    auto job = db.rows<due>(due_sql, o.through)
               // A second run, or the rerun of a chunk a crash or timeout interrupted, skips what is done.
               | sturdy::idempotent_by(
                     ledger, [](const due& d) { return std::tuple(d.subscription_id, d.period); }, // "42/2025-03"
                     sturdy::quarantine_after{o.quarantine_after})
               // Short transactions: a crash loses at most one chunk; users' writes get in between.
               | sturdy::chunked<Commit>(db, o.chunk)
               // One bad subscription costs that subscription alone: its invoice row is rolled back.
               | sturdy::guarded([&](const due& d, const sturdy::item_context& ctx) {
                     // An invoice for this subscription and period written before the ledger knew of it
                     // (by the fragile version of this job, say) is adopted, never duplicated.
                     if (db.query_one<int>("SELECT 1 FROM invoice WHERE subscription_id = ? AND period = ?",
                                           d.subscription_id, d.period)) {
                         return;
                     }
                     db.execute("INSERT INTO invoice(subscription_id, period, amount_cents) VALUES(?, ?, ?)",
                                d.subscription_id, d.period, d.amount_cents);
                     const auto invoice_id = db.last_insert_rowid();
                     if (o.fail_rate > 0) { // the key as text only when injecting
                         const auto key = ctx.item_key.str();
                         const auto runs = failed_runs.find(key);
                         if (example::injected(o.fail_rate, o.seed, key, runs != failed_runs.end() ? runs->second : 0,
                                               ctx.attempt)) {
                             throw sturdy::transient_error("injected transient failure (--fail-rate)");
                         }
                     }
                     db.execute("INSERT INTO invoice_line(invoice_id, label, amount_cents) VALUES(?, ?, ?)", invoice_id,
                                fmt::format("{} subscription {}", d.partner, d.period), d.amount_cents);
                 })
               // Busy database, injected faults: retried in-run with capped, jittered backoff.
               | sturdy::retry_bounded(4, sturdy::backoff::exponential(2ms, 100ms))
               // 50 in a row, or half of the last 500: something they all share is broken; stop early.
               | sturdy::failure_budget(50, 0.5, 500)
               // Progress lines, failures folded by reason, one summary.
               | sturdy::logged_every(o.log_every, std::move(sink))
               // Backoff, rates and the deadline read this clock: tests inject one that never sleeps.
               | sturdy::with_clock(clock);

    if (o.deadline) {
        return std::move(job) | sturdy::time_budget(*o.deadline) | sturdy::drain; // stop at a chunk boundary
    }
    return std::move(job) | sturdy::drain;
}

inline constexpr const char* usage =
    R"(usage: subscription_invoicing --db FILE [--init N] [--through YYYY-MM] [--chunk N]
                              [--fail-rate P --seed S] [--deadline SECONDS] [--report text|json]
                              [--requeue KEY|all] [--quarantine-after RUNS]
  --db FILE            the SQLite database (must exist unless --init is given)
  --init N             fill an empty database with N demo subscriptions, then run
  --through YYYY-MM    invoice every period up to this one (default: the current month)
  --chunk N            subscriptions per transaction (default 200)
  --fail-rate P        inject transient failures into a fraction P of attempts (seeded by --seed)
  --deadline SECONDS   stop cleanly before this much time has passed; exit 75 if work remains
  --report text|json   the report's format on stdout (json: one object, the last line)
  --requeue KEY|all    give a quarantined key (e.g. 42/2025-03), or all of them, a fresh start, then run
  --quarantine-after N quarantine a key after N failed runs (default 5)
exit status: 0 nothing pending; 75 work remains, run again soon; 1 bad usage or unusable database
)";

/// The command line; returns the exit status. The report goes to `out`, logs to stderr.
inline int run_cli(const std::vector<std::string_view>& args, std::FILE* out)
{
    const char* const program = "subscription_invoicing";
    options o;
    std::string path;
    std::optional<std::int64_t> init;
    std::optional<std::string> requeue;
    bool json = false;
    try {
        const example::arguments a(args,
                                   {"--db", "--init", "--through", "--chunk", "--fail-rate", "--seed", "--deadline",
                                    "--report", "--requeue", "--quarantine-after"},
                                   {});
        if (!a.has("--db")) {
            throw example::usage_error("--db FILE is required");
        }
        path = *a.text("--db");
        init = a.integer("--init", 0, 10'000'000);
        o.through = a.text("--through").value_or(example::current_period());
        if (!example::month_index(o.through)) {
            throw example::usage_error(
                fmt::format("--through takes a month as YYYY-MM, e.g. 2025-03 (got '{}')", o.through));
        }
        o.chunk = static_cast<std::size_t>(a.integer("--chunk", 1, 1'000'000).value_or(200));
        o.fail_rate = a.number("--fail-rate", 0.0, 1.0).value_or(0.0);
        o.seed = static_cast<std::uint64_t>(a.integer("--seed", 0, INT64_MAX).value_or(0));
        if (auto d = a.number("--deadline", 0.001, 1e9)) {
            o.deadline = std::chrono::duration<double>(*d);
        }
        o.quarantine_after = static_cast<int>(a.integer("--quarantine-after", 1, 1000).value_or(5));
        const auto format = a.text("--report").value_or("text");
        if (format != "text" && format != "json") {
            throw example::usage_error(fmt::format("--report takes text or json (got '{}')", format));
        }
        json = format == "json";
        requeue = a.text("--requeue");
        if (!init && !std::filesystem::exists(path)) {
            throw example::usage_error(fmt::format("database '{}' does not exist: check the path, or pass --init N "
                                                   "to create a demo database with N subscriptions",
                                                   path));
        }
    } catch (const example::usage_error& e) {
        fmt::print(stderr, "{}: {}\n{}", program, e.what(), usage);
        return example::exit_usage;
    }

    try {
        sturdy::sqlite::database db(path);
        create_schema(db);
        if (init) {
            if (init_subscriptions(db, *init, o.through) == 0) {
                fmt::print(stderr, "{}: --init: the database already holds subscriptions; none added\n", program);
            }
        }
        if (requeue) {
            auto ledger = db.ledger("invoice");
            if (*requeue == "all") {
                fmt::print(stderr, "{}: requeued {} quarantined key(s)\n", program, ledger.requeue_all());
            } else if (ledger.requeue(sturdy::key(*requeue))) {
                fmt::print(stderr, "{}: requeued {}\n", program, *requeue);
            } else {
                fmt::print(
                    stderr,
                    "{}: --requeue {}: no failure record for this key. Keys look like <subscription id>/<YYYY-MM>; "
                    "list them with: sqlite3 {} \"SELECT item_key, runs, quarantined, last_reason FROM "
                    "sturdy_failure WHERE namespace = 'invoice'\"\n",
                    program, *requeue, path);
                return example::exit_usage;
            }
        }
        if (const auto bad = malformed_starts(db); !bad.empty()) {
            fmt::print(stderr,
                       "{}: warning: {} active subscription(s) have a start_period that is not YYYY-MM and are not "
                       "invoiced until it is fixed (ids: {})\n",
                       program, bad.size(), fmt::join(bad, ", "));
        }
        sturdy::steady_clock clock;
        const auto r = invoice_due(db, o, clock);
        example::print_report(out, r, json);
        return example::exit_status(r);
    } catch (const sturdy::failure_error& e) {
        // The store's messages name the file and say what to do.
        fmt::print(stderr, "{}: {}\n", program, e.message());
        if (sturdy::is_transient(e.code())) {
            fmt::print(stderr, "{}: the database is busy; run again soon\n", program);
            return example::exit_run_again;
        }
        return example::exit_usage;
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", program, e.what());
        return example::exit_usage;
    }
}

} // namespace invoicing

#ifndef STURDY_EXAMPLE_NO_MAIN
int main(int argc, char** argv)
{
    return invoicing::run_cli(std::vector<std::string_view>(argv + 1, argv + argc), stdout);
}
#endif
