// Checks the whole by its sums. A random job (tests/engine/random_job.hpp: items failing
// transiently, permanently, fatally, by their key function or on a re-run; commits failing; a
// failure budget; a hook stopping the run) runs 1 to 4 times on the same store, memory and
// SQLite, with isolation::per_chunk (the fast path first) and, on odd seeds per_segment, on even
// ones per_item (the careful path from the start). After each run:
//   (a) the events follow the event contract below, and add up to the report item by item;
//   (b) the report adds up: every item of the input is done, skipped, quarantined, failed or
//       remaining, and every failure is awaiting retry or quarantined by this run;
//   (c) the report adds up to the store: effect rows == ledger marks == everything done so far,
//       and the failure records are what the runs did (modelled here: a key's count goes up by
//       one in a run that records its failure, the record goes when the key is done, and it is
//       quarantined once the count reaches quarantine_after; once the store differs, the model
//       takes its records, so that one defect is reported once).
//
// The event contract (hook.hpp's promise, made exact), as the model below follows it:
//  1. A chunk that commits on its first, fast attempt sends one on_successes{done, skipped,
//     quarantined} after its commit and no on_item.
//  2. Any other chunk (the careful path) shows each item it processes to on_item once its
//     outcome is final within the attempt, in item order: done, skipped, quarantined (from an
//     earlier run) and failed alike; the items left unprocessed because the run stopped are not
//     shown. Each attempt ends in a before_commit: its `items`, `done`, and `last`, the last item
//     before the first one the next run must read again (not shown, its key function threw, its
//     failure held or given back; none when an earlier chunk left such an item, or a held
//     failure not yet released).
//  3. A chunk whose commit fails transiently runs again and shows its items again; what the
//     abandoned attempt did (a verdict, what it gave back, what it released) is undone with it.
//  4. A chunk whose commit fails for good shows every item again after its last attempt, in
//     order: skipped (found done in its last attempt) and quarantined stay so, an item whose key
//     function threw stays failed, the others fail with "its chunk could not commit: ...". This
//     showing is the chunk's last word: what its last attempt decided is undone as in 3 (a
//     verdict's stop too), and a verdict here stops the run as in an attempt. But a fatal failure
//     in the last attempt outlives it: the run stops before the chunk, which is all remaining and
//     not shown again.
//  5. Inside a chunk, a verdict stops the run at its item (the first applies, a fatal failure
//     counts as one): items after it that did not run count as remaining, quarantined ones
//     included, and are not shown; items after it that ran before the stop was decided are still
//     shown, with their outcome. The run ends after the chunk.
//  6. Held failures: every pipeline here has a hook whose on_item returns a verdict, so a failure
//     that counts as an outage (transient, of a key with no failure record at the run's start)
//     is held: no record, no on_failure, no count when its chunk ends. An item done after it
//     (in its chunk or a later one) releases it: recorded in that item's chunk, on_failure after
//     that chunk's commit. A verdict that stops the run gives back its latest N held failures
//     (the chunk's own from the latest, then earlier chunks' not yet released): remaining, no
//     record, no on_failure. Those left at the run's end are recorded in a transaction of their
//     own: on_failure after the last chunk. Every other failure is settled with its chunk: an
//     on_failure after its commit (or after it was given up: then with no record).
//  7. failure_budget(k) counts failures that count as an outage; an item done (shown, or in
//     on_successes) ends its streak; it stops at the k-th of a streak, giving the streak back.
//     As every event of a chunk run again reaches it, an abandoned attempt's failures count too
//     (known: events.cpp's "does not spend the failure budget twice").
// The log tells the model which hook stopped the run where: the stopping hook logs its verdicts,
// the effect the fatal errors it throws, and the last hook marks the items that reached it.
//
// Each problem starts with a tag naming the rule it breaks ([1] to [7], [last] for what
// before_commit says, [report] and [store]); the test's summary counts them. A failure prints the
// seed, the mode and the plan, and the first failing run's events; STURDY_SUMS_SEED=<seed>
// replays one seed (with every failing run's events), STURDY_SUMS_SEEDS=<n> runs seeds 1..n.
#include "random_job.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace random_job;

namespace {

std::string keys(const std::vector<int>& ks)
{
    std::string s;
    for (int k : ks) {
        s += (s.empty() ? "" : " ") + std::to_string(k);
    }
    return "[" + s + "]";
}

std::string item_name(std::optional<int> k) { return k ? "item " + std::to_string(*k) : "none"; }

bool contains(const std::vector<int>& v, int k) { return std::find(v.begin(), v.end(), k) != v.end(); }

// --- what the model knows -------------------------------------------------------------------

/// What the test knows of an item before a run.
struct item_facts {
    bool marked = false;      ///< done in an earlier run: the ledger holds its key
    bool has_record = false;  ///< its key has a failure record from an earlier run
    bool quarantined = false; ///< ... which put it in quarantine
    bool key_throws = false;  ///< its key function throws in this run
};

/// An item's outcome in the run, as the events tell it. `held`: failed, waiting for its streak
/// to end (by the run's end, each one is failed or remaining).
enum class fate { done, skipped, quarantined, failed, remaining, held };

const char* fate_name(fate f)
{
    const char* names[] = {"done", "skipped", "quarantined", "failed", "remaining", "held"};
    return names[static_cast<int>(f)];
}

/// The class of a failure, by its reason: the test's transient faults say "busy", and so does a
/// chunk whose commit failed transiently.
sturdy::failure_kind kind_of(const std::string& reason)
{
    const bool transient = reason.starts_with("busy") || reason.starts_with("its chunk could not commit: audit busy");
    return transient ? sturdy::failure_kind::transient : sturdy::failure_kind::permanent;
}

/// What one run's events say happened, and what broke the contract.
struct tally {
    std::size_t seen = 0;
    std::map<int, fate> fates;    ///< every item read
    std::map<int, bool> failed;   ///< key -> its failure has a record (one on_failure each)
    std::set<int> chunk_failures; ///< failed because their chunk could not commit
    std::vector<std::string> problems;

