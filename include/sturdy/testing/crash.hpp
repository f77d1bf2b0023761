#pragma once
/// sturdy/testing/crash.hpp — crash simulation: run a job, kill it at the Nth store operation,
/// roll back what a dead process loses, run it again, and so on until a run finishes; then check
/// an invariant. Repeated over many seeds, each with its own crash points.
///
///     auto r = sturdy::testing::simulate_crashes(
///         {.scenarios = 1000},
///         [] { return my_world(); },                                 // a fresh store with data
///         [](my_world& w, sturdy::testing::injector& faults) {      // one run of the job
///             sturdy::testing::faulty store(w.db, faults);
///             my_job(store);
///         },
///         [](my_world& w) { return sturdy::testing::exactly_once(w.expected(), w.effects()); });
///     REQUIRE(r.ok());   // else fmt::print("{}", r.describe()) names the failing seed
///
/// A scenario (one seed) draws its crash points from the seed: the first is operation
/// 1 + seed % N, where N is the number of operations a run without crashes takes (measured once,
/// on a world of its own), so consecutive seeds crash at every operation in turn; the next ones
/// are drawn at random in 1..N. A run that crashes is run again on the same world; once the crash
/// points are used up, runs go on without crashing until one finishes. `run` returns void (one
/// run that returns is done) or bool (false: not done yet, run again, as a scheduler would when
/// the report says work remains). `check` returns a string (empty: the invariant holds) or bool,
/// or throws. The first failing seed is run once more (`replayed_identically`) and reported with
/// its crash points and the faults injected. Nothing sleeps: give the job a manual clock.

