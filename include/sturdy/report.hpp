#pragma once
/// sturdy/report.hpp — `sturdy::report`, what `drain` returns: counts, elapsed time, the first
/// failures with key and reason, and the failures grouped by reason (a count and the first keys
/// of each, so 122 failures of one cause read as one line). Printable with fmt
/// (`fmt::print("{}", r)`) and as one line of JSON (`r.json()`).
/// The library's headers include only <fmt/core.h>, which is all `fmt::print("{}", r)` and
/// `fmt::format` need (the testing kit, sturdy/testing.hpp, includes <fmt/format.h> and
/// <fmt/ranges.h>); include <fmt/format.h> (or fmt/ranges.h, fmt/chrono.h ...) yourself for the
/// rest of fmt.

#include <sturdy/config.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>

// For fmt::formatter<sturdy::report> alone: sturdy formats nothing with fmt itself.
#include <sturdy/detail/fmt_core.hpp>

#include <charconv>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sturdy {

/// One failed item: its key, why it failed, and how many attempts were made.
struct failure_record {
    key item_key;
    std::string reason;
    failure_kind kind = failure_kind::permanent;
    int attempts = 1;
};

/// The failures of one reason: how many, and the first keys, in the order they failed.
struct failure_reason {
    std::string reason;
    std::size_t count = 0;
    std::vector<key> keys;                       ///< the first `report::keys_per_reason` keys
    failure_kind kind = failure_kind::permanent; ///< the first failure's
    int max_attempts = 1;                        ///< the most attempts any of them took
};

struct report {
    std::size_t seen = 0;           ///< items read from the input
    std::size_t done = 0;           ///< items whose effect committed (or was released, under no_commit)
    std::size_t skipped = 0;        ///< items skipped because the ledger already holds their key
    std::size_t failed = 0;         ///< items that failed for good in this run
    std::size_t retried = 0;        ///< extra attempts made after transient failures
    std::size_t chunks = 0;         ///< chunks ended: committed (released under no_commit), or given up
                                    ///< because their transaction could not commit
    std::size_t quarantined = 0;    ///< items seen that are in quarantine (before this run, or from it)
    std::size_t awaiting_retry = 0; ///< failed items a later run will retry (failed, not quarantined)
    std::size_t remaining = 0;      ///< items not processed because the run stopped early
    std::string stopped_early;      ///< why the run stopped before the end of its input; empty if it did not
    std::chrono::nanoseconds elapsed{};
    std::vector<failure_record> failures; ///< the first `max_failures_kept` failures, in order
    /// Every failure counted under its reason, for the first `max_reasons_kept` distinct reasons
    /// in the order they first occurred (the text and the JSON print these). Failures of later
    /// reasons are in `failed` only.
    std::vector<failure_reason> failure_reasons;

    static constexpr std::size_t max_failures_kept = 20;
    static constexpr std::size_t max_reasons_kept = 20;
    static constexpr std::size_t keys_per_reason = 3;

    /// Counts a failure final for this run: `failed`, `failures` (up to its limit) and its
    /// reason's group. What the engine calls; a hand-made report uses it too.
    STURDY_DECL void add_failure(failure_record f);

    [[nodiscard]] bool ok() const noexcept { return failed == 0; }

    /// True when work is pending: the scheduler should run the job again soon.
    [[nodiscard]] bool run_again_soon() const noexcept
    {
        return remaining > 0 || awaiting_retry > 0 || !stopped_early.empty();
    }

    /// One line of JSON; keys are stable, counts are integers.
    [[nodiscard]] STURDY_DECL std::string json() const;
};

namespace detail {
// The report's text, the JSON and the log lines are built with std::to_chars rather than fmt:
// fmt's formatting templates would be instantiated and compiled in every translation unit
// that runs a pipeline, and they cost more compile time than the loop itself. The output is
// the same as fmt's "{}", "{:.0f}", "{:.1f}" and "{:02}" (to_chars rounds the same way).

/// Appends an integer in decimal.
template <class Integer> void append_int(std::string& out, Integer value)
{
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
}

inline void append_part(std::string& out, std::string_view text) { out += text; }
inline void append_part(std::string& out, char c) { out += c; }
template <class Integer>
requires std::is_integral_v<Integer>
void append_part(std::string& out, Integer value) { append_int(out, value); }

/// Appends each part: text as it is, integers in decimal. `append(out, "seen ", n, ", done ", d)`
/// reads as the line it writes.
template <class... Parts> void append(std::string& out, const Parts&... parts) { (append_part(out, parts), ...); }

/// Appends `value` in fixed notation with `precision` digits after the point, as "{:.Nf}".
STURDY_DECL void append_fixed(std::string& out, double value, int precision);

STURDY_DECL void append_json_string(std::string& out, std::string_view s);

/// "850ms", "12.5s", "3m07s".
STURDY_DECL std::string format_duration(std::chrono::nanoseconds d);

/// "failed <key>: <reason>", then " (after n attempts)" when there were several.
STURDY_DECL void append_failure(std::string& out, const failure_record& f);

/// One reason's line: as `append_failure` for a single failure, otherwise
/// "failed <count> items (keys <k1>, <k2>, <k3> and <n> more): <reason> (after up to n attempts)".
STURDY_DECL void append_failure_reason(std::string& out, const failure_reason& g);

/// The report as text: what `fmt::print("{}", r)` prints and the log's "finished: " line.
STURDY_DECL void append_report_text(std::string& out, const report& r);
} // namespace detail

} // namespace sturdy

/// `fmt::print("{}", r)`: the report as text (several lines when something failed or stopped).
template <> struct fmt::formatter<sturdy::report> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx> auto format(const sturdy::report& r, Ctx& ctx) const
    {
        std::string text;
        sturdy::detail::append_report_text(text, r);
        auto out = ctx.out();
        for (const char c : text) {
            *out++ = c;
        }
        return out;
    }
};

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/impl/report.ipp>
#endif
