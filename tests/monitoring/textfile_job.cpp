// A small job, run RUNS times (1 to 6) over one memory store with a prometheus_textfile hook
// writing FILE, for textfile_test.py: items that fail for good (quarantined after two failed
// runs), one that fails once as transient (a retry), and a time budget that stops the first two
// runs early (items remaining). Run 5 is the first success (every bad item quarantined); run 6
// meets new items, one of which fails (work left again). Prints one JSON object per run on
// stdout: the report (`r.json()`) and the wall-clock times around the run, which bound the
// file's timestamps. The job's clock is a manual one: the reports are the same every time.
// The metrics are written after each chunk too: the file as it was after the first chunk of the
// last run is copied to FILE.running (a name node_exporter does not read), to be checked too.
//
//     textfile_job FILE JOB_NAME RUNS
#include <sturdy/hook/prometheus.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

/// Copies the metrics file after the first chunk of the run (written by the hook before this one).
struct snapshot {
    std::filesystem::path from;
    bool copied = false;
    void on_run_start(const sturdy::run_started& /*unused*/) { copied = false; }
    void after_chunk(const sturdy::chunk_ended& /*unused*/)
    {
        if (!copied) {
            std::filesystem::copy_file(from, from.string() + ".running",
                                       std::filesystem::copy_options::overwrite_existing);
            copied = true;
        }
    }
};

} // namespace

int main(int argc, char** argv)
{
    using namespace std::chrono_literals;
    const int runs = argc == 4 ? std::atoi(argv[3]) : 0;
    if (runs < 1 || runs > 6) {
        std::fprintf(stderr, "usage: textfile_job FILE JOB_NAME RUNS (1 to 6)\n");
        return 2;
    }
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    sturdy::manual_clock clock;
    bool busy = true;
    // Runs 1 and 2: a budget of 500 ms at 10 ms per item stops them early; the others finish.
    const std::chrono::milliseconds budgets[] = {500ms, 500ms, 10s, 10s, 10s, 10s};
    const int sizes[] = {120, 120, 120, 120, 120, 140};
    for (int run = 0; run < runs; ++run) {
        const auto budget = budgets[run];
        std::vector<int> input(static_cast<std::size_t>(sizes[run]));
        for (std::size_t i = 0; i < input.size(); ++i) {
            input[i] = static_cast<int>(i);
        }
        // A new hook per run, as a new process would make: it reads the counters back from the file.
        sturdy::prometheus_textfile metrics(argv[1], argv[2], sturdy::prometheus_textfile::after_each_chunk);
        const double before = unix_now();
        const auto r = input |
                       sturdy::idempotent_by(
                           ledger, [](int v) { return v; }, sturdy::quarantine_after{2}) |
                       sturdy::chunked(db, 10) | sturdy::guarded([&](int v) {
                           clock.advance(10ms);
                           if (v % 20 == 7) {
                               throw std::runtime_error("no address");
                           }
                           if (v == 13 && busy) {
                               busy = false;
                               throw sturdy::transient_error("busy");
                           }
                       }) |
                       sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::time_budget(budget) |
                       sturdy::hook(metrics) | sturdy::hook(snapshot{argv[1]}) | sturdy::with_clock(clock) |
                       sturdy::drain;
        const double after = unix_now();
        if (!metrics.last_error().empty()) {
            std::fprintf(stderr, "writing %s: %s\n", argv[1], metrics.last_error().c_str());
            return 1;
        }
        std::printf("{\"report\":%s,\"before\":%.3f,\"after\":%.3f}\n", r.json().c_str(), before, after);
    }
    return 0;
}