    [[nodiscard]] std::size_t count(fate f) const
    {
        return static_cast<std::size_t>(
            std::count_if(fates.begin(), fates.end(), [f](const auto& kv) { return kv.second == f; }));
    }
    [[nodiscard]] std::set<int> keys_with(fate f) const
    {
        std::set<int> out;
        for (const auto& [k, v] : fates) {
            if (v == f) {
                out.insert(k);
            }
        }
        return out;
    }
};

// --- the log, chunk by chunk ----------------------------------------------------------------

/// One chunk's events, between its before_chunk and its after_chunk.
struct chunk_log {
    std::size_t first = 0; ///< the chunk's first item (so_far.seen): items are 0..n-1, read in order
    std::vector<const event*> events;
    bool ended = false; ///< after_chunk came (not for a chunk the run stopped before)
};

struct run_log {
    std::vector<chunk_log> chunks;
    std::vector<const event*> at_end; ///< on_failure after the last chunk: held failures settled at the end
};

run_log split_into_chunks(const std::vector<event>& log, std::vector<std::string>& problems)
{
    run_log out;
    if (log.empty() || log.front().kind != event::run_start || log.back().kind != event::run_end) {
        problems.push_back("[2] the run's events do not start with on_run_start and end with on_run_end");
    }
    for (const event& e : log) {
        switch (e.kind) {
        case event::run_start:
        case event::run_end: break;
        case event::chunk: out.chunks.emplace_back().first = e.a; break;
        case event::chunk_end:
            if (out.chunks.empty() || out.chunks.back().ended) {
                problems.push_back("[2] after_chunk with no chunk in flight");
            } else {
                out.chunks.back().ended = true;
            }
            break;
        default:
            if (!out.chunks.empty() && !out.chunks.back().ended) {
                out.chunks.back().events.push_back(&e);
            } else if (e.kind == event::failure && !out.chunks.empty()) {
                out.at_end.push_back(&e);
            } else {
                problems.push_back("[2] '" + line(e) + "' outside any chunk");
            }
        }
    }
    // A chunk the run stopped before has no after_chunk: the on_failure events after it are the
    // run's end's.
    if (!out.chunks.empty() && !out.chunks.back().ended) {
        auto& events = out.chunks.back().events;
        const auto failures = std::stable_partition(events.begin(), events.end(),
                                                    [](const event* e) { return e->kind != event::failure; });
        out.at_end.insert(out.at_end.begin(), failures, events.end());
        events.erase(failures, events.end());
    }
    return out;
}

// --- the model ------------------------------------------------------------------------------

/// One attempt of a chunk, or its showing again after it could not commit (4), as far as the
/// events have gone.
struct attempt {
    std::vector<int> held_before;       ///< earlier chunks' held failures, less those given back here
    bool released_before = false;       ///< an item done here released them (they are recorded with it)
    std::vector<int> given_back_before; ///< earlier chunks' held failures a verdict here gave back
    std::vector<int> held;              ///< this chunk's held failures, not released
    std::set<int> given_back;           ///< this chunk's failures a verdict here gave back
    /// The outcomes shown, by item of the chunk from its first (none: not shown; only items after
    /// the stop that did not run may be left out before an item shown).
    std::vector<std::optional<sturdy::item_outcome>> shown;
    std::size_t done = 0;
    std::optional<std::size_t> stop_at; ///< the item (index in the chunk) where the run stopped
    bool fatal = false;                 ///< ... by a fatal failure (not shown), not a verdict
    std::string stop_reason;            ///< what the report's stopped_early starts with
    bool fast = false;                  ///< it ran on the fast path (it reached its commit)

    [[nodiscard]] std::optional<sturdy::item_outcome> outcome(std::size_t idx) const
    {
        return idx < shown.size() ? shown[idx] : std::nullopt;
    }
};

/// Reads one run's events under the contract, following the held failures and the verdicts.
class event_model {
public:
    event_model(const job_plan& plan, bool fast_path, std::vector<item_facts> facts)
        : plan_(plan), fast_path_(fast_path), facts_(std::move(facts))
    {
    }

    tally read(const std::vector<event>& log, const sturdy::report& r)
    {
        const run_log runs = split_into_chunks(log, t_.problems);
        for (std::size_t c = 0; c < runs.chunks.size(); ++c) {
            read_chunk(runs.chunks[c], c + 1 == runs.chunks.size());
        }
        where_ = "the run's end: ";
        expected_.clear();
        for (int k : held_) {
            expect_failure(k, true, "held, recorded at the run's end");
        }
        held_.clear();
        compare_failures(runs.at_end);
        check_stop(r);
        t_.seen = seen_;
        return std::move(t_);
    }

private:
    void problem(const std::string& tag, const std::string& p) { t_.problems.push_back(tag + " " + where_ + p); }

