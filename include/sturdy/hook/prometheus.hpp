#pragma once
/// sturdy/hook/prometheus.hpp — `prometheus_textfile`: a hook that writes a job's metrics in
/// the Prometheus text exposition format, for node_exporter's textfile collector (the usual way
/// to monitor batch jobs: node_exporter --collector.textfile.directory=DIR reads DIR/*.prom).
///
///     sturdy::prometheus_textfile metrics("/var/lib/node_exporter/textfile/invoicing.prom", "invoicing");
///     input | ... | sturdy::guarded(fn) | sturdy::hook(metrics) | sturdy::drain;
///     // or, to see a long run progress: prometheus_textfile(path, job, sturdy::prometheus_textfile::after_each_chunk)
///
/// The file is written when a run starts (with `sturdy_running 1`: a run that never ends shows
/// as one), when it ends, and also after each chunk with `after_each_chunk`.
/// Each write is atomic: the text goes to a temporary file in the same directory (named
/// `.<file name>.XXXXXX`, which the collector ignores: it reads `*.prom` only), made readable by
/// all (0644, for a collector running as another user), then renamed over the file, so a
/// reader sees the previous file or the new one, never a part. One file per job: the collector
/// refuses a series that two files both hold.
///
/// The metrics, each labelled `job_name="<job>"` (not `job`, which Prometheus sets to the
/// scrape job's name and would rename to `exported_job`):
///
/// | metric                                  | type    | value                                                       |
/// |-----------------------------------------|---------|-------------------------------------------------------------|
/// | `sturdy_items_total{outcome=...}`       | counter | items done, skipped, failed, quarantined (report's counts)  |
/// | `sturdy_retries_total`                  | counter | extra attempts after transient failures                     |
/// | `sturdy_runs_total`                     | counter | runs that ended                                             |
/// | `sturdy_run_items{outcome=...}`         | gauge   | the last run's (or, while it runs, the current run's) done, |
/// |                                         |         | skipped, failed, quarantined, remaining                     |
/// | `sturdy_run_duration_seconds`           | gauge   | the last run's duration (the current one's so far), by the  |
/// |                                         |         | job's clock                                                 |
/// | `sturdy_last_success_timestamp_seconds` | gauge   | Unix time when a run last ended with nothing failed and     |
/// |                                         |         | nothing left (`ok()` and not `run_again_soon()`); 0 if none |
/// | `sturdy_work_remains`                   | gauge   | 1 when the last run left work for a rerun soon              |
/// |                                         |         | (`run_again_soon()`), else 0                                |
/// | `sturdy_running`                        | gauge   | 1 in a file written at the run's start or after a chunk, 0  |
/// |                                         |         | in the one written at its end                               |
/// | `sturdy_run_start_timestamp_seconds`    | gauge   | Unix time when the last (or current) run started            |
/// | `sturdy_run_end_timestamp_seconds`      | gauge   | Unix time when the last run ended; 0 if none has. Older     |
/// |                                         |         | than the start: a run is in progress, or died               |
/// | `sturdy_work_remains_consecutive_runs`  | gauge   | how many runs in a row, up to the last that ended, left     |
/// |                                         |         | work for a rerun soon; 0 after one that did not             |
///
/// Every name passes `promtool check metrics` (counters end in `_total`, times are in seconds);
/// none has been renamed. The last three were added (with the write at the run's start) for the
/// alerting rules in docs/monitoring/alerts.yml: no success for too long, quarantined items, work
/// left over several runs, a run that does not finish (tests/monitoring/ checks them with promtool
/// and a real node_exporter). A file written before they existed lacks them: the next run reads
/// their values as 0 (no run ended, none in a row).
/// Counters add up over runs: each run starts from the values in the file it replaces (so they
/// only grow, as Prometheus expects; a missing or unreadable file starts them at 0, which
/// Prometheus reads as a counter reset), and `last_success` is kept from it when the run does
/// not succeed; so are the end timestamp and the consecutive count while a run is in progress. A
/// run that dies leaves its last file, with `sturdy_running 1` and a start timestamp newer than
/// the end timestamp: docs/monitoring/alerts.yml alerts when that lasts.
/// Time: durations from the job's clock (`with_clock`); the timestamps need a calendar time,
/// which the steady job clock does not have, so they come from the wall clock given to the
/// constructor (the system clock by default; tests pass a fixed one).
/// Errors: a job name that is empty, or a directory that does not exist, are refused by the
/// constructor (`usage_error`). A write that fails during the run (disk full, permissions) does
/// not end the run, whose work is done: the message is kept in `last_error()` and the next write
/// tries again. `write_textfile` (below) throws instead.

