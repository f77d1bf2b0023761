#pragma once
/// sturdy/impl/report.ipp — definitions for sturdy/report.hpp (see sturdy/config.hpp).

#include <sturdy/report.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace sturdy {
namespace detail {

STURDY_DECL void append_fixed(std::string& out, double value, int precision)
{
    char buf[330]; // the longest double in fixed notation is 309 digits, a sign, a point and the decimals
    out.append(buf, std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, precision).ptr);
}

STURDY_DECL void append_json_string(std::string& out, std::string_view s)
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
                constexpr std::string_view hex = "0123456789abcdef";
                out += "\\u00";
                out += hex[static_cast<unsigned char>(c) >> 4U];
                out += hex[static_cast<unsigned char>(c) & 0xfU];
            } else {
                out += c;
            }
        }
    }
    out += '"';
}

STURDY_DECL std::string format_duration(std::chrono::nanoseconds d)
{
    const double s = std::chrono::duration<double>(d).count();
    std::string out;
    if (s < 1.0) {
        append_fixed(out, s * 1000.0, 0);
        out += "ms";
    } else if (s < 120.0) {
        append_fixed(out, s, 1);
        out += 's';
    } else {
        const long whole = static_cast<long>(s);
        append_int(out, whole / 60);
        out += (whole % 60 < 10) ? "m0" : "m";
        append_int(out, whole % 60);
        out += 's';
    }
    return out;
}

STURDY_DECL void append_failure(std::string& out, const failure_record& f)
{
    append(out, "failed ", f.item_key.str(), ": ", f.reason);
    if (f.attempts > 1) {
        append(out, " (after ", f.attempts, " attempts)");
    }
}

STURDY_DECL void append_failure_reason(std::string& out, const failure_reason& g)
{
    if (g.count == 1 && g.keys.size() == 1) {
        append_failure(out, failure_record{g.keys.front(), g.reason, g.kind, g.max_attempts});
        return;
    }
    append(out, "failed ", g.count, " items (keys ");
    for (std::size_t i = 0; i < g.keys.size(); ++i) {
        append(out, i == 0 ? "" : ", ", g.keys[i].str());
    }
    if (g.count > g.keys.size()) {
        append(out, " and ", g.count - g.keys.size(), " more");
    }
    append(out, "): ", g.reason);
    if (g.max_attempts > 1) {
        append(out, " (after up to ", g.max_attempts, " attempts)");
    }
}

STURDY_DECL void append_report_text(std::string& out, const report& r)
{
    append(out, "seen ", r.seen, ", done ", r.done, ", skipped ", r.skipped, " (already done), failed ", r.failed,
           ", retried ", r.retried, ", in ", format_duration(r.elapsed));
    if (r.quarantined > 0) {
        append(out, "; ", r.quarantined, " quarantined (requeue to retry)");
    }
    if (!r.stopped_early.empty()) {
        append(out, "\n  stopped early: ", r.stopped_early, "; ", r.remaining, " remaining");
    }
    if (r.run_again_soon()) {
        append(out, "\n  run again soon: ", r.remaining, " remaining, ", r.awaiting_retry, " failed awaiting retry");
    }
    std::size_t listed = 0;
    for (const auto& g : r.failure_reasons) {
        out += "\n  ";
        append_failure_reason(out, g);
        listed += g.count;
    }
    if (r.failed > listed) {
        append(out, "\n  ... ", r.failed - listed, " more failures of other reasons not listed");
    }
}

} // namespace detail

STURDY_DECL void report::add_failure(failure_record f)
{
    ++failed;
    auto group = std::find_if(failure_reasons.begin(), failure_reasons.end(),
                              [&f](const failure_reason& g) { return g.reason == f.reason; });
    if (group == failure_reasons.end() && failure_reasons.size() < max_reasons_kept) {
        group = failure_reasons.insert(failure_reasons.end(), failure_reason{f.reason, 0, {}, f.kind, f.attempts});
    }
    if (group != failure_reasons.end()) {
        ++group->count;
        group->max_attempts = std::max(group->max_attempts, f.attempts);
        if (group->keys.size() < keys_per_reason) {
            group->keys.push_back(f.item_key);
        }
    }
    if (failures.size() < max_failures_kept) {
        failures.push_back(std::move(f));
    }
}

STURDY_DECL std::string report::json() const
{
    std::string out = "{";
    const auto field = [&out](std::string_view name, std::size_t value) {
        out += '"';
        out += name;
        out += "\":";
        detail::append_int(out, value);
        out += ',';
    };
    field("seen", seen);
    field("done", done);
    field("skipped", skipped);
    field("failed", failed);
    field("retried", retried);
    field("quarantined", quarantined);
    field("awaiting_retry", awaiting_retry);
    field("remaining", remaining);
    field("chunks", chunks);
    out += "\"elapsed_ms\":";
    detail::append_int(out, std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
    out +=
        run_again_soon() ? R"(,"run_again_soon":true,"stopped_early":)" : R"(,"run_again_soon":false,"stopped_early":)";
    if (stopped_early.empty()) {
        out += "null";
    } else {
        detail::append_json_string(out, stopped_early);
    }
    out += R"(,"failure_reasons":[)";
    bool first = true;
    for (const auto& g : failure_reasons) {
        out += first ? "{\"reason\":" : ",{\"reason\":";
        first = false;
        detail::append_json_string(out, g.reason);
        out += ",\"count\":";
        detail::append_int(out, g.count);
        out += ",\"keys\":[";
        for (std::size_t i = 0; i < g.keys.size(); ++i) {
            out += i == 0 ? "" : ",";
            detail::append_json_string(out, g.keys[i].str());
        }
        out += "],\"max_attempts\":";
        detail::append_int(out, g.max_attempts);
        out += g.kind == failure_kind::transient ? ",\"transient\":true}" : ",\"transient\":false}";
    }
    out += "]}";
    return out;
}

} // namespace sturdy