    void set_fate(int k, fate f, std::string why = {})
    {
        why_[k] = std::move(why);
        const auto [it, fresh] = t_.fates.try_emplace(k, f);
        if (!fresh && it->second != fate::held) {
            problem("[2]", "item " + std::to_string(k) + " has a final outcome twice (" + fate_name(it->second) +
                               ", then " + fate_name(f) + ")");
        }
        it->second = f;
    }

    void expect_failure(int k, bool recorded, std::string why)
    {
        expected_.emplace_back(k, std::move(why));
        t_.failed[k] = recorded;
        set_fate(k, fate::failed);
    }

    [[nodiscard]] attempt fresh_attempt() const
    {
        attempt a;
        a.held_before = held_;
        return a;
    }

    [[nodiscard]] int key_at(std::size_t idx) const { return static_cast<int>(first_ + idx); }

    // --- a chunk ------------------------------------------------------------------------------

    void read_chunk(const chunk_log& c, bool last_chunk)
    {
        first_ = c.first;
        where_ = "chunk from item " + std::to_string(first_) + ": ";
        expected_.clear();
        if (first_ != seen_) {
            problem("[2]",
                    "so_far.seen is " + std::to_string(first_) + ", the chunks before read " + std::to_string(seen_));
        }
        const auto& ev = c.events;
        if (std::none_of(ev.begin(), ev.end(), [](const event* e) { return e->kind == event::commit; })) {
            // The run stopped before the chunk (so it is the last).
            if (ev.size() != 1 || ev.front()->kind != event::verdict || c.ended || !last_chunk) {
                problem("[5]", "a chunk with no before_commit, which is not a stop before the chunk");
            } else {
                stop_ = ev.front()->reason;
            }
            return;
        }
        n_ = std::min(plan_.chunk, static_cast<std::size_t>(plan_.items) - first_);
        seen_ += n_;

        enum class phase { running, committed, given_up } ph = phase::running;
        attempt a = fresh_attempt();
        attempt last; // once given up: its last attempt
        int attempt_no = 1;
        bool fast_committed = false;
        std::vector<const event*> failures;
        for (std::size_t i = 0; i < ev.size(); ++i) {
            const event& e = *ev[i];
            const event* next = i + 1 < ev.size() ? ev[i + 1] : nullptr;
            switch (e.kind) {
            case event::item:
                if (ph == phase::committed) {
                    problem("[2]", "'" + line(e) + "' after the chunk's last before_commit (it committed)");
                } else {
                    const event* verdict = next != nullptr && next->kind == event::verdict ? next : nullptr;
                    show(a, e, verdict, ph == phase::given_up ? &last : nullptr);
                    i += verdict != nullptr ? 1 : 0;
                }
                break;
            case event::fatal:
                if (ph != phase::running) {
                    problem("[2]", "an effect ran after the chunk's last attempt");
                } else if (!a.stop_at) {
                    a.stop_at = static_cast<std::size_t>(e.item_key) - first_;
                    a.fatal = true;
                    a.stop_reason = "stopped: ";
                }
                break;
            case event::commit:
                if (ph != phase::running) {
                    problem("[3]", "a before_commit after the chunk's last attempt");
                    break;
                }
                check_commit(a, e, attempt_no);
                if (next != nullptr && next->kind == event::commit_failed) {
                    ++i;
                    const bool transient = next->reason.starts_with("audit busy");
                    if (transient && attempt_no < plan_.attempts) {
                        ++attempt_no; // 3: run again, from scratch
                        a = fresh_attempt();
                    } else {
                        ph = phase::given_up; // 4: shown again
                        chunk_failure_ = next->reason;
                        last = std::move(a);
                        a = fresh_attempt();
                    }
                } else {
                    ph = phase::committed;
                }
                break;
            case event::successes:
                if (ph != phase::committed || !a.fast || fast_committed) {
                    problem("[1]", "'" + line(e) + "' not right after a fast attempt's commit");
                } else {
                    fast_committed = true;
                    check_successes(a, e);
                }
                break;
            case event::failure:
                if (ph == phase::running) {
                    problem("[6]", "on_failure for item " + std::to_string(e.item_key) +
                                       " before the chunk committed or was given up");
                }
                failures.push_back(&e);
                break;
            default: problem("[2]", "unexpected '" + line(e) + "'"); break;
            }
        }
        switch (ph) {
        case phase::running: problem("[3]", "no attempt committed, and none failed for good"); return;
        case phase::committed:
            if (a.fast && !fast_committed) {
                problem("[1]", "a fast attempt committed, with no on_successes");
            }
            settle(a, true);
            break;
        case phase::given_up:
            if (last.fatal) {
                // A fatal failure in the last attempt outlives its rollback: the run stops before
                // the chunk, which is all remaining and not shown again.
                if (!a.shown.empty()) {
                    problem("[4]", "the chunk could not commit after a fatal failure, yet showed its items again");
                }
                a.stop_at = 0;
                a.fatal = true;
                a.stop_reason = last.stop_reason;
            } else if (a.shown.size() != n_) {
                problem("[4]", "the chunk could not commit, and showed " + std::to_string(a.shown.size()) + " of its " +
                                   std::to_string(n_) + " items again");
            }
            settle(a, false);
            break;
        }
        compare_failures(failures);
        if (a.stop_at) {
            stop_ = a.stop_reason;
            if (!last_chunk) {
                problem("[5]", "the run stopped at item " + std::to_string(key_at(*a.stop_at)) + ", yet went on");
            }
        }
    }

