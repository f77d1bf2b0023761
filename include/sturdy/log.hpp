#pragma once
/// sturdy/log.hpp — log sinks and the progress log `logged_every` drives.
/// A sink is anything callable as `sink(sturdy::level, std::string_view)`; the default writes
/// with fmt to stderr. An spdlog adapter is three lines:
///
///     auto to_spdlog = [](sturdy::level l, std::string_view m) {
///         spdlog::log(l == sturdy::level::info ? spdlog::level::info : spdlog::level::warn, "{}", m); };

#include <sturdy/concepts.hpp>
#include <sturdy/report.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace sturdy {

/// Writes "[sturdy] message" lines to stderr.
struct stderr_sink {
    void operator()(level l, std::string_view message) const
    {
        fmt::print(stderr, "[sturdy] {}{}\n", l == level::info ? "" : (l == level::warning ? "warning: " : "error: "),
                   message);
    }
};

/// Drops everything (benchmarks).
struct discard_sink {
    void operator()(level /*unused*/, std::string_view /*unused*/) const {}
};

static_assert(log_sink<stderr_sink>);

namespace detail {

/// Progress, failure and summary lines. Not a template: the formatting lives here once.
class progress_log {
public:
    /// How many of one reason are logged before the rest are folded into a count.
    static constexpr std::size_t reasons_shown = 3;
    using clock_reader = std::function<time_point()>;

    progress_log(std::variant<std::size_t, duration> every, std::function<void(level, std::string_view)> sink)
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
        if (const auto* n = std::get_if<std::size_t>(&every_)) {
            if (seen < next_count_) {
                return;
            }
            next_count_ = (seen / *n + 1) * *n; // the next multiple of n
            line(seen, r, now());
        } else {
            const auto t = now();
            if (t - last_ < std::get<duration>(every_)) {
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
            sink_(level::warning,
                  fmt::format("failed {}: {}{}", f.item_key, f.reason,
                              f.attempts > 1 ? fmt::format(" (after {} attempts)", f.attempts) : std::string()));
        }
    }

    void message(level l, std::string_view text) { sink_(l, text); }

    void summary(const report& r)
    {
        for (const auto& [reason, count] : reasons_) {
            if (count > reasons_shown) {
                sink_(level::warning, fmt::format("... and {} more like this: {}", count - reasons_shown, reason));
            }
        }
        sink_(r.failed == 0 ? level::info : level::warning, fmt::format("finished: {}", r));
    }

private:
    [[nodiscard]] std::size_t every_count() const
    {
        const auto* n = std::get_if<std::size_t>(&every_);
        return n != nullptr ? *n : 0;
    }

    void line(std::size_t seen, const report& r, time_point now)
    {
        const double secs = std::chrono::duration<double>(now - start_).count();
        const double rate = secs > 0 ? static_cast<double>(seen) / secs : 0.0;
        std::string progress =
            total_ ? fmt::format("{}/{} ({:.1f}%)", seen, *total_,
                                 *total_ > 0 ? 100.0 * static_cast<double>(seen) / static_cast<double>(*total_) : 100.0)
                   : fmt::format("{}", seen);
        std::string eta;
        if (total_ && rate > 0 && *total_ >= seen) {
            eta = fmt::format(", ETA {}",
                              format_duration(std::chrono::duration_cast<duration>(
                                  std::chrono::duration<double>(static_cast<double>(*total_ - seen) / rate))));
        }
        sink_(level::info, fmt::format("progress {}: done {}, skipped {}, failed {}, retried {} | {:.0f} items/s{}",
                                       progress, r.done, r.skipped, r.failed, r.retried, rate, eta));
    }

    std::variant<std::size_t, duration> every_;
    std::function<void(level, std::string_view)> sink_;
    std::map<std::string, std::size_t, std::less<>> reasons_;
    std::optional<std::size_t> total_;
    time_point start_{};
    time_point last_{};
    std::size_t next_count_ = 0;
};

} // namespace detail
} // namespace sturdy
