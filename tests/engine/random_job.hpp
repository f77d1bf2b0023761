#pragma once
// A random job for the engine's whole-run tests (engine/sums, engine/differential; engine/events
// uses its recorder): a plan drawn from a seed (the job's shape and, for each of its runs, which
// items fail how and which chunk commits fail), the job itself on the memory or the SQLite store,
// a hook that records every event, and the state of the store after a run.
//
// The job: items 0..n-1, keyed by their value, `idempotent_by` (quarantine after q failed runs),
// `chunked(db, c)`, `guarded(db, effect, mode)` writing one row per item into a table `effect`,
// `retry_bounded(a, none)`, `with_clock(manual_clock)`, and hooks in this order: the recorder
// (first, so it sees every event the user's hooks see), a hook whose before_commit fails chosen
// commits, a hook that may stop the run (it logs its verdicts), sometimes `failure_budget(k)`,
// and a witness that marks each on_item event that reached it (last: an item at which a hook
// before it stopped the run does not reach it, so the log shows where the budget stopped). The
// effect logs the fatal errors it throws, so the log shows where a fatal failure stopped the run.

#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace random_job {

// --- the plan ------------------------------------------------------------------------------

/// splitmix64: the same numbers on every platform, so a seed replays anywhere.
struct rng {
    std::uint64_t state;
    std::uint64_t next()
    {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31U);
    }
    int below(int n) { return n <= 0 ? 0 : static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
    bool chance(int percent) { return below(100) < percent; }
};

/// How one item fails in one run. All but `fails_on_call` depend only on the attempt number
/// within the run (`item_context::attempt`), so the item behaves the same whenever it is re-run.
struct item_fault {
    enum kind_t {
        transient,     ///< attempts 1..n throw sturdy::transient_error, later ones succeed
        permanent,     ///< every attempt throws std::runtime_error
        fatal,         ///< attempts from n on fail with errc::store_unavailable (before: transient)
        key_throws,    ///< the key function throws
        fails_on_call, ///< the n-th call of the effect for this item in this run throws (permanent)
    } kind;
    int n = 1;
};

/// How one commit attempt of a chunk fails: the before_commit hook throws this.
enum class commit_fault { transient, permanent };

/// When the stopping hook stops the run.
struct stop_rule {
    enum kind_t {
        never,
        before_chunk,  ///< before the at-th chunk
        at_item,       ///< at the at-th on_item event
        first_failure, ///< at the first failed outcome it sees
    } kind = never;
    int at = 0;
    std::size_t give_back = 0; ///< on_item stops: the verdict's give_back
};

struct run_plan {
    std::map<int, item_fault> items;                     ///< the items that fail, by value
    std::map<std::pair<int, int>, commit_fault> commits; ///< (chunk from 1, commit attempt from 1)
    stop_rule stop;

    [[nodiscard]] bool key_throws(int v) const
    {
        auto f = items.find(v);
        return f != items.end() && f->second.kind == item_fault::key_throws;
    }
    /// Throws what item `v`'s `attempt`-th attempt (its `call`-th call) fails with, if anything.
    void strike(int v, int attempt, int call) const;
};

struct job_plan {
    std::uint64_t seed = 0;
    int items = 0;
    std::size_t chunk = 1;
    int attempts = 1;
    int quarantine_after = 1;
    std::optional<std::size_t> budget; ///< failure_budget(k)
    std::vector<run_plan> runs;
};

/// What a plan may hold: the differential test leaves out what depends on the path taken
/// (faults by call count, a stop at the n-th on_item event, which fast chunks do not send).
struct plan_options {
    bool call_count_faults = true;
    bool stop_at_nth_item = true;
};

job_plan make_plan(std::uint64_t seed, plan_options options = {});

/// The plan, one run per line, for a failure's message.
std::string describe(const job_plan& plan);

// --- events --------------------------------------------------------------------------------

