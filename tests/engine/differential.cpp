// The path taken changes nothing but the cost. The same random jobs and fault schedules
// (tests/engine/random_job.hpp) run with isolation::per_chunk (the fast path first),
// isolation::per_segment (the careful path from the start) and isolation::per_item (a savepoint
// per item), each on a fresh store, memory and SQLite: after every run, the stores must hold the
// same effect rows, ledger marks and failure records (counts and quarantine flags), and the
// reports the same counts (all but retried and chunks, which measure the path).
//
// The faults depend on the item and its attempt number within the run only (not on how many
// times the effect was called), and the stopping hook stops before the n-th chunk or at the first
// failure it sees (not at the n-th on_item event, which fast chunks do not send), so that an item
// behaves the same whichever path re-runs it. A failure prints the seed and the plan;
// STURDY_SUMS_SEED=<seed> replays one seed.
#include "random_job.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace random_job;

namespace {

/// One store and isolation mode, with the report and state of its last run.
struct configuration {
    std::string name;
    sturdy::isolation mode;
    std::function<std::pair<sturdy::report, store_state>(const job_plan&, std::size_t)> run;
};

template <class Store> configuration make_configuration(const char* mode_name, sturdy::isolation mode)
{
    auto store = std::make_shared<Store>();
    return {std::string(Store::name) + "/" + mode_name, mode, [store, mode](const job_plan& plan, std::size_t run) {
                std::vector<event> log;
                sturdy::report r = run_job(*store, plan, run, mode, log);
                return std::pair(std::move(r), store->state());
            }};
}

std::vector<configuration> all_configurations()
{
    std::vector<configuration> out;
    for (auto [name, mode] : {std::pair("per_chunk", sturdy::isolation::per_chunk),
                              std::pair("per_segment", sturdy::isolation::per_segment),
                              std::pair("per_item", sturdy::isolation::per_item)}) {
        out.push_back(make_configuration<memory_store>(name, mode));
        out.push_back(make_configuration<sqlite_store>(name, mode));
    }
    return out;
}

/// The differences between each configuration and the first, run after run; empty when none.
std::string differences(const job_plan& plan)
{
    auto configurations = all_configurations();
    std::string found;
    for (std::size_t run = 0; run < plan.runs.size() && found.empty(); ++run) {
        std::vector<std::pair<sturdy::report, store_state>> results;
        for (auto& c : configurations) {
            results.push_back(c.run(plan, run));
        }
        const auto& [first_report, first_state] = results.front();
        for (std::size_t i = 1; i < results.size(); ++i) {
            const auto& [r, state] = results[i];
            if (counts(r) != counts(first_report)) {
                found += "run " + std::to_string(run + 1) + ": " + configurations[i].name + " reports " + counts(r) +
                         "\n       " + configurations.front().name + " reports " + counts(first_report) + "\n";
            }
            if (state != first_state) {
                found += "run " + std::to_string(run + 1) + ": " + configurations[i].name + " leaves\n" +
                         describe(state) + configurations.front().name + " leaves\n" + describe(first_state);
            }
        }
        if (!found.empty()) {
            found += "  every configuration's report in run " + std::to_string(run + 1) + ":\n";
            for (std::size_t i = 0; i < results.size(); ++i) {
                found += "    " + configurations[i].name + ": " + counts(results[i].first) + ", stopped early: '" +
                         results[i].first.stopped_early + "'\n";
            }
        }
    }
    return found;
}

} // namespace

TEST_CASE("engine differential: per_chunk, per_segment and per_item leave the same store and counts")
{
    const auto seeds = random_job::seeds(200);
    std::size_t failing = 0;
    for (const std::uint64_t seed : seeds) {
        const job_plan plan = make_plan(seed, {.call_count_faults = false, .stop_at_nth_item = false});
        const std::string found = differences(plan);
        if (found.empty()) {
            continue;
        }
        ++failing;
        FAIL_CHECK("seed " << seed << " (replay: STURDY_SUMS_SEED=" << seed << ")\n" << found << describe(plan));
    }
    INFO(failing << " of " << seeds.size() << " seeds differ");
    CHECK(failing == 0);
}