    /// An on_item event of attempt `a` (of the showing again after `last_attempt` when the chunk
    /// could not commit), and the stopping hook's verdict on it, if any.
    void show(attempt& a, const event& e, const event* verdict, const attempt* last_attempt)
    {
        const int k = e.item_key;
        const std::size_t next = a.shown.size();
        const std::string tag = last_attempt != nullptr ? "[4]" : "[2]";
        if (k < key_at(next) || k >= key_at(n_)) {
            problem(tag, "'" + line(e) + "', where item " + std::to_string(key_at(next)) +
                             " is next (in order, once an attempt)");
            return;
        }
        const auto idx = static_cast<std::size_t>(k) - first_;
        for (std::size_t gap = next; gap < idx; ++gap) { // 5: left out, after the stop
            const item_facts& g = facts_[static_cast<std::size_t>(key_at(gap))];
            if (last_attempt != nullptr || !a.stop_at || gap <= *a.stop_at || !(g.quarantined || g.key_throws)) {
                problem(tag, "'" + line(e) + "', but item " + std::to_string(key_at(gap)) +
                                 " was not shown before it (in order; after the stop, only items that did not run "
                                 "may be left out)");
            }
            a.shown.emplace_back();
        }
        check_outcome(e, idx, last_attempt);
        const item_facts& f = facts_[static_cast<std::size_t>(k)];
        const bool failed = e.outcome == sturdy::item_outcome::failed;
        const bool done = e.outcome == sturdy::item_outcome::done;
        const bool outage =
            failed && kind_of(e.reason) == sturdy::failure_kind::transient && !f.has_record && !f.key_throws;

        // 6: an item done releases the held failures before it; an outage is held.
        if (done) {
            ++a.done;
            a.released_before = true;
            a.held.clear();
        } else if (outage) {
            a.held.push_back(k);
        }

        // 7: the failure budget sees the item unless the stopping hook (before it) stopped there.
        bool budget_stops = false;
        if (plan_.budget && verdict == nullptr) {
            if (outage) {
                budget_stops = ++streak_ >= *plan_.budget;
            } else if (done) {
                streak_ = 0;
            }
        }
        const bool stops = verdict != nullptr || budget_stops;
        if (e.passed == stops) {
            problem("[7]", "'" + line(e) + "' " + (e.passed ? "reached" : "did not reach") +
                               " the last hook; the failure budget's streak is " + std::to_string(streak_) +
                               (verdict != nullptr ? " (the stopping hook stopped there)" : ""));
        }
        if (stops && !a.stop_at) { // 5: the first verdict applies
            a.stop_at = idx;
            a.stop_reason = verdict != nullptr ? verdict->reason : "failure budget spent";
            give_back(a, verdict != nullptr ? verdict->a : streak_);
        }
        a.shown.push_back(e.outcome);
    }

    /// 6: the latest `n` held failures: the chunk's first, then earlier chunks' not released.
    static void give_back(attempt& a, std::size_t n)
    {
        for (; n > 0 && !a.held.empty(); --n) {
            a.given_back.insert(a.held.back());
            a.held.pop_back();
        }
        for (; n > 0 && !a.released_before && !a.held_before.empty(); --n) {
            a.given_back_before.push_back(a.held_before.back());
            a.held_before.pop_back();
        }
    }

    /// The outcome shown for item `idx` can be what the test knows of it.
    void check_outcome(const event& e, std::size_t idx, const attempt* last_attempt)
    {
        const int k = e.item_key;
        const item_facts& f = facts_[static_cast<std::size_t>(k)];
        const bool again = last_attempt != nullptr;
        // 4: an item the last attempt found done stays skipped (a fast attempt ran them all).
        const bool stays_skipped =
            again && f.marked && (last_attempt->fast || last_attempt->outcome(idx) == sturdy::item_outcome::skipped);
        std::string wrong;
        switch (e.outcome) {
        case sturdy::item_outcome::done:
            if (again) {
                wrong = "its chunk could not commit";
            } else if (f.marked || f.quarantined || f.key_throws) {
                wrong = "it was done before, quarantined, or has no key";
            }
            break;
        case sturdy::item_outcome::skipped:
            if (!f.marked || f.key_throws) {
                wrong = "it was not done before the run";
            }
            break;
        case sturdy::item_outcome::quarantined:
            if (!f.quarantined || f.key_throws) {
                wrong = "it was not in quarantine";
            }
            break;
        case sturdy::item_outcome::failed:
            if (f.key_throws) {
                wrong = e.reason.starts_with("key function threw") ? "" : "its key function threw";
            } else if (f.quarantined) {
                wrong = "it is in quarantine";
            } else if (again) {
                if (e.reason != "its chunk could not commit: " + chunk_failure_) {
                    wrong = "its chunk could not commit: " + chunk_failure_;
                } else if (stays_skipped) {
                    wrong = "its chunk's last attempt found it done";
                }
            } else if (f.marked) {
                wrong = "it was done before the run";
            } else if (!e.reason.starts_with("busy") && !e.reason.starts_with("bad")) {
                wrong = "not a failure of its own";
            }
            if (wrong.empty() && e.failure_class != kind_of(e.reason)) {
                wrong = "the wrong kind of failure";
            }
            if (wrong.empty() && e.failed_before != (f.has_record && !f.key_throws)) {
                wrong = std::string("failed_before is wrong: the key ") + (f.has_record ? "has" : "has no") +
                        " failure record";
            }
            break;
        }
        if (again && stays_skipped && e.outcome != sturdy::item_outcome::skipped && wrong.empty()) {
            wrong = "its chunk's last attempt found it done";
        }
        if (!wrong.empty()) {
            problem(again ? "[4]" : "[2]", "'" + line(e) + "': " + wrong);
        }
    }