#include <sturdy/error.hpp>
#include <sturdy/testing/faults.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h> // fmt::join (in <fmt/format.h> before fmt 11)

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sturdy::testing {

struct crash_options {
    std::size_t scenarios = 1000;         ///< seeds first_seed .. first_seed + scenarios - 1
    std::uint64_t first_seed = 1;         ///< to replay one failing seed: {.scenarios = 1, .first_seed = s}
    std::size_t crashes_per_scenario = 3; ///< each scenario crashes 1 to this many times (drawn from the seed)
    std::vector<fault> faults = {};       ///< injected in every run too, drawn from the scenario's seed
    std::size_t max_runs = 100;           ///< runs of one scenario before it is reported as never finishing
};

/// What one scenario did, and what went wrong in it.
struct scenario_result {
    std::uint64_t seed = 0;
    std::vector<std::size_t> crash_points; ///< the operation number (since the run began) of each crash
    std::size_t runs = 0;
    std::vector<injected> events; ///< every crash and fault, numbered from the scenario's start
    std::string problem;          ///< empty when the invariant held
};

struct crash_report {
    std::size_t scenarios = 0;        ///< scenarios run
    std::size_t crashes = 0;          ///< crash points exercised (runs that crashed)
    std::size_t runs = 0;             ///< runs in all, crashed or not
    std::size_t faults = 0;           ///< faults injected in all
    std::size_t clean_operations = 0; ///< operations of a run without crashes (crash points are 1..this)
    std::optional<scenario_result> first_failure;
    bool replayed_identically = false; ///< the failing seed, run again, failed the same way

    [[nodiscard]] bool ok() const noexcept { return !first_failure.has_value(); }

    /// One paragraph: the totals, or the failing seed with its crash points and how to replay it.
    [[nodiscard]] std::string describe() const
    {
        std::string s = fmt::format("crash simulation: {} scenarios, {} crashes, {} runs, {} faults injected, "
                                    "{} operations in a run without crashes",
                                    scenarios, crashes, runs, faults, clean_operations);
        if (!first_failure) {
            return s + "; the invariant held every time";
        }
        const auto& f = *first_failure;
        s += fmt::format("\nFAILED: seed {} ({} runs, crashes at operations {}): {}", f.seed, f.runs,
                         fmt::join(f.crash_points, ", "), f.problem);
        constexpr std::size_t shown = 40;
        for (std::size_t i = 0; i < std::min(f.events.size(), shown); ++i) {
            const auto& e = f.events[i];
            s += fmt::format("\n  operation #{} {}: {}", e.number, name(e.operation), e.what);
        }
        if (f.events.size() > shown) {
            s += fmt::format("\n  ... and {} more crashes and faults", f.events.size() - shown);
        }
        s += fmt::format("\nreplayed: {}; replay it alone with {{.scenarios = 1, .first_seed = {}}}",
                         replayed_identically ? "the same failure" : "a different outcome (is the job deterministic?)",
                         f.seed);
        return s;
    }
};

namespace detail {

template <class World> struct world_box {
    template <class Make> explicit world_box(Make& make) : world(make()) {}
    World world;
};

template <class Check, class World> std::string run_check(Check& check, World& w)
{
    try {
        using R = decltype(check(w));
        if constexpr (std::is_void_v<R>) {
            check(w);
            return {};
        } else if constexpr (std::same_as<R, bool>) {
            return check(w) ? std::string() : std::string("the check returned false");
        } else {
            return std::string(check(w));
        }
    } catch (const std::exception& e) {
        return std::string("the check threw: ") + e.what();
    }
}

/// True when the run says it is done.
template <class Run, class World> bool run_once(Run& run, World& w, injector& faults)
{
    if constexpr (std::is_void_v<decltype(run(w, faults))>) {
        run(w, faults);
        return true;
    } else {
        return static_cast<bool>(run(w, faults));
    }
}

template <class Make, class Run, class Check> scenario_result run_scenario(const crash_options& o, std::uint64_t seed,
                                                                           std::size_t clean_ops, Make& make, Run& run,
                                                                           Check& check, crash_report& totals)
{
    using World = std::remove_cvref_t<decltype(make())>;
    scenario_result result;
    result.seed = seed;
    auto box = std::make_unique<world_box<World>>(make);
    injector faults(seed, o.faults);
    const std::size_t span = std::max<std::size_t>(clean_ops, 1);
    const std::size_t crashes =
        1 + static_cast<std::size_t>(faults.next() % std::max<std::size_t>(o.crashes_per_scenario, 1));
    std::string last_error;
    for (std::size_t crash_index = 0;; ++result.runs) {
        if (result.runs >= o.max_runs) {
            result.problem = fmt::format("the job did not finish in {} runs{}", o.max_runs,
                                         last_error.empty() ? std::string() : "; the last run threw: " + last_error);
            break;
        }
        std::size_t point = 0;
        if (crash_index < crashes && o.crashes_per_scenario > 0) {
            point = crash_index == 0 ? 1 + seed % span : 1 + faults.next() % span;
            faults.crash_in(point);
        } else {
            faults.crash_in(0);
        }
        const std::size_t before = faults.operations();
        bool done = false;
        try {
            done = run_once(run, box->world, faults);
        } catch (const crash&) {
            ++crash_index;
            ++totals.crashes;
            result.crash_points.push_back(faults.operations() - before);
            faults.revive();
            continue;
        } catch (const std::logic_error& e) {
            faults.revive();
            result.problem = std::string("the run threw a usage error: ") + e.what();
            ++result.runs;
            break;
        } catch (const std::exception& e) {
            last_error = e.what(); // the job failed as a whole (an injected fault, say): run it again
            faults.revive();
            continue;
        }
        if (faults.crashed()) {
            faults.revive();
            result.problem = fmt::format("the crash at operation {} was caught and the run went on: something "
                                         "catches sturdy::crash (a catch (...) that does not rethrow it?)",
                                         point);
            ++result.runs;
            break;
        }
        faults.crash_in(0);
        if (!done) {
            continue; // it stopped early (a budget spent, say): run it again, as the scheduler would
        }
        ++result.runs;
        result.problem = run_check(check, box->world);
        break;
    }
    totals.runs += result.runs;
    totals.faults += faults.faults_injected();
    result.events = faults.events();
    return result;
}

} // namespace detail

/// Runs `o.scenarios` scenarios (see the header comment) and reports the first failing seed.
template <class Make, class Run, class Check>
crash_report simulate_crashes(const crash_options& o, Make&& make, Run&& run, Check&& check)
{
    using World = std::remove_cvref_t<decltype(make())>;
    crash_report report;
    {
        // A run without crashes, on a world of its own: how many operations a run takes.
        auto box = std::make_unique<detail::world_box<World>>(make);
        injector faults(o.first_seed, o.faults);
        try {
            (void)detail::run_once(run, box->world, faults);
        } catch (const std::exception&) { // counted all the same; the scenarios report failures
            faults.revive();
        }
        report.clean_operations = faults.operations();
    }
    for (std::size_t i = 0; i < o.scenarios; ++i) {
        const std::uint64_t seed = o.first_seed + i;
        ++report.scenarios;
        auto r = detail::run_scenario(o, seed, report.clean_operations, make, run, check, report);
        if (!r.problem.empty()) {
            crash_report again;
            const auto replay = detail::run_scenario(o, seed, report.clean_operations, make, run, check, again);
            report.replayed_identically = replay.problem == r.problem && replay.crash_points == r.crash_points;
            report.first_failure = std::move(r);
            break;
        }
    }
    return report;
}

} // namespace sturdy::testing
