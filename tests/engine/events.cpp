// The engine's event contract (tests/engine/sums.cpp states it in full), case by case, in
// tests/hook.cpp's style: a recording hook and the events expected. The first two are the known
// defects the engine's rewrite fixes: [3] on the careful path, an item skipped because it is
// quarantined never reaches on_item; [4] after an abandoned fast attempt, on_successes counts
// ledger-skipped items as done (and quarantined ones not at all) instead of letting the items
// reach on_item. The cases tagged [!mayfail] reproduce, alone, what else engine/sums found
// (and, last, one problem its sums cannot see: the failure budget across a chunk's attempts);
// they report, and do not fail the run, until it is decided what the engine should do.
#include "random_job.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

using random_job::event;
using random_job::line;
using random_job::recorder;

namespace {

std::vector<std::string> lines(const std::vector<event>& log)
{
    std::vector<std::string> out;
    for (const event& e : log) {
        out.push_back(line(e));
    }
    return out;
}

std::size_t count(const std::vector<std::string>& lines, const std::string& line)
{
    return static_cast<std::size_t>(std::count(lines.begin(), lines.end(), line));
}

/// An effect that fails for item `bad`, every time.
auto fails_at(int bad)
{
    return [bad](int v) {
        if (v == bad) {
            throw std::runtime_error("bad " + std::to_string(v));
        }
    };
}

auto by_value = [](int v) { return v; };

/// Fails every commit of the chunks it sees, permanently, from before_commit.
struct refuse_commits {
    void before_commit(const sturdy::chunk_committing<int>& /*unused*/) { throw std::runtime_error("audit refused"); }
};

/// Stops the run at the first failure it sees, giving back `give_back` failures.
struct stop_at_first_failure {
    std::size_t give_back = 0;
    sturdy::verdict on_item(const sturdy::item_settled& e) const
    {
        return e.outcome == sturdy::item_outcome::failed ? sturdy::verdict::stop("stop", give_back)
                                                         : sturdy::verdict::go_on();
    }
};

/// Quarantines `items` in `ledger`: one failed run each, with quarantine_after 1.
template <class Ledger> void quarantine(sturdy::memory::database& db, Ledger& ledger, const std::vector<int>& items)
{
    const auto r = items | sturdy::idempotent_by(ledger, by_value, sturdy::quarantine_after{1}) |
                   sturdy::chunked(db, 8) |
                   sturdy::guarded([](int v) { throw std::runtime_error("bad " + std::to_string(v)); }) | sturdy::drain;
    REQUIRE(r.quarantined == items.size());
}

} // namespace

TEST_CASE("known defect 3: on the careful path, an item skipped because it is quarantined reaches on_item")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    quarantine(db, ledger, {1});

    // Item 0 fails first, so the chunk runs on the careful path; 1 is quarantined; 2 is done.
    std::vector<event> log;
    recorder rec{&log};
    const auto r = test::range_of(3) | sturdy::idempotent_by(ledger, by_value, sturdy::quarantine_after{1}) |
                   sturdy::chunked(db, 3) | sturdy::guarded(fails_at(0)) | sturdy::hook(rec) | sturdy::drain;
    CHECK(r.done == 1);
    CHECK(r.failed == 1);
    CHECK(r.quarantined == 2); // 1 from before, 0 from this run
    // The current engine leaves out "item 1 quarantined".
    CHECK(lines(log) == std::vector<std::string>{
                            "start",
                            "chunk after 0",
                            "item 0 failed: bad 0",
                            "item 1 quarantined",
                            "item 2 done",
                            "commit 3 items, 1 done, last 2",
                            "failure 0",
                            "ended, done 1",
                            "end",
                        });
}