/// One event a run sent to the recorder, or something the test's own code did: a commit fault it
/// injected, a verdict of its stopping hook, a fatal error its effect threw.
struct event {
    enum kind_t {
        run_start,
        chunk,
        item,
        successes,
        commit,
        commit_failed, ///< injected, from before_commit (after the recorder's commit event)
        verdict,       ///< the stopping hook stopped the run (after the chunk or item event it answers)
        fatal,         ///< the effect threw an error that stops the run (errc::store_unavailable)
        chunk_end,
        failure,
        run_end
    } kind;
    int item_key = -1;                                                    ///< item, failure, fatal
    sturdy::item_outcome outcome = sturdy::item_outcome::done;            ///< item
    sturdy::failure_kind failure_class = sturdy::failure_kind::permanent; ///< item: its failure's kind
    bool failed_before = false; ///< item: its key had a failure record when the run started
    bool passed = false;        ///< item: it reached the last hook (no hook before it stopped the run there)
    std::string reason;         ///< item (failed), failure, commit_failed, verdict
    std::size_t a = 0;          ///< chunk: so_far.seen; successes: done; commit: items; chunk_end: so_far.done;
                                ///< verdict: give_back
    std::size_t b = 0;          ///< successes: skipped; commit: done
    std::size_t c = 0;          ///< successes: quarantined
    std::optional<int> last;    ///< commit: the last item, if any

    explicit event(kind_t k, std::size_t a_ = 0, std::size_t b_ = 0, std::size_t c_ = 0) : kind(k), a(a_), b(b_), c(c_)
    {
    }
};

/// The line hook.cpp's recorder writes for an event (without its name).
std::string line(const event& e);

/// "done", "skipped", "quarantined", "failed".
const char* outcome_name(sturdy::item_outcome o);

/// Records every event it sees.
struct recorder {
    std::vector<event>* log;

    void on_run_start(const sturdy::run_started& /*unused*/) { log->emplace_back(event::run_start); }
    void before_chunk(const sturdy::chunk_starting& e) { log->emplace_back(event::chunk, e.so_far.seen); }
    void on_item(const sturdy::item_settled& e)
    {
        event& ev = log->emplace_back(event::item);
        ev.item_key = static_cast<int>(e.item_key.integer());
        ev.outcome = e.outcome;
        ev.failure_class = e.kind;
        ev.failed_before = e.failed_before;
        ev.reason = e.reason;
    }
    void on_successes(const sturdy::successes& e)
    {
        log->emplace_back(event::successes, e.done, e.skipped, e.quarantined);
    }
    void before_commit(const sturdy::chunk_committing<int>& e)
    {
        event& ev = log->emplace_back(event::commit, e.items, e.done);
        if (e.last != nullptr) {
            ev.last = *e.last;
        }
    }
    void after_chunk(const sturdy::chunk_ended& e) { log->emplace_back(event::chunk_end, e.so_far.done); }
    void on_failure(const sturdy::failure_record& f)
    {
        event& ev = log->emplace_back(event::failure);
        ev.item_key = static_cast<int>(f.item_key.integer());
        ev.reason = f.reason;
    }
    void on_run_end(const sturdy::report& /*unused*/) { log->emplace_back(event::run_end); }
};

/// Fails the commit attempts the plan names (by chunk and attempt), from before_commit.
struct commit_faults {
    const run_plan* plan;
    std::vector<event>* log;
    int chunk = 0;
    int attempt = 0;

    void before_chunk(const sturdy::chunk_starting& /*unused*/)
    {
        ++chunk;
        attempt = 0;
    }
    void before_commit(const sturdy::chunk_committing<int>& /*unused*/);
};

/// Stops the run as the plan says, once a run, and logs its verdict.
struct stopper {
    stop_rule rule;
    std::vector<event>* log;
    int chunks = 0;
    int items = 0;
    bool fired = false;

    sturdy::verdict before_chunk(const sturdy::chunk_starting& /*unused*/);
    sturdy::verdict on_item(const sturdy::item_settled& e);

private:
    sturdy::verdict stop(std::string why, std::size_t give_back);
};

/// The last hook: marks the item event the recorder just logged as having reached it.
struct witness {
    std::vector<event>* log;
    void on_item(const sturdy::item_settled& /*unused*/)
    {
        if (!log->empty() && log->back().kind == event::item) {
            log->back().passed = true;
        }
    }
};

// --- stores --------------------------------------------------------------------------------

/// A failure record, as ledger.failures() gives it and as the tests model it.
struct record {
    int item_key = 0;
    int runs = 0;
    bool quarantined = false;
    auto operator<=>(const record&) const = default;
};

/// What a run leaves in the store: effect rows, ledger marks, failure records.
struct store_state {
    std::set<int> effect;
    std::set<int> marks;
    std::vector<record> failures;
    bool operator==(const store_state&) const = default;
};

std::string describe(const store_state& s);

constexpr const char* ledger_name = "sums";

class memory_store {
public:
    static constexpr const char* name = "memory";
    memory_store() : effect_(&db_.table("effect")) {}
    memory_store(const memory_store&) = delete;
    memory_store& operator=(const memory_store&) = delete;

