// sturdy/testing/crash.hpp and invariants.hpp: a crash leaves the loop at once from every store
// operation; the simulator finds a job that breaks its invariant, names the seed, replays it.
#include "memory_jobs.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>
#include <sturdy/testing.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {
using sturdy::testing::faulty;
using sturdy::testing::injector;

/// Operations a run of the invoicing job takes without crashes.
std::size_t clean_operations(std::int64_t subscriptions)
{
    memory_jobs::invoicing_world w(subscriptions);
    injector faults;
    faulty store(w.db, faults);
    memory_jobs::invoice_due(store, w.input, w.clock);
    return faults.operations();
}

/// A job with a classic bug: the ledger is written after the chunk's commit, in a transaction
/// of its own, instead of with the effect.
bool mark_after_commit(faulty<sturdy::memory::database>& store, const std::vector<int>& items)
{
    auto&& sent = store.table("sent");
    auto&& done = store.table("done");
    std::vector<int> todo;
    for (const int i : items) {
        if (!done.contains(i)) {
            todo.push_back(i);
        }
    }
    (void)(todo | sturdy::chunked(store, 5) |
           sturdy::guarded([&](int i) { sent.insert(static_cast<std::int64_t>(sent.size()) + 1, std::to_string(i)); }) |
           sturdy::drain);
    store.begin();
    for (const int i : todo) {
        done.put(i, "");
    }
    store.commit();
    return true;
}

struct items_world {
    sturdy::memory::database db;
    std::vector<int> items{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
};

std::string sent_once(items_world& w)
{
    std::vector<sturdy::key> expected(w.items.begin(), w.items.end());
    std::vector<sturdy::key> effects;
    for (const auto& [n, v] : w.db.table("sent").rows()) {
        effects.emplace_back(std::stoll(v));
    }
    return sturdy::testing::exactly_once(expected, effects);
}

/// Runs `job` once to count its operations, then once per operation crashing there: each time
/// sturdy::crash leaves the job, and the store is left with no transaction open.
template <class Make, class Job> void crash_at_every_operation(Make make, Job job)
{
    std::size_t n = 0;
    {
        auto w = make();
        injector faults;
        faulty store(w->db, faults);
        job(*w, store);
        n = faults.operations();
    }
    REQUIRE(n > 50);
    for (std::size_t point = 1; point <= n; ++point) {
        auto w = make();
        injector faults;
        {
            faulty store(w->db, faults);
            faults.crash_in(point);
            INFO("crash at operation " << point << " of " << n);
            REQUIRE_THROWS_AS(job(*w, store), sturdy::crash);
            CHECK(faults.crashed());
        } // the wrapper dies with the "process": it rolls back what was left open
        CHECK(!w->db.in_transaction());
        CHECK(faults.operations() == point);
    }
}
} // namespace

TEST_CASE("crash: from every store operation of a run, sturdy::crash leaves drain and nothing stays uncommitted")
{
    // Poison items (the careful path, failure records, retries) and per-chunk isolation.
    crash_at_every_operation([] { return std::make_unique<memory_jobs::invoicing_world>(30); },
                             [](memory_jobs::invoicing_world& w, faulty<sturdy::memory::database>& store) {
                                 memory_jobs::invoice_due(store, w.input, w.clock);
                             });
    CHECK(clean_operations(30) == clean_operations(30)); // deterministic
}

TEST_CASE("crash: the contact job's watermark and per-item isolation let it through too")
{
    crash_at_every_operation([] { return std::make_unique<memory_jobs::contacts_world>(20); },
                             [](memory_jobs::contacts_world& w, faulty<sturdy::memory::database>& store) {
                                 memory_jobs::sync_contacts(store, w.contacts, w.remote, w.clock);
                             });
}

TEST_CASE("crash: retry_bounded(...).run never retries a crash")
{
    int calls = 0;
    const auto retry = sturdy::retry_bounded(5, sturdy::backoff::none());
    sturdy::manual_clock clock;
    CHECK_THROWS_AS(retry.run(
                        [&] {
                            ++calls;
                            throw sturdy::crash();
                        },
                        clock),
                    sturdy::crash);
    CHECK(calls == 1);
}

TEST_CASE("simulate_crashes: the seed jobs on the memory store keep their invariants")
{
    const auto r = sturdy::testing::simulate_crashes(
        {.scenarios = 300}, [] { return memory_jobs::invoicing_world(20); },
        [](memory_jobs::invoicing_world& w, injector& faults) {
            faulty store(w.db, faults);
            return memory_jobs::invoice_due(store, w.input, w.clock);
        },
        memory_jobs::check_invoicing);
    INFO(r.describe());
    CHECK(r.ok());
    CHECK(r.scenarios == 300);
    CHECK(r.crashes >= 300);
    CHECK(r.runs > r.crashes);
    CHECK(r.clean_operations > 50);
}