TEST_CASE("known defect 4: after an abandoned fast attempt, its items reach on_item, with no on_successes")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    // Run 1: item 0 is done, item 1 fails and is quarantined at once (quarantine_after 1).
    const std::vector<int> first{0, 1};
    const auto r1 = first | sturdy::idempotent_by(ledger, by_value, sturdy::quarantine_after{1}) |
                    sturdy::chunked(db, 4) | sturdy::guarded(fails_at(1)) | sturdy::drain;
    REQUIRE(r1.done == 1);
    REQUIRE(r1.quarantined == 1);

    // Run 2, one chunk: 0 skipped (done), 1 quarantined, 2 done, then 3 fails: the fast attempt
    // is abandoned at 3 and the chunk runs again on the careful path.
    std::vector<event> log;
    recorder rec{&log};
    const auto r2 = test::range_of(4) | sturdy::idempotent_by(ledger, by_value, sturdy::quarantine_after{1}) |
                    sturdy::chunked(db, 4) | sturdy::guarded(fails_at(3)) | sturdy::hook(rec) | sturdy::drain;
    CHECK(r2.done == 1);
    CHECK(r2.skipped == 1);
    CHECK(r2.failed == 1);
    CHECK(r2.quarantined == 2); // 1 from before, 3 from this run

    std::size_t done_in_events = 0;
    for (const event& e : log) {
        done_in_events += e.kind == event::successes ? e.a : 0;
        done_in_events += e.kind == event::item && e.outcome == sturdy::item_outcome::done ? 1 : 0;
    }
    CHECK(done_in_events == r2.done); // the current engine sends "successes 2/0/0": 2
    CHECK(lines(log) == std::vector<std::string>{
                            "start",
                            "chunk after 0",
                            "item 0 skipped",
                            "item 1 quarantined",
                            "item 2 done",
                            "item 3 failed: bad 3",
                            "commit 4 items, 1 done, last 3",
                            "failure 3",
                            "ended, done 1",
                            "end",
                        });
}

// --- what else engine/sums found --------------------------------------------------------------

TEST_CASE("finding: an item shown done whose re-run fails reaches on_item as failed", "[!mayfail]")
{
    // On the careful path an outcome goes to on_item as soon as the item ran, before its segment's
    // savepoint is released. Item 1 fails, the segment is rolled back and item 0 runs again; an
    // effect that reaches outside the store may fail the second time (here it does). The current
    // engine has already shown "item 0 done" and never shows its failure (a failure budget never
    // counts it), while on_failure and the report say it failed.
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    int calls_of_0 = 0;
    std::vector<event> log;
    recorder rec{&log};
    const auto r = test::range_of(3) | sturdy::idempotent_by(ledger, by_value) | sturdy::chunked(db, 3) |
                   sturdy::guarded(
                       [&](int v) {
                           if ((v == 0 && ++calls_of_0 > 1) || v == 1) {
                               throw std::runtime_error("bad " + std::to_string(v));
                           }
                       },
                       sturdy::isolation::per_segment) |
                   sturdy::hook(rec) | sturdy::drain;
    CHECK(r.done == 1);
    CHECK(r.failed == 2);
    const auto seen = lines(log);
    CHECK(count(seen, "failure 0") == 1);
    CHECK(count(seen, "item 0 failed: bad 0") == 1); // the current engine: 0
    CHECK(count(seen, "item 0 done") == 0);          // the current engine: 1
}

TEST_CASE("finding: an item done in an earlier run is not reported failed when its chunk cannot commit", "[!mayfail]")
{
    // A chunk whose commit fails for good reports its items failed ("its chunk could not
    // commit"), quarantined ones excepted. The current engine reports the items the ledger already
    // holds (done by an earlier run, skipped in this one) as failed and awaiting retry too, with an
    // on_failure each, though no later run will retry them.
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    const std::vector<int> zero{0};
    REQUIRE((zero | sturdy::idempotent_by(ledger, by_value) | sturdy::chunked(db, 2) | sturdy::guarded([](int) {}) |
             sturdy::drain)
                .done == 1);

    std::vector<event> log;
    recorder rec{&log};
    const auto r = test::range_of(2) | sturdy::idempotent_by(ledger, by_value) | sturdy::chunked(db, 2) |
                   sturdy::guarded([](int) {}) | sturdy::hook(rec) | sturdy::hook(refuse_commits{}) | sturdy::drain;
    CHECK(r.skipped == 1);        // the current engine: 0
    CHECK(r.failed == 1);         // the current engine: 2
    CHECK(r.awaiting_retry == 1); // the current engine: 2
    CHECK(count(lines(log), "failure 0") == 0);
    CHECK(count(lines(log), "failure 1") == 1);
    CHECK(ledger.contains(0));
}

