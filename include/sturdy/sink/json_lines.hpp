#pragma once
/// sturdy/sink/json_lines.hpp — `json_lines_sink`: the progress log as JSON lines, one object per
/// line with fields, not prose, for log shippers (Vector, Fluent Bit, Promtail, Filebeat).
///
///     ... | sturdy::logged_every(1000, sturdy::json_lines_sink("invoicing")) | sturdy::drain;  // to stderr
///     sturdy::json_lines_sink("invoicing", stdout)
///     sturdy::json_lines_sink("invoicing", [&](std::string_view line) { my_writer(line); })
///
/// Every object has "ts" (UTC, RFC 3339 with milliseconds, from the wall clock: the job's
/// injected clock is a steady clock that tells no date), "level" ("info", "warning", "error"),
/// "event" and "job", then the event's fields:
///
/// | event        | fields                                                                               |
/// |--------------|--------------------------------------------------------------------------------------|
/// | `"progress"` | seen, total (or null), done, skipped, failed, retried, rate (items/s), eta_ms (or    |
/// |              | null), elapsed_ms                                                                    |
/// | `"failure"`  | key, reason, attempts, transient (the first three of one reason, as in the text log) |
/// | `"folded"`   | reason, more: failures of that reason not logged one by one (at the end)             |
/// | `"stopped"`  | reason: why the run stopped before the end of its input                              |
/// | `"finished"` | the report's fields, as in `report::json()` (failure_reasons included)               |
///
/// Strings are escaped as JSON requires (quotes, backslashes, control characters); other bytes
/// are passed through, so UTF-8 text stays UTF-8. Each line ends with '\n' and is written with
/// one call (one `fwrite`, then `fflush`, for a FILE*).

#include <sturdy/config.hpp>
#include <sturdy/log.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace sturdy {

class json_lines_sink {
public:
    /// Receives each line, '\n' included.
    using writer = std::function<void(std::string_view line)>;
    /// The "ts" of each line; tests inject a fixed time.
    using wall_clock = std::function<std::chrono::system_clock::time_point()>;

    /// Writes to `out` (stderr by default, where the text log goes).
    STURDY_DECL explicit json_lines_sink(std::string job, std::FILE* out = stderr);
    /// Hands each line to `write`; "ts" from `now` (the system clock by default).
    STURDY_DECL json_lines_sink(std::string job, writer write, wall_clock now = {});

    STURDY_DECL void operator()(const log_event& e) const;

    /// The line `e` is written as, '\n' included, with "ts" set to `ts`.
    [[nodiscard]] STURDY_DECL std::string line(const log_event& e, std::chrono::system_clock::time_point ts) const;

private:
    std::string job_;
    writer write_;
    wall_clock now_;
};

static_assert(event_sink<json_lines_sink>);

namespace detail {
/// "2026-12-01T03:08:34.123Z": UTC, milliseconds.
STURDY_DECL void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t);
} // namespace detail

} // namespace sturdy

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/sink/impl/json_lines.ipp>
#endif