    /// The end of an attempt: what before_commit says.
    void check_commit(attempt& a, const event& e, int attempt_no)
    {
        const std::string at = "attempt " + std::to_string(attempt_no) + ": ";
        if (e.a != n_) {
            problem("[last]",
                    at + "before_commit says " + std::to_string(e.a) + " items, the chunk has " + std::to_string(n_));
        }
        std::optional<int> last;
        std::string why;
        a.fast = fast_path_ && attempt_no == 1 && a.shown.empty() && !a.stop_at;
        if (a.fast) { // every item ran in the chunk's transaction
            for (std::size_t idx = 0; idx < n_; ++idx) {
                const item_facts& f = facts_[static_cast<std::size_t>(key_at(idx))];
                if (f.key_throws) {
                    problem("[1]", at + "a fast attempt reached its commit past item " + std::to_string(key_at(idx)) +
                                       ", whose key function threw");
                }
                a.done += !f.marked && !f.quarantined && !f.key_throws ? 1 : 0;
            }
            a.released_before = a.done > 0;
            why = left_before(a);
            if (why.empty()) {
                last = key_at(n_ - 1);
            }
        } else {
            const std::size_t m = a.shown.size();
            if (a.stop_at ? (a.fatal && m != *a.stop_at) : m != n_) {
                std::vector<int> shown;
                for (std::size_t idx = 0; idx < m; ++idx) {
                    if (a.shown[idx]) {
                        shown.push_back(key_at(idx));
                    }
                }
                problem("[2]", at + "showed " + keys(shown) + " of its " + std::to_string(n_) + " items" +
                                   (a.stop_at ? ", the run stopped at item " + std::to_string(key_at(*a.stop_at))
                                              : std::string(", and did not stop")));
            }
            last = expected_last(a, why);
        }
        if (e.b != a.done) {
            problem("[last]",
                    at + "before_commit says " + std::to_string(e.b) + " done, the model " + std::to_string(a.done));
        }
        if (e.last != last) {
            problem("[last]", at + "before_commit's last is " + item_name(e.last) + ", the model's " + item_name(last) +
                                  (why.empty() ? "" : " (" + why + ")"));
        }
    }

    /// Why no item of the chunk may be `last`: an earlier item the next run must read again.
    [[nodiscard]] std::string left_before(const attempt& a) const
    {
        if (unrecorded_) {
            return "an earlier chunk left a failure with no record";
        }
        if (!a.given_back_before.empty()) {
            return "item " + std::to_string(a.given_back_before.back()) + ", of an earlier chunk, was given back";
        }
        if (!a.held_before.empty() && !a.released_before) {
            return "item " + std::to_string(a.held_before.front()) + ", of an earlier chunk, is held";
        }
        return {};
    }

    /// The careful attempt's last item before one the next run must read again.
    [[nodiscard]] std::optional<int> expected_last(const attempt& a, std::string& why) const
    {
        why = left_before(a);
        if (!why.empty()) {
            return std::nullopt;
        }
        for (std::size_t idx = 0; idx < n_; ++idx) {
            const int k = key_at(idx);
            if (!a.outcome(idx)) {
                why = "item " + std::to_string(k) + " was not processed";
            } else if (facts_[static_cast<std::size_t>(k)].key_throws) {
                why = "item " + std::to_string(k) + " has no key";
            } else if (contains(a.held, k)) {
                why = "item " + std::to_string(k) + " is held";
            } else if (a.given_back.contains(k)) {
                why = "item " + std::to_string(k) + " was given back";
            } else if (a.stop_at && idx > *a.stop_at && a.outcome(idx) == sturdy::item_outcome::quarantined) {
                why = "item " + std::to_string(k) + " is after the stop";
            } else {
                continue;
            }
            return idx == 0 ? std::nullopt : std::optional(k - 1);
        }
        return key_at(n_ - 1);
    }

    /// 1: a fast chunk's on_successes counts its items.
    void check_successes(const attempt& a, const event& e)
    {
        std::size_t skipped = 0;
        std::size_t quarantined = 0;
        for (std::size_t idx = 0; idx < n_; ++idx) {
            const item_facts& f = facts_[static_cast<std::size_t>(key_at(idx))];
            skipped += f.marked ? 1 : 0;
            quarantined += f.quarantined ? 1 : 0;
        }
        if (e.a != a.done || e.b != skipped || e.c != quarantined) {
            problem("[1]", "'" + line(e) + "', the model " + std::to_string(a.done) + "/" + std::to_string(skipped) +
                               "/" + std::to_string(quarantined));
        }
        if (e.a > 0) {
            streak_ = 0; // 7
        }
    }

