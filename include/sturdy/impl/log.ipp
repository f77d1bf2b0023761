#pragma once
/// sturdy/impl/log.ipp — definitions for sturdy/log.hpp (see sturdy/config.hpp).

#include <sturdy/log.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sturdy {

STURDY_DECL void stderr_sink::operator()(level l, std::string_view message) const
{
    std::string line = "[sturdy] ";
    line += l == level::info ? "" : (l == level::warning ? "warning: " : "error: ");
    line += message;
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr); // one write, so lines from threads do not interleave
}

namespace detail {

STURDY_DECL progress_log::progress_log(progress_interval every, event_fn sink) : every_(every), sink_(std::move(sink))
{
}

STURDY_DECL void progress_log::start(time_point now, std::optional<std::size_t> total)
{
    start_ = now;
    last_ = now;
    total_ = total;
    next_count_ = every_count();
}

STURDY_DECL void progress_log::failure(const failure_record& f)
{
    const auto count = ++reasons_[f.reason];
    if (count <= reasons_shown) {
        std::string text;
        append_failure(text, f);
        log_event e{.kind = log_event_kind::failure, .severity = level::warning, .text = text};
        e.failure = &f;
        sink_(e);
    }
}

STURDY_DECL void progress_log::stopped(std::string_view why)
{
    std::string text = "stopped early: ";
    text += why;
    log_event e{.kind = log_event_kind::stopped, .severity = level::warning, .text = text};
    e.reason = why;
    sink_(e);
}

STURDY_DECL void progress_log::summary(const report& r)
{
    for (const auto& [reason, count] : reasons_) {
        if (count > reasons_shown) {
            std::string text;
            append(text, "... and ", count - reasons_shown, " more like this: ", reason);
            log_event e{.kind = log_event_kind::folded, .severity = level::warning, .text = text};
            e.reason = reason;
            e.more = count - reasons_shown;
            sink_(e);
        }
    }
    std::string text = "finished: ";
    append_report_text(text, r);
    log_event e{
        .kind = log_event_kind::finished, .severity = r.failed == 0 ? level::info : level::warning, .text = text};
    e.counts = &r;
    e.elapsed = r.elapsed;
    sink_(e);
}

STURDY_DECL void progress_log::line(std::size_t seen, const report& r, time_point now)
{
    log_event e{.kind = log_event_kind::progress, .severity = level::info};
    e.counts = &r;
    e.seen = seen;
    e.total = total_;
    e.elapsed = now - start_;
    const double secs = std::chrono::duration<double>(e.elapsed).count();
    const double rate = secs > 0 ? static_cast<double>(seen) / secs : 0.0;
    e.rate = rate;
    // "progress 300/1000 (30.0%): done 290, skipped 5, failed 5, retried 2 | 830 items/s, ETA 8.4s"
    std::string text = "progress ";
    append_int(text, seen);
    if (total_) {
        append(text, '/', *total_, " (");
        append_fixed(text, *total_ > 0 ? 100.0 * static_cast<double>(seen) / static_cast<double>(*total_) : 100.0, 1);
        text += "%)";
    }
    append(text, ": done ", r.done, ", skipped ", r.skipped, ", failed ", r.failed, ", retried ", r.retried);
    text += " | ";
    append_fixed(text, rate, 0);
    text += " items/s";
    if (total_ && rate > 0 && *total_ >= seen) {
        e.eta = std::chrono::duration_cast<duration>(
            std::chrono::duration<double>(static_cast<double>(*total_ - seen) / rate));
        text += ", ETA ";
        text += format_duration(*e.eta);
    }
    e.text = text;
    sink_(e);
}

} // namespace detail
} // namespace sturdy
