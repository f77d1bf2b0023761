#pragma once
/// sturdy/report.hpp — `sturdy::report`, what `drain` returns: counts, elapsed time and the
/// first failures with key and reason. Printable with fmt (`fmt::print("{}", r)`) and as
/// one line of JSON (`r.json()`).

#include <sturdy/error.hpp>
#include <sturdy/key.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace sturdy {

/// One failed item: its key, why it failed, and how many attempts were made.
struct failure_record {
    key item_key;
    std::string reason;
    failure_kind kind = failure_kind::permanent;
    int attempts = 1;
};

struct report {
    std::size_t seen = 0;           ///< items read from the input
    std::size_t done = 0;           ///< items whose effect committed (or was released, under no_commit)
    std::size_t skipped = 0;        ///< items skipped because the ledger already holds their key
    std::size_t failed = 0;         ///< items that failed for good in this run
    std::size_t retried = 0;        ///< extra attempts made after transient failures
    std::size_t chunks = 0;         ///< chunks ended (committed, or released under no_commit)
    std::size_t quarantined = 0;    ///< items seen that are in quarantine (before this run, or from it)
    std::size_t awaiting_retry = 0; ///< failed items a later run will retry (failed, not quarantined)
    std::size_t remaining = 0;      ///< items not processed because the run stopped early
    std::string stopped_early;      ///< why the run stopped before the end of its input; empty if it did not
    std::chrono::nanoseconds elapsed{};
    std::vector<failure_record> failures; ///< the first `max_failures_kept` failures, in order

    static constexpr std::size_t max_failures_kept = 20;

    [[nodiscard]] bool ok() const noexcept { return failed == 0; }

    /// True when work is pending: the scheduler should run the job again soon.
    [[nodiscard]] bool run_again_soon() const noexcept
    {
        return remaining > 0 || awaiting_retry > 0 || !stopped_early.empty();
    }

    /// One line of JSON; keys are stable, counts are integers.
    [[nodiscard]] std::string json() const;
};

namespace detail {
inline void append_json_string(std::string& out, std::string_view s)
{
    out += '"';
    for (const char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
            } else {
                out += c;
            }
        }
    }
    out += '"';
}

inline std::string format_duration(std::chrono::nanoseconds d)
{
    const double s = std::chrono::duration<double>(d).count();
    if (s < 1.0) {
        return fmt::format("{:.0f}ms", s * 1000.0);
    }
    if (s < 120.0) {
        return fmt::format("{:.1f}s", s);
    }
    return fmt::format("{}m{:02}s", static_cast<long>(s) / 60, static_cast<long>(s) % 60);
}
} // namespace detail

inline std::string report::json() const
{
    std::string out = fmt::format(
        R"({{"seen":{},"done":{},"skipped":{},"failed":{},"retried":{},"quarantined":{},"awaiting_retry":{},"remaining":{},"chunks":{},"elapsed_ms":{},"run_again_soon":{},"stopped_early":)",
        seen, done, skipped, failed, retried, quarantined, awaiting_retry, remaining, chunks,
        std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), run_again_soon());
    if (stopped_early.empty()) {
        out += "null";
    } else {
        detail::append_json_string(out, stopped_early);
    }
    out += R"(,"failures":[)";
    bool first = true;
    for (const auto& f : failures) {
        out += first ? "{\"key\":" : ",{\"key\":";
        first = false;
        detail::append_json_string(out, f.item_key.str());
        out += ",\"reason\":";
        detail::append_json_string(out, f.reason);
        out += fmt::format(R"(,"attempts":{},"transient":{}}})", f.attempts, f.kind == failure_kind::transient);
    }
    out += "]}";
    return out;
}

} // namespace sturdy

template <> struct fmt::formatter<sturdy::report> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx> auto format(const sturdy::report& r, Ctx& ctx) const
    {
        auto out =
            fmt::format_to(ctx.out(), "seen {}, done {}, skipped {} (already done), failed {}, retried {}, in {}",
                           r.seen, r.done, r.skipped, r.failed, r.retried, sturdy::detail::format_duration(r.elapsed));
        if (r.quarantined > 0) {
            out = fmt::format_to(out, "; {} quarantined (requeue to retry)", r.quarantined);
        }
        if (!r.stopped_early.empty()) {
            out = fmt::format_to(out, "\n  stopped early: {}; {} remaining", r.stopped_early, r.remaining);
        }
        if (r.run_again_soon()) {
            out = fmt::format_to(out, "\n  run again soon: {} remaining, {} failed awaiting retry", r.remaining,
                                 r.awaiting_retry);
        }
        for (const auto& f : r.failures) {
            out = fmt::format_to(out, "\n  failed {}: {}{}", f.item_key, f.reason,
                                 f.attempts > 1 ? fmt::format(" (after {} attempts)", f.attempts) : std::string());
        }
        if (r.failed > r.failures.size()) {
            out = fmt::format_to(out, "\n  ... {} more failures not listed", r.failed - r.failures.size());
        }
        return out;
    }
};