    /// The chunk's end: its items' outcomes, the failures it settles, what it leaves held.
    void settle(const attempt& a, bool committed)
    {
        if (a.fast) {
            for (std::size_t idx = 0; idx < n_; ++idx) {
                const item_facts& f = facts_[static_cast<std::size_t>(key_at(idx))];
                set_fate(key_at(idx), f.marked ? fate::skipped : f.quarantined ? fate::quarantined : fate::done);
            }
        }
        std::vector<int> still_held = a.held_before;
        if (committed && a.released_before) {
            for (int k : a.held_before) {
                expect_failure(k, true, "held, released by an item done in this chunk");
            }
            still_held.clear();
        }
        for (int k : a.given_back_before) {
            set_fate(k, fate::remaining, "given back by the verdict at item " + std::to_string(key_at(*a.stop_at)));
        }
        if (a.fast) {
            held_ = std::move(still_held);
            return;
        }
        bool unrecorded = false;
        for (std::size_t idx = 0; idx < n_; ++idx) {
            const int k = key_at(idx);
            if (!a.outcome(idx)) {
                set_fate(k, fate::remaining,
                         a.stop_at ? "not shown: the run stopped at item " + std::to_string(key_at(*a.stop_at))
                                   : "not shown");
                continue;
            }
            const sturdy::item_outcome shown = *a.outcome(idx);
            const bool key_throws = facts_[static_cast<std::size_t>(k)].key_throws;
            // (Showing a chunk again after it could not commit, every item is final already.)
            if (committed && a.stop_at && idx > *a.stop_at &&
                (shown == sturdy::item_outcome::quarantined || (shown == sturdy::item_outcome::failed && key_throws))) {
                problem("[5]", "item " + std::to_string(k) + " shown " + outcome_name(shown) +
                                   " after the run stopped at item " + std::to_string(key_at(*a.stop_at)) +
                                   ": it did not run, so it is remaining, and not shown");
                set_fate(k, fate::remaining, "after the stop");
                continue;
            }
            switch (shown) {
            case sturdy::item_outcome::done: set_fate(k, fate::done); break;
            case sturdy::item_outcome::skipped: set_fate(k, fate::skipped); break;
            case sturdy::item_outcome::quarantined: set_fate(k, fate::quarantined); break;
            case sturdy::item_outcome::failed:
                if (!committed && !key_throws) {
                    t_.chunk_failures.insert(k);
                }
                if (a.given_back.contains(k)) {
                    set_fate(k, fate::remaining,
                             "given back by the verdict at item " + std::to_string(key_at(*a.stop_at)));
                } else if (contains(a.held, k)) {
                    set_fate(k, fate::held);
                    still_held.push_back(k);
                } else {
                    const bool recorded = committed && !key_throws;
                    unrecorded = unrecorded || !recorded;
                    expect_failure(k, recorded,
                                   !committed   ? "its chunk could not commit"
                                   : key_throws ? "its key function threw"
                                                : "failed in this chunk");
                }
                break;
            }
        }
        held_ = std::move(still_held);
        unrecorded_ = unrecorded_ || unrecorded;
    }

    /// The on_failure events here are those the model expects (in any order).
    void compare_failures(const std::vector<const event*>& got)
    {
        std::multiset<int> seen;
        for (const event* e : got) {
            seen.insert(e->item_key);
        }
        for (const auto& [k, why] : expected_) {
            const auto at = seen.find(k);
            if (at == seen.end()) {
                problem("[6]", "no on_failure for item " + std::to_string(k) + " (" + why + ")");
            } else {
                seen.erase(at);
            }
        }
        for (int k : seen) {
            const auto f = t_.fates.find(k);
            const std::string& why = why_[k];
            problem("[6]", "on_failure for item " + std::to_string(k) +
                               (f == t_.fates.end() ? std::string(", not read yet")
                                                    : std::string(", which the model has ") + fate_name(f->second) +
                                                          (why.empty() ? "" : " (" + why + ")")));
        }
    }

    /// The report says the run stopped exactly when the model does, and why.
    void check_stop(const sturdy::report& r)
    {
        where_ = "the run: ";
        if (stop_) {
            if (!r.stopped_early.starts_with(*stop_) || r.stopped_early.empty()) {
                problem("[5]", "stopped_early is '" + r.stopped_early + "', the model's starts with '" + *stop_ + "'");
            }
        } else if (!r.stopped_early.empty()) {
            problem("[5]", "stopped_early is '" + r.stopped_early + "', but no verdict or fatal failure stopped it");
        } else if (seen_ != static_cast<std::size_t>(plan_.items)) {
            problem("[5]", "the run did not stop, yet read " + std::to_string(seen_) + " items of " +
                               std::to_string(plan_.items));
        }
    }

    const job_plan& plan_;
    bool fast_path_;
    std::vector<item_facts> facts_; ///< by item
    tally t_;
    std::map<int, std::string> why_; ///< why an item has its fate, where it helps
    std::string where_;

    // The run so far.
    std::size_t seen_ = 0;
    std::vector<int> held_;           ///< failures held from earlier chunks, in order
    bool unrecorded_ = false;         ///< an earlier chunk left a failure with no record (6, last)
    std::size_t streak_ = 0;          ///< the failure budget's (7)
    std::optional<std::string> stop_; ///< the run stopped: how stopped_early starts