    sturdy::memory::database& db() { return db_; }
    sturdy::memory::ledger ledger() { return db_.ledger(ledger_name); }
    void write_effect(int v) { effect_->insert(v, "x"); }
    store_state state();

private:
    sturdy::memory::database db_;
    sturdy::memory::table* effect_;
};

/// A real file in a temporary directory of its own: a copy of an empty database made once (with
/// the effect table and sturdy's tables), opened with synchronous=OFF. Its transactions and
/// savepoints are SQLite's; only the waits for the disk are left out (creating a file and
/// committing wait several milliseconds each on a shared machine, and the tests open hundreds).
class sqlite_store {
public:
    static constexpr const char* name = "SQLite";
    sqlite_store();
    sqlite_store(const sqlite_store&) = delete;
    sqlite_store& operator=(const sqlite_store&) = delete;

    sturdy::sqlite::database& db() { return db_; }
    sturdy::sqlite::ledger ledger() { return db_.ledger(ledger_name); }
    void write_effect(int v) { db_.execute("INSERT INTO effect(id) VALUES(?)", v); }
    store_state state();

private:
    test::temp_dir dir_;
    sturdy::sqlite::database db_;
};

/// The SQLite store with the effect's own table as the ledger: `effect(id)`'s primary key
/// (`db.ledger(sturdy::unique_key{"effect", {"id"}, "sums"})`), so the ledger's marks are the
/// effect rows, checked after each chunk and segment, and sturdy writes no `sturdy_ledger` row.
class sqlite_effect_store {
public:
    static constexpr const char* name = "SQLite, the effect's table as the ledger";
    sturdy::sqlite::database& db() { return inner_.db(); }
    sturdy::sqlite::unique_key_ledger ledger()
    {
        return db().ledger(sturdy::unique_key{"effect", {"id"}, ledger_name});
    }
    void write_effect(int v) { inner_.write_effect(v); }
    /// The marks are the effect rows; a `sturdy_ledger` row would be a mark of the wrong kind
    /// (the model expects none) and shows up as a mark of -1.
    store_state state();

private:
    sqlite_store inner_;
};

// --- the job -------------------------------------------------------------------------------

/// Runs the plan's run number `run` on `store`, recording its events into `log`.
template <class Store> sturdy::report run_job(Store& store, const job_plan& plan, std::size_t run,
                                              sturdy::isolation mode, std::vector<event>& log)
{
    const run_plan& faults = plan.runs[run];
    const std::vector<int> input = test::range_of(plan.items);
    auto ledger = store.ledger();
    sturdy::manual_clock clock;
    recorder rec{&log};
    commit_faults commits{&faults, &log};
    stopper stop{faults.stop, &log};
    witness last{&log};
    std::map<int, int> calls; // per item, for faults by call count
    auto key_fn = [&](int v) {
        if (faults.key_throws(v)) {
            throw std::runtime_error("no key for item " + std::to_string(v));
        }
        return v;
    };
    auto effect = [&](int v, const sturdy::item_context& ctx) {
        store.write_effect(v); // first, so that a failure has something to roll back
        try {
            faults.strike(v, ctx.attempt, ++calls[v]);
        } catch (const sturdy::failure_error& e) {
            if (e.code() == sturdy::make_error_code(sturdy::errc::store_unavailable)) {
                log.emplace_back(event::fatal).item_key = v;
            }
            throw;
        }
    };
    auto job = input | sturdy::idempotent_by(ledger, key_fn, sturdy::quarantine_after{plan.quarantine_after}) |
               sturdy::chunked(store.db(), plan.chunk) | sturdy::guarded(store.db(), effect, mode) |
               sturdy::retry_bounded(plan.attempts, sturdy::backoff::none()) | sturdy::with_clock(clock) |
               sturdy::hook(rec) | sturdy::hook(commits) | sturdy::hook(stop);
    if (plan.budget) {
        return std::move(job) | sturdy::failure_budget(*plan.budget) | sturdy::hook(last) | sturdy::drain;
    }
    return std::move(job) | sturdy::hook(last) | sturdy::drain;
}

/// The report's counts that must not depend on the path taken (all but retried and chunks).
std::string counts(const sturdy::report& r);

/// A seed range from the environment: STURDY_SUMS_SEED=s runs seed s alone (a replay),
/// STURDY_SUMS_SEEDS=n runs seeds 1..n; `fallback` seeds otherwise.
std::vector<std::uint64_t> seeds(std::uint64_t fallback);

} // namespace random_job
