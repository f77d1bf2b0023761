// The crash simulator on sturdy's own seed jobs: examples/subscription_invoicing.cpp and
// examples/contact_sync.cpp (their job functions, on SQLite files) and the same pipelines on the
// memory store (memory_jobs.hpp), each across STURDY_CRASH_POINTS crash points (default
// 10,000 per job and store; docs/testing.md shows the long run) with the exactly-once invariant.
// scripts/mutations breaks the engine and expects this test to fail.
#define STURDY_EXAMPLE_NO_MAIN
#include <contact_sync.cpp>
#include <subscription_invoicing.cpp>

#include "memory_jobs.hpp"

#include <sturdy/store/sqlite.hpp>
#include <sturdy/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <unistd.h>

namespace {
using faulty_sqlite_ledger = decltype(std::declval<sturdy::testing::faulty<sturdy::sqlite::database>&>().ledger(""));
static_assert(sturdy::transaction<sturdy::testing::faulty<sturdy::sqlite::database>>);
static_assert(sturdy::failure_ledger<faulty_sqlite_ledger>);
static_assert(sturdy::batch_claiming_ledger<faulty_sqlite_ledger> ==
              sturdy::batch_claiming_ledger<sturdy::sqlite::ledger>); // the same path through the engine

using sturdy::testing::faulty;
using sturdy::testing::injector;

/// Crash points to exercise per job and store.
std::size_t crash_points()
{
    const char* n = std::getenv("STURDY_CRASH_POINTS");
    return n != nullptr ? static_cast<std::size_t>(std::stoull(n)) : 10'000;
}

/// Runs scenarios in batches until `target` crash points were exercised or one failed. Each
/// scenario crashes 1 to `crashes_per_scenario` times before its final run.
template <class Make, class Run, class Check> sturdy::testing::crash_report
crash_until(std::size_t target, Make make, Run run, Check check, std::size_t crashes_per_scenario = 3)
{
    sturdy::testing::crash_report total;
    std::uint64_t seed = 1;
    while (total.crashes < target) {
        // As many scenarios as should give the crash points still missing: at first one per four,
        // then at the rate seen so far (a rerun that finishes before its drawn point does not crash).
        const std::size_t missing = target - total.crashes;
        const std::size_t batch =
            std::max<std::size_t>(50, total.crashes == 0 ? missing / 4 : missing * total.scenarios / total.crashes);
        auto r = sturdy::testing::simulate_crashes(
            {.scenarios = batch, .first_seed = seed, .crashes_per_scenario = crashes_per_scenario}, make, run, check);
        total.scenarios += r.scenarios;
        total.crashes += r.crashes;
        total.runs += r.runs;
        total.clean_operations = r.clean_operations;
        seed += batch;
        if (!r.ok()) {
            total.first_failure = std::move(r.first_failure);
            total.replayed_identically = r.replayed_identically;
            break;
        }
    }
    return total;
}

/// The time a test case took: wall clock, and this process's CPU time (the machine may be shared).
struct stopwatch {
    std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
    std::clock_t cpu = std::clock();
    [[nodiscard]] std::string figures() const
    {
        const auto wall_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - wall).count();
        const auto cpu_ms = (std::clock() - cpu) * 1000 / CLOCKS_PER_SEC;
        return std::to_string(wall_ms) + " ms, CPU " + std::to_string(cpu_ms) + " ms";
    }
};

template <class Report>
void require_ok(const char* what, const Report& r, const stopwatch& took, std::size_t points = crash_points())
{
    const auto figures = took.figures();
    UNSCOPED_INFO(what << ": " << r.describe() << " (" << figures << ")");
    std::printf("%s: %zu scenarios, %zu crash points, %zu runs, %s%s\n", what, r.scenarios, r.crashes, r.runs,
                figures.c_str(), r.ok() ? "" : "  FAILED");
    std::fflush(stdout);
    if (!r.ok()) {
        std::printf("%s\n", r.describe().c_str());
    }
    CHECK(r.ok());
    CHECK(r.crashes >= points);
}

// --- SQLite worlds: a fresh copy of a template file per scenario --------------------------