    // The chunk in flight.
    std::size_t first_ = 0;
    std::size_t n_ = 0;
    std::string chunk_failure_;                         ///< why it could not commit
    std::vector<std::pair<int, std::string>> expected_; ///< the on_failure events due, and why
};

// --- the report and the store ---------------------------------------------------------------

/// Checks each run of a plan against the runs before it: the failure records they made (a
/// model), and everything done so far.
class run_checks {
public:
    run_checks(const job_plan& plan, sturdy::isolation mode) : plan_(plan), mode_(mode) {}

    /// The problems of run `run`, whose report is `r` and events `log`, given the store before and after.
    std::vector<std::string> check(std::size_t run, const sturdy::report& r, const std::vector<event>& log,
                                   const store_state& before, const store_state& after)
    {
        const run_plan& faults = plan_.runs[run];
        quarantined_before_.clear();
        std::vector<item_facts> facts(static_cast<std::size_t>(plan_.items));
        for (int k = 0; k < plan_.items; ++k) {
            item_facts& f = facts[static_cast<std::size_t>(k)];
            f.marked = before.marks.contains(k);
            f.key_throws = faults.key_throws(k);
            if (const auto rec = model_.find(k); rec != model_.end()) {
                f.has_record = true;
                f.quarantined = rec->second.quarantined;
            }
            if (f.quarantined) {
                quarantined_before_.insert(k);
            }
        }
        tally t = event_model(plan_, mode_ == sturdy::isolation::per_chunk, std::move(facts)).read(log, r);
        problems_ = std::move(t.problems);
        const std::size_t quarantined_now = check_store(r, t, faults, before, after);
        check_report_adds_up(r, quarantined_now);
        check_events_add_up(r, t, quarantined_now);
        return std::move(problems_);
    }

private:
    void expect(bool ok, const std::string& what)
    {
        if (!ok) {
            problems_.push_back(what);
        }
    }
    static std::string str(std::size_t v) { return std::to_string(v); }

    /// (c) Effect rows == ledger marks == everything done so far; the failure records as the
    /// model has them after this run's failures. Returns how many items this run quarantined.
    std::size_t check_store(const sturdy::report& r, const tally& t, const run_plan& faults, const store_state& before,
                            const store_state& after)
    {
        std::set<int> new_marks;
        std::set_difference(after.marks.begin(), after.marks.end(), before.marks.begin(), before.marks.end(),
                            std::inserter(new_marks, new_marks.end()));
        expect(std::includes(after.marks.begin(), after.marks.end(), before.marks.begin(), before.marks.end()),
               "[store] a ledger mark vanished");
        expect(after.effect == after.marks, "[store] effect rows differ from ledger marks");
        done_so_far_ += r.done;
        expect(after.marks.size() == done_so_far_, "[store] " + str(after.marks.size()) +
                                                       " ledger marks, but the reports' done add up to " +
                                                       str(done_so_far_));
        expect(new_marks.size() == r.done,
               "[store] " + str(new_marks.size()) + " new ledger marks, " + str(r.done) + " done");
        for (int k : new_marks) {
            model_.erase(k); // a success clears the key's failure record
        }
        std::size_t quarantined_now = 0;
        for (const auto& [k, recorded] : t.failed) {
            const std::string item = "[store] item " + std::to_string(k);
            expect(!new_marks.contains(k), item + " reported failed and marked done");
            // An item whose key function threw has no key: neither ledger nor quarantine knows it.
            // One its chunk's last attempt did not reach (the run had stopped) fails with the chunk.
            expect(!before.marks.contains(k) || faults.key_throws(k) || t.chunk_failures.contains(k),
                   item + ", done in an earlier run, reported failed");
            expect(!quarantined_before_.contains(k) || faults.key_throws(k), item + " was quarantined, yet failed");
            if (recorded) {
                record& rec = model_[k];
                rec.item_key = k;
                ++rec.runs;
                rec.quarantined = rec.runs >= plan_.quarantine_after;
                quarantined_now += rec.quarantined ? 1 : 0;
            }
        }
        std::vector<record> modelled;
        for (const auto& [k, rec] : model_) {
            modelled.push_back(rec);
        }
        if (after.failures != modelled) {
            store_state expected = after;
            expected.failures = modelled;
            problems_.push_back("[store] failure records differ from the model: the store has " + describe(after) +
                                "the model has " + describe(expected));
            model_.clear(); // reported once: the next runs are checked against the store's records
            for (const record& rec : after.failures) {
                model_[rec.item_key] = rec;
            }
        }
        for (int k : t.keys_with(fate::done)) {
            expect(new_marks.contains(k), "[store] item " + std::to_string(k) + " done, not marked by this run");
        }
        return quarantined_now;
    }

    /// (b) Every item is done, skipped, quarantined (before), failed or remaining; every failure
    /// awaits retry or was quarantined by this run.
    void check_report_adds_up(const sturdy::report& r, std::size_t quarantined_now)
    {
        const auto n = static_cast<std::size_t>(plan_.items);
        const std::string now = " (" + str(quarantined_now) + " quarantined by this run)";
        expect(r.seen <= n && r.quarantined >= quarantined_now,
               "[report] seen or quarantined out of range: " + counts(r) + now);
        expect(r.done + r.skipped + (r.quarantined - quarantined_now) + r.failed + r.remaining == n,
               "[report] the report does not add up to the " + str(n) + " items: " + counts(r) + now);
        expect(r.awaiting_retry + quarantined_now == r.failed,
               "[report] awaiting_retry + quarantined by this run != failed: " + counts(r) + now);
    }

