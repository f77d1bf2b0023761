#pragma once
/// sturdy/hook/impl/prometheus.ipp — definitions for sturdy/hook/prometheus.hpp (see sturdy/config.hpp).

#include <sturdy/error.hpp>
#include <sturdy/hook/prometheus.hpp>
#include <sturdy/report.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <stdlib.h>   // mkstemp (POSIX)
#include <sys/stat.h> // fchmod (POSIX)
#include <unistd.h>   // write, close (POSIX)

namespace sturdy {
namespace detail {

/// `name{job_name="<job>"` with the label value escaped as the format requires, without the
/// closing brace (an `outcome` label may follow).
STURDY_DECL std::string prometheus_series(std::string_view name, std::string_view job)
{
    std::string out(name);
    out += R"({job_name=")";
    for (const char c : job) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
    out += '"';
    return out;
}

} // namespace detail

STURDY_DECL std::string prometheus_text(std::string_view job, const prometheus_totals& before, const report& r,
                                        double seconds, bool running, std::chrono::system_clock::time_point now)
{
    const auto started =
        now - std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds));
    return prometheus_text(job, before, r, seconds, running, now, started);
}

STURDY_DECL std::string prometheus_text(std::string_view job, const prometheus_totals& before, const report& r,
                                        double seconds, bool running, std::chrono::system_clock::time_point now,
                                        std::chrono::system_clock::time_point started)
{
    using detail::append;
    std::string out;
    const auto header = [&out](std::string_view name, std::string_view type, std::string_view help) {
        append(out, "# HELP ", name, ' ', help, "\n# TYPE ", name, ' ', type, '\n');
    };
    const auto sample = [&](std::string_view name, std::string_view outcome, auto value) {
        out += detail::prometheus_series(name, job);
        if (!outcome.empty()) {
            append(out, R"(,outcome=")", outcome, '"');
        }
        out += "} ";
        if constexpr (std::is_floating_point_v<decltype(value)>) {
            detail::append_fixed(out, value, 3);
        } else {
            append(out, value);
        }
        out += '\n';
    };
    const bool success = !running && r.ok() && !r.run_again_soon();
    const auto unix_seconds = [](std::chrono::system_clock::time_point t) {
        return std::chrono::duration<double>(t.time_since_epoch()).count();
    };
    const double now_s = unix_seconds(now);

    header("sturdy_items_total", "counter",
           "Items by outcome (done, skipped, failed, quarantined) over the job's runs.");
    sample("sturdy_items_total", "done", before.done + r.done);
    sample("sturdy_items_total", "skipped", before.skipped + r.skipped);
    sample("sturdy_items_total", "failed", before.failed + r.failed);
    sample("sturdy_items_total", "quarantined", before.quarantined + r.quarantined);
    header("sturdy_retries_total", "counter", "Extra attempts after transient failures over the job's runs.");
    sample("sturdy_retries_total", "", before.retries + r.retried);
    header("sturdy_runs_total", "counter", "Runs of the job that ended.");
    sample("sturdy_runs_total", "", before.runs + (running ? 0 : 1));
    header("sturdy_run_items", "gauge", "Items by outcome in the last run, or in the current one while it runs.");
    sample("sturdy_run_items", "done", r.done);
    sample("sturdy_run_items", "skipped", r.skipped);
    sample("sturdy_run_items", "failed", r.failed);
    sample("sturdy_run_items", "quarantined", r.quarantined);
    sample("sturdy_run_items", "remaining", r.remaining);
    header("sturdy_run_duration_seconds", "gauge", "Duration of the last run, or of the current one so far.");
    sample("sturdy_run_duration_seconds", "", seconds);
    header("sturdy_last_success_timestamp_seconds", "gauge",
           "Unix time when a run last ended with nothing failed and nothing left to do; 0 if none has.");
    sample("sturdy_last_success_timestamp_seconds", "", success ? now_s : before.last_success);
    header("sturdy_work_remains", "gauge",
           "1 when the last run left work for a rerun soon (stopped early, items remaining, failures awaiting "
           "retry), else 0.");
    sample("sturdy_work_remains", "", r.run_again_soon() ? 1 : 0);
    header("sturdy_running", "gauge", "1 while a run is in progress (written after a chunk), 0 once it ended.");
    sample("sturdy_running", "", running ? 1 : 0);
    header("sturdy_run_start_timestamp_seconds", "gauge", "Unix time when the last run, or the current one, started.");
    sample("sturdy_run_start_timestamp_seconds", "", unix_seconds(started));
    header("sturdy_run_end_timestamp_seconds", "gauge",
           "Unix time when the last run ended; 0 if none has. Older than the start while a run is in progress.");
    sample("sturdy_run_end_timestamp_seconds", "", running ? before.last_end : now_s);
    header("sturdy_work_remains_consecutive_runs", "gauge",
           "Runs in a row, up to the last that ended, that left work for a rerun soon; 0 after one that did not.");
    sample("sturdy_work_remains_consecutive_runs", "",
           running ? before.work_remains_runs : (r.run_again_soon() ? before.work_remains_runs + 1 : 0));
    return out;
}

