#pragma once
/// sturdy/view/logged_every.hpp — progress lines, failures and a summary, without one line per item.
///
///     ... | sturdy::logged_every(1000)                        // every 1000 items, to stderr
///     ... | sturdy::logged_every(std::chrono::seconds(10), my_sink)
///
/// In:  items of type T.  Out: the same items.
/// Lines: "progress 3000/10000 (30.0%): done 2950, skipped 40, failed 10, retried 3 | 830 items/s,
/// ETA 8.4s" (total and ETA when the input's size is known), emitted at the first chunk boundary
/// after each `every` items or each `every` of clock time, so they report committed counts; each
/// failure with its key and reason, the first three of one reason only, then "... and 120 more
/// like this: <reason>" at the end; and one "finished: <report>" line.
/// Sink: a text sink, `sink(sturdy::level, std::string_view)`, or an event sink,
/// `sink(const sturdy::log_event&)`, which gets each line's fields too (sturdy/log.hpp).
/// Counting: `seen` is every item read, including those the ledger skips.
/// A hook (sturdy/hook.hpp), registered where it is written: it starts at `on_run_start`,
/// writes progress at `after_chunk`, failures at `on_failure` and the summary at `on_run_end`,
/// under `drain` and in a for loop alike (without `chunked`, every item of a loop is a chunk of
/// one, so progress comes as items finish).
/// Preconditions: every >= 1 item, or a positive duration.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/log.hpp>
#include <sturdy/report.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sturdy {
namespace detail {
struct progress_hook {
    progress_interval every;
    event_fn sink;
    std::optional<progress_log> log; ///< the run's, from on_run_start

    void on_run_start(const run_started& e)
    {
        log.emplace(every, sink);
        log->start(e.start, e.total);
    }
    void after_chunk(const chunk_ended& e)
    {
        log->tick(e.so_far.seen, e.so_far, [&] { return e.now; });
    }
    void on_failure(const failure_record& f) { log->failure(f); }
    void on_run_end(const report& r)
    {
        if (!r.stopped_early.empty()) {
            log->stopped(r.stopped_early);
        }
        log->summary(r);
    }
};
} // namespace detail

struct logged_every_fn {
    template <class Sink = stderr_sink> auto operator()(std::integral auto every, Sink sink = {}) const
    {
        static_assert(log_sink<Sink> || event_sink<Sink>,
                      "logged_every: the sink must be callable as sink(sturdy::level, std::string_view) or "
                      "sink(const sturdy::log_event&)");
        if (every < 1) {
            throw usage_error("logged_every: log every n items with n >= 1 (got " + std::to_string(every) + ")");
        }
        return make({static_cast<std::size_t>(every), {}}, std::move(sink));
    }
    template <class Rep, class Period, class Sink = stderr_sink>
    auto operator()(std::chrono::duration<Rep, Period> every, Sink sink = {}) const
    {
        static_assert(log_sink<Sink> || event_sink<Sink>,
                      "logged_every: the sink must be callable as sink(sturdy::level, std::string_view) or "
                      "sink(const sturdy::log_event&)");
        if (every <= every.zero()) {
            throw usage_error(
                "logged_every: the interval must be positive, e.g. logged_every(std::chrono::seconds(10))");
        }
        return make({0, std::chrono::duration_cast<duration>(every)}, std::move(sink));
    }

private:
    template <class Sink> static auto make(detail::progress_interval every, Sink sink)
    {
        return detail::hook_stage<detail::progress_hook>{{every, detail::to_event_fn(std::move(sink)), std::nullopt}};
    }
};

/// See the header comment.
inline constexpr logged_every_fn logged_every{};

} // namespace sturdy