TEST_CASE("simulate_crashes: a job that marks its ledger after the commit is caught, with its seed, and replayed")
{
    const auto make = [] { return items_world(); };
    const auto run = [](items_world& w, injector& faults) {
        faulty store(w.db, faults);
        return mark_after_commit(store, w.items);
    };
    const auto r = sturdy::testing::simulate_crashes({.scenarios = 200}, make, run, sent_once);
    REQUIRE(!r.ok());
    CHECK(r.replayed_identically);
    const auto& f = *r.first_failure;
    CHECK(f.problem.find("done more than once") != std::string::npos);
    CHECK(!f.crash_points.empty());
    CHECK(r.describe().find("seed " + std::to_string(f.seed)) != std::string::npos);

    // Replaying that one seed alone fails the same way.
    const auto again = sturdy::testing::simulate_crashes({.scenarios = 1, .first_seed = f.seed}, make, run, sent_once);
    REQUIRE(!again.ok());
    CHECK(again.first_failure->problem == f.problem);
    CHECK(again.first_failure->crash_points == f.crash_points);
}

TEST_CASE("simulate_crashes: a run that catches the crash and goes on is reported")
{
    const auto r = sturdy::testing::simulate_crashes(
        {.scenarios = 5}, [] { return items_world(); },
        [](items_world& w, injector& faults) {
            faulty store(w.db, faults);
            try {
                mark_after_commit(store, w.items);
            } catch (...) { // the bug: swallows the simulated death
            }
        },
        sent_once);
    REQUIRE(!r.ok());
    CHECK(r.first_failure->problem.find("catches sturdy::crash") != std::string::npos);
}

TEST_CASE("simulate_crashes: a job that never finishes is reported")
{
    const auto r = sturdy::testing::simulate_crashes(
        {.scenarios = 2, .max_runs = 7}, [] { return items_world(); }, [](items_world&, injector&) { return false; },
        [](items_world&) { return true; });
    REQUIRE(!r.ok());
    CHECK(r.first_failure->problem == "the job did not finish in 7 runs");
}

TEST_CASE("invariants: each names what broke")
{
    using namespace sturdy::testing;
    const std::vector<sturdy::key> expected{1, 2, 3, 4};
    CHECK(exactly_once(expected, {1, 2, 3, 4}) == "");
    CHECK(exactly_once(expected, {1, 2, 3}) == "1 key(s) never done: 4");
    CHECK(exactly_once(expected, {1, 2, 3, 4, 2}) == "1 key(s) done more than once: 2");
    CHECK(exactly_once(expected, {1, 2, 3}, {4}) == "");
    CHECK(exactly_once(expected, {1, 2, 3, 4}, {4}) ==
          "1 key(s) not done (failing or quarantined) but with a committed effect: 4");
    CHECK(exactly_once(expected, {1, 2, 3, 4, 9}) == "1 key(s) done but not expected: 9");

    CHECK(ledger_matches_effects({1, 2}, {1, 2}) == "");
    CHECK(ledger_matches_effects({1}, {1, 2}) == "1 key(s) with a committed effect but not in the ledger: 2");
    CHECK(ledger_matches_effects({1, 3}, {1}) == "1 key(s) in the ledger with no committed effect: 3");

    sturdy::failure_info q{.item_key = 2, .runs = 3, .last_reason = "x", .quarantined = true};
    sturdy::failure_info f{.item_key = 3, .runs = 1, .last_reason = "x"};
    CHECK(not_done_and_failing({1}, {q, f}) == "");
    CHECK(not_done_and_failing({1, 2, 3}, {q, f}) ==
          "1 key(s) both done and quarantined: 2; 1 key(s) done but still with a failure record: 3");

    const std::vector<watermarked<int>> items{{10, 1}, {20, 2}, {30, 3}};
    CHECK(watermark_not_ahead<int>(std::nullopt, items, {}, {}) == "");
    CHECK(watermark_not_ahead<int>(20, items, {1, 2}, {}) == "");
    sturdy::failure_info two{.item_key = 2, .runs = 1, .last_reason = "x"};
    CHECK(watermark_not_ahead<int>(20, items, {1}, {two}) == ""); // 2 is failing: retried by key
    CHECK(watermark_not_ahead<int>(30, items, {1}, {}) ==
          "2 key(s) at or below the watermark but neither done nor failing (lost): 2, 3");
}