TEST_CASE("finding: a chunk given up after its fast attempt accounts for its quarantined items in an event",
          "[!mayfail]")
{
    // The fast attempt of a chunk fails to commit, and no retry is left: its items fail, but the
    // quarantined one, which the report counts as quarantined. No event names it: the chunk sends
    // no on_successes (it did not commit) and no on_item (it never ran on the careful path), so
    // the events do not add up to the report. The event contract does not cover this chunk.
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    quarantine(db, ledger, {0});

    std::vector<event> log;
    recorder rec{&log};
    const auto r = test::range_of(2) | sturdy::idempotent_by(ledger, by_value, sturdy::quarantine_after{1}) |
                   sturdy::chunked(db, 2) | sturdy::guarded([](int) {}) | sturdy::hook(rec) |
                   sturdy::hook(refuse_commits{}) | sturdy::drain;
    CHECK(r.quarantined == 1);
    CHECK(r.failed == 1);
    std::size_t quarantined_in_events = 0;
    for (const event& e : log) {
        quarantined_in_events += e.kind == event::successes ? e.c : 0;
        quarantined_in_events += e.kind == event::item && e.outcome == sturdy::item_outcome::quarantined ? 1 : 0;
    }
    CHECK(quarantined_in_events == r.quarantined); // the current engine: 0
}

TEST_CASE("finding: a quarantined item after the point where the run stops is remaining, like its neighbours",
          "[!mayfail]")
{
    // The run stops inside a chunk (a verdict at item 0): the items after it are left for the
    // next run and counted remaining, with no event, all but the quarantined one, which the
    // current engine counts as quarantined (with no event either, so the events do not add up).
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    quarantine(db, ledger, {2});

    std::vector<event> log;
    recorder rec{&log};
    const auto r = test::range_of(3) | sturdy::idempotent_by(ledger, by_value, sturdy::quarantine_after{1}) |
                   sturdy::chunked(db, 3) | sturdy::guarded(fails_at(0)) | sturdy::hook(rec) |
                   sturdy::hook(stop_at_first_failure{1}) | sturdy::drain;
    CHECK(r.stopped_early == "stop");
    CHECK(r.failed == 0);
    CHECK(r.remaining == 3);   // 0 given back, 1 and 2 not reached; the current engine: 2
    CHECK(r.quarantined == 0); // the current engine: 1
    CHECK(lines(log) == std::vector<std::string>{
                            "start",
                            "chunk after 0",
                            "item 0 failed: bad 0",
                            "commit 3 items, 0 done, last none",
                            "ended, done 0",
                            "end",
                        });
}

namespace {
/// Fails the first commit it sees, transiently, from before_commit.
struct commit_busy_once {
    int commits = 0;
    void before_commit(const sturdy::chunk_committing<int>& /*unused*/)
    {
        if (commits++ == 0) {
            throw sturdy::transient_error("audit busy");
        }
    }
};
} // namespace

TEST_CASE("finding: a chunk run again after a transient commit failure does not spend the failure budget twice",
          "[!mayfail]")
{
    // Items 0 and 2 fail, 1 succeeds: never two failures in a row, so failure_budget(2) holds.
    // When the chunk's first commit fails transiently, the chunk runs whole again and shows its
    // outcomes again (as hook.hpp says), but the budget's streak is not taken back with the
    // attempt: item 2's failure in the abandoned attempt and item 0's in the next make "2
    // consecutive failures", and the current engine stops the run with all three items remaining.
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    sturdy::manual_clock clock;
    const auto r = test::range_of(3) | sturdy::idempotent_by(ledger, by_value) | sturdy::chunked(db, 3) |
                   sturdy::guarded([](int v) {
                       if (v != 1) {
                           throw std::runtime_error("bad " + std::to_string(v));
                       }
                   }) |
                   sturdy::retry_bounded(2, sturdy::backoff::none()) | sturdy::with_clock(clock) |
                   sturdy::failure_budget(2) | sturdy::hook(commit_busy_once{}) | sturdy::drain;
    CHECK(r.stopped_early.empty()); // the current engine: "failure budget spent: 2 consecutive failures ..."
    CHECK(r.done == 1);             // the current engine: 0
    CHECK(r.failed == 2);           // the current engine: 0 (remaining 3)
}
