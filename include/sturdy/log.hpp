#pragma once
/// sturdy/log.hpp — log sinks and the progress log `logged_every` drives.
/// A sink is anything callable as `sink(sturdy::level, std::string_view)`; the default writes
/// to stderr. An spdlog adapter is three lines:
///
///     auto to_spdlog = [](sturdy::level l, std::string_view m) {
///         spdlog::log(l == sturdy::level::info ? spdlog::level::info : spdlog::level::warn, "{}", m); };

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>
#include <sturdy/report.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sturdy {

/// Writes "[sturdy] message" lines to stderr.
struct stderr_sink {
    STURDY_DECL void operator()(level l, std::string_view message) const;
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

    STURDY_DECL progress_log(progress_interval every, std::function<void(level, std::string_view)> sink);

    STURDY_DECL void start(time_point now, std::optional<std::size_t> total);

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

    STURDY_DECL void failure(const failure_record& f);

    STURDY_DECL void message(level l, std::string_view text);

    STURDY_DECL void summary(const report& r);

private:
    [[nodiscard]] std::size_t every_count() const { return every_.items; }

    STURDY_DECL void line(std::size_t seen, const report& r, time_point now);

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

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/impl/log.ipp>
#endif
