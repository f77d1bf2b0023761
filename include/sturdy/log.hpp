#pragma once
/// sturdy/log.hpp — log sinks and the progress log `logged_every` drives.
/// A sink is anything callable as `sink(sturdy::level, std::string_view)`; the default writes
/// to stderr. An spdlog adapter is three lines:
///
///     auto to_spdlog = [](sturdy::level l, std::string_view m) {
///         spdlog::log(l == sturdy::level::info ? spdlog::level::info : spdlog::level::warn, "{}", m); };

#include <sturdy/concepts.hpp>
#include <sturdy/report.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sturdy {

/// Writes "[sturdy] message" lines to stderr.
struct stderr_sink {
    void operator()(level l, std::string_view message) const
    {
        std::string line = "[sturdy] ";
        line += l == level::info ? "" : (l == level::warning ? "warning: " : "error: ");
        line += message;
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stderr); // one write, so lines from threads do not interleave
    }
};

/// Drops everything (benchmarks).
struct discard_sink {
    void operator()(level /*unused*/, std::string_view /*unused*/) const {}
};

static_assert(log_sink<stderr_sink>);

namespace detail {

/// How often progress is logged: every `items` items or, when `items` is 0, every `time`.
struct progress_interval {
    std::size_t items = 0;
    duration time{};
};

/// Progress, failure and summary lines. Not a template: the formatting lives here once.
class progress_log {
public:
    /// How many of one reason are logged before the rest are folded into a count.
    static constexpr std::size_t reasons_shown = 3;
    using clock_reader = std::function<time_point()>;

    progress_log(progress_interval every, std::function<void(level, std::string_view)> sink)
        : every_(every), sink_(std::move(sink))
    {
    }

    void start(time_point now, std::optional<std::size_t> total)
    {
        start_ = now;
        last_ = now;
        total_ = total;
        next_count_ = every_count();
    }

    /// Cheap when nothing is due: one comparison for counted progress.
    void tick(std::size_t seen, const report& r, const clock_reader& now)
    {
        if (const std::size_t n = every_.items; n > 0) {
            if (seen < next_count_) {
                return;
            }
            next_count_ = (seen / n + 1) * n; // the next multiple of n
            line(seen, r, now());
        } else {
            const auto t = now();
            if (t - last_ < every_.time) {
                return;
            }
            last_ = t;
            line(seen, r, t);
        }
    }

    void failure(const failure_record& f)
    {
        const auto count = ++reasons_[f.reason];
        if (count <= reasons_shown) {
            std::string text;
            append_failure(text, f);
            sink_(level::warning, text);
        }
    }

    void message(level l, std::string_view text) { sink_(l, text); }

    void summary(const report& r)
    {
        for (const auto& [reason, count] : reasons_) {
            if (count > reasons_shown) {
                std::string text;
                append(text, "... and ", count - reasons_shown, " more like this: ", reason);
                sink_(level::warning, text);
            }
        }
        std::string text = "finished: ";
        append_report_text(text, r);
        sink_(r.failed == 0 ? level::info : level::warning, text);
    }

private:
    [[nodiscard]] std::size_t every_count() const { return every_.items; }

    void line(std::size_t seen, const report& r, time_point now)
    {
        const double secs = std::chrono::duration<double>(now - start_).count();
        const double rate = secs > 0 ? static_cast<double>(seen) / secs : 0.0;
        // "progress 300/1000 (30.0%): done 290, skipped 5, failed 5, retried 2 | 830 items/s, ETA 8.4s"
        std::string text = "progress ";
        append_int(text, seen);
        if (total_) {
            append(text, '/', *total_, " (");
            append_fixed(text, *total_ > 0 ? 100.0 * static_cast<double>(seen) / static_cast<double>(*total_) : 100.0,
                         1);
            text += "%)";
        }
        append(text, ": done ", r.done, ", skipped ", r.skipped, ", failed ", r.failed, ", retried ", r.retried);
        text += " | ";
        append_fixed(text, rate, 0);
        text += " items/s";
        if (total_ && rate > 0 && *total_ >= seen) {
            text += ", ETA ";
            text += format_duration(std::chrono::duration_cast<duration>(
                std::chrono::duration<double>(static_cast<double>(*total_ - seen) / rate)));
        }
        sink_(level::info, text);
    }

    progress_interval every_;
    std::function<void(level, std::string_view)> sink_;
    std::map<std::string, std::size_t, std::less<>> reasons_;
    std::optional<std::size_t> total_;
    time_point start_{};
    time_point last_{};
    std::size_t next_count_ = 0;
};

} // namespace detail
} // namespace sturdy