/// Removes the scratch directory at exit.
struct scratch_cleanup {
    std::filesystem::path dir;
    ~scratch_cleanup()
    {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

std::filesystem::path scratch_dir()
{
    static const auto dir = [] {
        // Thousands of small files are made and removed: in memory (/dev/shm) when there is one.
        std::error_code ec;
        const auto base = std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
                              ? std::filesystem::path("/dev/shm")
                              : std::filesystem::temp_directory_path();
        auto d = base / ("sturdy-seed-jobs-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    static const scratch_cleanup cleanup{dir}; // made after `dir`, so destroyed before it
    return dir;
}

/// A fresh SQLite world (a file copied, opened, checked and removed) and its final run cost as
/// much as several crashed runs: each scenario may crash up to 8 times instead of 3 (2.2 times on
/// average instead of 1.65, as a rerun often finishes before its drawn point), so 10,000 crash
/// points take a quarter fewer worlds, runs and CPU seconds.
constexpr std::size_t sqlite_crashes_per_scenario = 8;

const sturdy::sqlite::options fast{.synchronous = sturdy::sqlite::synchronous_mode::off};

std::string fresh_copy(const std::filesystem::path& from)
{
    static int counter = 0;
    auto to = scratch_dir() / ("world-" + std::to_string(++counter) + ".db");
    std::filesystem::copy_file(from, to);
    return to.string();
}

void remove_db(const std::string& path)
{
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        std::filesystem::remove(path + suffix, ec);
    }
}

std::vector<sturdy::key> column_keys(sturdy::sqlite::database& db, const char* sql)
{
    std::vector<sturdy::key> out;
    for (auto& k : db.query<std::string>(sql)) {
        out.emplace_back(std::move(k));
    }
    return out;
}

std::vector<sturdy::key> failing(const std::vector<sturdy::failure_info>& failures)
{
    std::vector<sturdy::key> out;
    for (const auto& f : failures) {
        out.push_back(f.item_key);
    }
    return out;
}

std::string joined(std::initializer_list<std::string> problems)
{
    std::string out;
    for (const auto& p : problems) {
        if (!p.empty()) {
            out += (out.empty() ? "" : "; ") + p;
        }
    }
    return out;
}

// Invoicing: 12 subscriptions due for 1 to 4 periods, one of them poison.
const char* const through = "2026-04";

const std::filesystem::path& invoicing_template()
{
    static const auto path = [] {
        auto p = scratch_dir() / "invoicing-template.db";
        {
            sturdy::sqlite::database db(p.string(), fast);
            invoicing::create_schema(db);
            invoicing::init_subscriptions(db, 12, through);
            db.execute("UPDATE subscription SET amount_cents = -300 WHERE id = 5");
        }
        return p;
    }();
    return path;
}

struct invoicing_world {
    invoicing::ledger_kind ledger = invoicing::ledger_kind::unique_key;
    std::string path = fresh_copy(invoicing_template());
    sturdy::sqlite::database db{path, fast};
    sturdy::manual_clock clock;
    invoicing_world() = default;
    invoicing_world(const invoicing_world&) = delete;
    ~invoicing_world() { remove_db(path); }
};

bool run_invoicing(invoicing_world& w, injector& faults)
{
    faulty store(w.db, faults);
    invoicing::options o;
    o.through = through;
    o.chunk = 4;
    o.quarantine_after = 2;
    o.log_every = 1'000'000;
    o.ledger = w.ledger;
    return invoicing::invoice_due(store, o, w.clock, sturdy::discard_sink{}).remaining == 0;
}

std::string check_invoicing(invoicing_world& w)
{
    std::vector<sturdy::key> expected;
    for (const auto& d : w.db.query<invoicing::due>(invoicing::due_sql, through)) {
        expected.emplace_back(std::to_string(d.subscription_id) + "/" + d.period);
    }
    const auto effects = column_keys(w.db, "SELECT subscription_id || '/' || period FROM invoice");
    const auto marks = column_keys(w.db, "SELECT item_key FROM sturdy_ledger WHERE namespace = 'invoice'");
    // With the unique-key ledger, the invoices are the done marks, and sturdy writes none of its own.
    const bool unique_key = w.ledger == invoicing::ledger_kind::unique_key;
    const auto& done = unique_key ? effects : marks;
    const auto failures = w.db.ledger("invoice").failures();
    const auto lineless = *w.db.query_one<std::int64_t>(
        "SELECT count(*) FROM invoice i WHERE amount_cents IS NOT (SELECT sum(amount_cents) FROM invoice_line l "
        "WHERE l.invoice_id = i.id)");
    return joined({sturdy::testing::exactly_once(expected, effects, failing(failures)),
                   sturdy::testing::ledger_matches_effects(done, effects),
                   sturdy::testing::not_done_and_failing(done, failures),
                   lineless == 0 ? "" : std::to_string(lineless) + " invoice(s) whose lines do not add up",
                   !unique_key || marks.empty() ? "" : std::to_string(marks.size()) + " sturdy_ledger row(s)"});
}

// Contact sync: 15 contacts, pushed to a remote SQLite file of the world's own.
const std::filesystem::path& contacts_template()
{
    static const auto path = [] {
        auto p = scratch_dir() / "contacts-template.db";
        {
            sturdy::sqlite::database db(p.string(), fast);
            contacts::create_schema(db);
            contacts::init_contacts(db, 15);
            // Two contacts share a write date: the watermark's boundary is read again.
            db.execute("UPDATE contact SET write_date = write_date - 1 WHERE id = 8");
        }
        return p;
    }();
    return path;
}

struct contacts_world {
    contacts::ledger_kind ledger = contacts::ledger_kind::table;
    std::string path = fresh_copy(contacts_template());
    std::string remote_path = (scratch_dir() / ("remote-" + std::filesystem::path(path).filename().string())).string();
    sturdy::sqlite::database db{path, fast};
    contacts::remote_crm remote{remote_path, {}};
    sturdy::manual_clock clock;
    contacts_world() = default;
    contacts_world(const contacts_world&) = delete;
    ~contacts_world()
    {
        remove_db(path);
        remove_db(remote_path);
    }
};

bool run_contacts(contacts_world& w, injector& faults)
{
    faulty store(w.db, faults);
    contacts::options o;
    o.chunk = 4;
    o.log_every = 1'000'000;
    o.ledger = w.ledger;
    return contacts::sync_contacts(store, w.remote, o, w.clock, sturdy::discard_sink{}).remaining == 0;
}

/// The world's remote CRM, an SQLite file.
sturdy::sqlite::database& remote_file(contacts::remote_crm& remote)
{
    sturdy::sqlite::database* file = nullptr;
    remote.visit([&](auto& db) {
        if constexpr (std::same_as<std::remove_cvref_t<decltype(db)>, sturdy::sqlite::database>) {
            file = &db;
        }
    });
    REQUIRE(file != nullptr);
    return *file;
}

std::string check_contacts(contacts_world& w)
{
    const auto failures = w.db.ledger("contact_sync").failures();
    const auto still_failing = failing(failures);
    const auto excused = [&](const sturdy::key& k) {
        return std::ranges::find(still_failing, k) != still_failing.end();
    };
    std::vector<sturdy::key> expected;
    std::vector<sturdy::testing::watermarked<std::int64_t>> items;
    for (const auto& c : w.db.query<contacts::contact>("SELECT id, name, email, write_date FROM contact")) {
        const sturdy::key k(std::to_string(c.id) + "/" + std::to_string(c.write_date));
        items.push_back({c.write_date, k});
        if (!excused(k)) { // at-least-once: a failing contact may have reached the remote
            expected.push_back(k);
        }
    }
    auto applied = column_keys(remote_file(w.remote), "SELECT contact_id || '/' || version FROM remote_request");
    std::erase_if(applied, excused);
    const auto marks = column_keys(w.db, "SELECT item_key FROM sturdy_ledger WHERE namespace = 'contact_sync'");
    // With the marker ledger, a contact's version is done when its synced_write_date holds it
    // (each contact has one version here), and sturdy writes no row of its own.
    const bool marker = w.ledger == contacts::ledger_kind::marker;
    const auto done = marker ? column_keys(w.db, "SELECT id || '/' || synced_write_date FROM contact WHERE "
                                                 "synced_write_date IS NOT NULL")
                             : marks;
    const auto checkpoint = w.db.checkpoint("contact_sync");
    const std::optional<std::int64_t> mark =
        checkpoint ? std::optional<std::int64_t>(std::stoll(*checkpoint)) : std::nullopt;
    std::size_t stale = 0; // the remote holds each contact at its latest version
    for (const auto& [id, version] : remote_file(w.remote).query<std::tuple<std::int64_t, std::int64_t>>(
             "SELECT contact_id, version FROM remote_contact")) {
        stale += w.db.query_one<std::int64_t>("SELECT write_date FROM contact WHERE id = ?", id) == version ? 0 : 1;
    }
    return joined({sturdy::testing::exactly_once(expected, applied),
                   sturdy::testing::ledger_matches_effects(done, applied),
                   sturdy::testing::watermark_not_ahead(mark, items, done, failures),
                   stale == 0 ? "" : std::to_string(stale) + " remote contact(s) not at their latest version",
                   !marker || marks.empty() ? "" : std::to_string(marks.size()) + " sturdy_ledger row(s)"});
}
} // namespace

TEST_CASE("seed jobs under crashes: invoicing on the memory store")
{
    const stopwatch start;
    const auto r = crash_until(
        crash_points(), [] { return memory_jobs::invoicing_world(14); }, // subscription 13 is poison
        [](memory_jobs::invoicing_world& w, injector& faults) {
            faulty store(w.db, faults);
            return memory_jobs::invoice_due(store, w.input, w.clock);
        },
        memory_jobs::check_invoicing);
    require_ok("invoicing, memory", r, start);
}

TEST_CASE("seed jobs under crashes: contact sync on the memory store")
{
    const stopwatch start;
    const auto r = crash_until(
        crash_points(), [] { return memory_jobs::contacts_world(15); },
        [](memory_jobs::contacts_world& w, injector& faults) {
            faulty store(w.db, faults);
            return memory_jobs::sync_contacts(store, w.contacts, w.remote, w.clock);
        },
        memory_jobs::check_contacts);
    require_ok("contact sync, memory", r, start);
}

TEST_CASE("seed jobs under crashes: examples/subscription_invoicing.cpp on SQLite")
{
    // Its default ledger (the invoice table's unique key), then sturdy_ledger (--ledger table)
    // with a quarter as many crash points.
    const bool table = GENERATE(false, true);
    const std::size_t points = table ? crash_points() / 4 : crash_points();
    const stopwatch start;
    const auto r = crash_until(
        points,
        [table] {
            auto w = std::make_unique<invoicing_world>();
            w->ledger = table ? invoicing::ledger_kind::table : invoicing::ledger_kind::unique_key;
            return w;
        },
        [](std::unique_ptr<invoicing_world>& w, injector& faults) { return run_invoicing(*w, faults); },
        [](std::unique_ptr<invoicing_world>& w) { return check_invoicing(*w); }, sqlite_crashes_per_scenario);
    require_ok(table ? "invoicing, SQLite, --ledger table" : "invoicing, SQLite", r, start, points);
}

TEST_CASE("seed jobs under crashes: examples/contact_sync.cpp on SQLite")
{
    // Its default ledger (sturdy_ledger), then the contact's marker column (--ledger marker)
    // with a quarter as many crash points.
    const bool marker = GENERATE(false, true);
    const std::size_t points = marker ? crash_points() / 4 : crash_points();
    const stopwatch start;
    const auto r = crash_until(
        points,
        [marker] {
            auto w = std::make_unique<contacts_world>();
            w->ledger = marker ? contacts::ledger_kind::marker : contacts::ledger_kind::table;
            return w;
        },
        [](std::unique_ptr<contacts_world>& w, injector& faults) { return run_contacts(*w, faults); },
        [](std::unique_ptr<contacts_world>& w) { return check_contacts(*w); }, sqlite_crashes_per_scenario);
    require_ok(marker ? "contact sync, SQLite, --ledger marker" : "contact sync, SQLite", r, start, points);
}