#include <sturdy/config.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/report.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace sturdy {

/// The counters a textfile holds, read back so that the next run adds to them.
struct prometheus_totals {
    std::size_t done = 0;
    std::size_t skipped = 0;
    std::size_t failed = 0;
    std::size_t quarantined = 0;
    std::size_t retries = 0;
    std::size_t runs = 0;
    double last_success = 0;           ///< Unix seconds; 0: never
    double last_end = 0;               ///< Unix seconds when the last run ended; 0: never
    std::size_t work_remains_runs = 0; ///< runs in a row, up to the last, that left work
};

/// The exposition text for `job`: `before` (the previous file's counters) plus `r`, `r`'s own
/// counts as the run gauges, `seconds` as the run's duration. `running`: written mid-run (the
/// counters are not yet final and `runs` is not incremented). `now`: the wall time of this
/// write (the success and end timestamps); `started`: the wall time the run started.
[[nodiscard]] STURDY_DECL std::string prometheus_text(std::string_view job, const prometheus_totals& before,
                                                      const report& r, double seconds, bool running,
                                                      std::chrono::system_clock::time_point now,
                                                      std::chrono::system_clock::time_point started);

/// The same, with the run's start taken as `now` minus `seconds`.
[[nodiscard]] STURDY_DECL std::string prometheus_text(std::string_view job, const prometheus_totals& before,
                                                      const report& r, double seconds, bool running,
                                                      std::chrono::system_clock::time_point now);

/// The counters in a textfile written by `prometheus_text` for `job`; zeros when the file does
/// not exist or holds none of them.
[[nodiscard]] STURDY_DECL prometheus_totals read_prometheus_totals(const std::filesystem::path& path,
                                                                   std::string_view job);

/// Writes `text` to `path` atomically: a temporary file in the same directory, mode 0644, then
/// renamed over `path`. Throws std::system_error naming the file on failure (and removes the
/// temporary file).
STURDY_DECL void write_file_atomically(const std::filesystem::path& path, std::string_view text);

/// At a run's end, without the hook: reads the counters in `path`, adds `r`'s, writes the file
/// atomically. Throws on failure. `now`: for the success timestamp.
STURDY_DECL void write_textfile(const std::filesystem::path& path, std::string_view job, const report& r,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

class prometheus_textfile {
public:
    /// `at_run_end`: at the run's start and end (the name is older than the write at the start);
    /// `after_each_chunk`: after each chunk too.
    enum when { at_run_end, after_each_chunk };
    using wall_clock = std::function<std::chrono::system_clock::time_point()>;

    STURDY_DECL prometheus_textfile(std::filesystem::path path, std::string job, when w = at_run_end,
                                    wall_clock now = {});

    STURDY_DECL void on_run_start(const run_started& e);
    STURDY_DECL void after_chunk(const chunk_ended& e);
    STURDY_DECL void on_run_end(const report& r);

    /// Why the last write failed; empty when it succeeded.
    [[nodiscard]] const std::string& last_error() const noexcept { return last_error_; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
    STURDY_DECL void write(const report& r, double seconds, bool running);

    std::filesystem::path path_;
    std::string job_;
    when when_;
    wall_clock now_;
    prometheus_totals before_;
    time_point start_{};
    std::chrono::system_clock::time_point started_{}; ///< the run's start, by the wall clock
    std::string last_error_;
};

} // namespace sturdy

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/hook/impl/prometheus.ipp>
#endif
