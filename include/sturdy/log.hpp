#pragma once
/// sturdy/log.hpp — log sinks and the progress log `logged_every` drives.
/// A sink is either
/// - a text sink (`log_sink`): callable as `sink(sturdy::level, std::string_view)`, given each
///   line as text. The default, `stderr_sink`, writes to stderr; `sturdy/sink/spdlog.hpp`
///   writes to an spdlog logger.
/// - an event sink (`event_sink`): callable as `sink(const sturdy::log_event&)`, given each line
///   with its fields (counts, rate, ETA, the failure's key and reason) as well as its text.
///   `sturdy/sink/json_lines.hpp` writes one JSON object per line, for log shippers.
/// Both receive the same lines: progress, each failure (the first three of one reason, then one
/// folded line per reason at the end), "stopped early" when it did, and the summary.

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>
#include <sturdy/report.hpp>

#include <chrono>
#include <concepts>
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

/// What a line of the progress log is about.
enum class log_event_kind {
    progress, ///< counts so far, rate and ETA
    failure,  ///< one failure: its key, reason and attempts
    folded,   ///< at the end: how many more failures of one reason were not logged one by one
    stopped,  ///< the run stopped before the end of its input, and why
    finished  ///< the summary: the report
};

/// One line of the progress log, with its fields. Pointers and views are valid during the call.
struct log_event {
    log_event_kind kind = log_event_kind::progress;
    level severity = level::info;
    std::string_view text{};                 ///< the line a text sink receives
    const report* counts = nullptr;          ///< progress: the counts so far; finished: the report
    std::size_t seen = 0;                    ///< progress: items read so far
    std::optional<std::size_t> total{};      ///< progress: the input's size, when it is known
    double rate = 0.0;                       ///< progress: items read per second since the start
    std::optional<duration> eta{};           ///< progress: when the total is known and the rate not 0
    duration elapsed{};                      ///< progress: time since the start (the job's clock)
    const failure_record* failure = nullptr; ///< failure: the failure
    std::string_view reason{};               ///< folded: the reason; stopped: why the run stopped
    std::size_t more = 0;                    ///< folded: failures of `reason` not logged one by one
};

/// A sink that takes each line with its fields.
template <class S>
concept event_sink = std::invocable<S&, const log_event&>;

namespace detail {

using event_fn = std::function<void(const log_event&)>;

/// Any sink as an event sink: a text sink receives the event's level and text.
template <class Sink> event_fn to_event_fn(Sink sink)
{
    if constexpr (event_sink<Sink>) {
        return sink;
    } else {
        return [sink = std::move(sink)](const log_event& e) mutable { sink(e.severity, e.text); };
    }
}

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

    STURDY_DECL progress_log(progress_interval every, event_fn sink);

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

    /// "stopped early: <why>", a warning.
    STURDY_DECL void stopped(std::string_view why);

    STURDY_DECL void summary(const report& r);

private:
    [[nodiscard]] std::size_t every_count() const { return every_.items; }

    STURDY_DECL void line(std::size_t seen, const report& r, time_point now);

    progress_interval every_;
    event_fn sink_;
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