    /// (a) The events say what the report says.
    void check_events_add_up(const sturdy::report& r, const tally& t, std::size_t quarantined_now)
    {
        auto same = [&](const char* what, std::size_t from_events, std::size_t reported) {
            expect(from_events == reported, "[report] events say " + std::string(what) + " " + str(from_events) +
                                                ", the report " + str(reported));
        };
        const auto n = static_cast<std::size_t>(plan_.items);
        same("seen", t.seen, r.seen);
        same("done", t.count(fate::done), r.done);
        same("skipped", t.count(fate::skipped), r.skipped);
        same("quarantined (before this run)", t.count(fate::quarantined), r.quarantined - quarantined_now);
        same("failed", t.failed.size(), r.failed);
        same("remaining", t.count(fate::remaining) + (n - std::min(n, t.seen)), r.remaining); // + items never read
        expect(t.count(fate::held) == 0, "[6] failures still held at the run's end");
    }

    const job_plan& plan_;
    sturdy::isolation mode_;
    std::map<int, record> model_; ///< the failure records the runs so far made
    std::size_t done_so_far_ = 0;
    std::set<int> quarantined_before_;
    std::vector<std::string> problems_;
};

/// The runs of one plan on a fresh store: the problems found, each with its run, and the
/// events of the first run with problems (of every such run when `every_run`).
template <class Store>
std::vector<std::string> problems_of(const job_plan& plan, sturdy::isolation mode, bool every_run, std::string& events)
{
    Store store;
    run_checks checks(plan, mode);
    std::vector<std::string> found;
    for (std::size_t run = 0; run < plan.runs.size(); ++run) {
        const store_state before = store.state();
        std::vector<event> log;
        const sturdy::report r = run_job(store, plan, run, mode, log);
        const auto problems = checks.check(run, r, log, before, store.state());
        for (const auto& p : problems) {
            found.push_back("run " + std::to_string(run + 1) + ": " + p);
        }
        if (!problems.empty() && (events.empty() || every_run)) {
            events += "run " + std::to_string(run + 1) + " (" + counts(r) + "), events:\n";
            for (const event& e : log) {
                events += "    " + line(e) + "\n";
            }
        }
    }
    return found;
}

/// The modes a seed runs in: the fast path first always, and the careful path from the start
/// (per_segment on odd seeds, per_item on even ones), where no fast attempt hides its items.
std::vector<std::pair<const char*, sturdy::isolation>> modes_for(std::uint64_t seed)
{
    return {{"per_chunk", sturdy::isolation::per_chunk},
            seed % 2 == 1 ? std::pair("per_segment", sturdy::isolation::per_segment)
                          : std::pair("per_item", sturdy::isolation::per_item)};
}

template <class Store> void check_sums_over_seeds()
{
    const auto seeds = random_job::seeds(200);
    std::size_t failing = 0;
    std::size_t tried = 0;
    std::map<std::string, std::size_t> tags; // how many seeds and modes show each kind of problem
    for (const std::uint64_t seed : seeds) {
        const job_plan plan = make_plan(seed);
        for (const auto& [mode_name, mode] : modes_for(seed)) {
            ++tried;
            std::string events;
            const auto found = problems_of<Store>(plan, mode, seeds.size() == 1, events);
            if (found.empty()) {
                continue;
            }
            std::set<std::string> kinds;
            for (const auto& p : found) {
                const auto rest = p.substr(p.find(": ") + 2);
                kinds.insert(rest.starts_with("[") ? rest.substr(0, rest.find(' ')) : "untagged");
            }
            for (const auto& kind : kinds) {
                ++tags[kind];
            }
            const bool detailed = ++failing <= 3 || seeds.size() == 1;
            std::string msg = std::string(Store::name) + ", " + mode_name + ", seed " + std::to_string(seed) +
                              " (replay: STURDY_SUMS_SEED=" + std::to_string(seed) + ")\n";
            for (std::size_t i = 0; i < found.size() && i < 30; ++i) {
                msg += "  " + found[i] + "\n";
            }
            if (found.size() > 30) {
                msg += "  ... and " + std::to_string(found.size() - 30) + " more\n";
            }
            if (detailed) {
                msg += describe(plan) + events;
            }
            FAIL_CHECK(msg);
        }
    }
    std::string summary;
    for (const auto& [tag, count] : tags) {
        summary += " " + tag + ": " + std::to_string(count);
    }
    INFO(Store::name << ": " << failing << " of " << tried << " seeds and modes fail; by kind of problem:" << summary);
    CHECK(failing == 0);
}

} // namespace

TEST_CASE("engine sums: a random job's events, report and store add up, run after run (memory)")
{
    check_sums_over_seeds<memory_store>();
}

TEST_CASE("engine sums: a random job's events, report and store add up, run after run (SQLite)")
{
    check_sums_over_seeds<sqlite_store>();
}

TEST_CASE("engine sums: a random job's events, report and store add up, run after run (SQLite, the effect's table "
          "as the ledger)")
{
    check_sums_over_seeds<sqlite_effect_store>();
}