STURDY_DECL prometheus_totals read_prometheus_totals(const std::filesystem::path& path, std::string_view job)
{
    prometheus_totals t;
    std::ifstream in(path);
    if (!in) {
        return t;
    }
    const std::string items = detail::prometheus_series("sturdy_items_total", job) + R"(,outcome=")";
    const std::pair<std::string, std::size_t*> counters[] = {
        {items + R"(done"})", &t.done},
        {items + R"(skipped"})", &t.skipped},
        {items + R"(failed"})", &t.failed},
        {items + R"(quarantined"})", &t.quarantined},
        {detail::prometheus_series("sturdy_retries_total", job) + '}', &t.retries},
        {detail::prometheus_series("sturdy_runs_total", job) + '}', &t.runs},
        {detail::prometheus_series("sturdy_work_remains_consecutive_runs", job) + '}', &t.work_remains_runs},
    };
    const std::pair<std::string, double*> times[] = {
        {detail::prometheus_series("sturdy_last_success_timestamp_seconds", job) + '}', &t.last_success},
        {detail::prometheus_series("sturdy_run_end_timestamp_seconds", job) + '}', &t.last_end},
    };
    std::string line;
    while (std::getline(in, line)) {
        const auto space = line.rfind(' ');
        if (line.starts_with('#') || space == std::string::npos) {
            continue;
        }
        const std::string_view series(line.data(), space);
        const char* first = line.data() + space + 1;
        const char* last = line.data() + line.size();
        for (const auto& [name, value] : times) {
            if (series == name) {
                double v = 0;
                if (std::from_chars(first, last, v).ec == std::errc{}) {
                    *value = v;
                }
            }
        }
        for (const auto& [name, value] : counters) {
            if (series == name) {
                std::size_t v = 0;
                if (const auto res = std::from_chars(first, last, v); res.ec == std::errc{} && res.ptr == last) {
                    *value = v;
                }
            }
        }
    }
    return t;
}

STURDY_DECL void write_file_atomically(const std::filesystem::path& path, std::string_view text)
{
    const auto dir = path.parent_path();
    std::string tmp = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(),
                                "cannot create a temporary file next to " + path.string() + " (" + tmp + ")");
    }
    const auto fail = [&](const char* what) {
        const int err = errno;
        ::close(fd);
        std::remove(tmp.c_str());
        throw std::system_error(err, std::generic_category(), std::string(what) + " " + tmp + " for " + path.string());
    };
    if (::fchmod(fd, 0644) != 0) {
        fail("cannot make readable");
    }
    for (std::size_t written = 0; written < text.size();) {
        const auto n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail("cannot write");
        }
        written += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        throw std::system_error(err, std::generic_category(), "cannot write " + tmp + " for " + path.string());
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec); // atomic on POSIX: readers see the old file or the new one
    if (ec) {
        std::remove(tmp.c_str());
        throw std::system_error(ec, "cannot rename " + tmp + " to " + path.string());
    }
}

STURDY_DECL void write_textfile(const std::filesystem::path& path, std::string_view job, const report& r,
                                std::chrono::system_clock::time_point now)
{
    const auto before = read_prometheus_totals(path, job);
    write_file_atomically(
        path, prometheus_text(job, before, r, std::chrono::duration<double>(r.elapsed).count(), false, now));
}

STURDY_DECL prometheus_textfile::prometheus_textfile(std::filesystem::path path, std::string job, when w,
                                                     wall_clock now)
    : path_(std::move(path)), job_(std::move(job)), when_(w), now_(std::move(now))
{
    if (job_.empty()) {
        throw usage_error("prometheus_textfile: the job name is empty; name the job, e.g. prometheus_textfile(path, "
                          "\"invoicing\")");
    }
    if (path_.filename().empty()) {
        throw usage_error("prometheus_textfile: " + path_.string() +
                          " names no file; give the file's path, e.g. /var/lib/node_exporter/textfile/" + job_ +
                          ".prom");
    }
    const auto dir = path_.parent_path().empty() ? std::filesystem::path(".") : path_.parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        throw usage_error("prometheus_textfile: the directory " + dir.string() + " of " + path_.string() +
                          " does not exist; create it (node_exporter's --collector.textfile.directory)");
    }
    if (!now_) {
        now_ = [] { return std::chrono::system_clock::now(); };
    }
}

STURDY_DECL void prometheus_textfile::on_run_start(const run_started& e)
{
    start_ = e.start;
    started_ = now_();
    before_ = read_prometheus_totals(path_, job_);
    write(report{}, 0.0, true); // a run that never ends shows: running, started after the last end
}

STURDY_DECL void prometheus_textfile::after_chunk(const chunk_ended& e)
{
    if (when_ == after_each_chunk) {
        write(e.so_far, std::chrono::duration<double>(e.now - start_).count(), true);
    }
}

STURDY_DECL void prometheus_textfile::on_run_end(const report& r)
{
    write(r, std::chrono::duration<double>(r.elapsed).count(), false);
}

STURDY_DECL void prometheus_textfile::write(const report& r, double seconds, bool running)
{
    try {
        write_file_atomically(path_, prometheus_text(job_, before_, r, seconds, running, now_(), started_));
        last_error_.clear();
    } catch (const std::exception& e) {
        last_error_ = e.what();
    }
}

} // namespace sturdy
