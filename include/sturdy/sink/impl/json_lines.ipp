#pragma once
/// sturdy/sink/impl/json_lines.ipp — definitions for sturdy/sink/json_lines.hpp (see sturdy/config.hpp).

#include <sturdy/sink/json_lines.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace sturdy {
namespace detail {

STURDY_DECL void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t)
{
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(t);
    const auto day = floor<days>(ms);
    const year_month_day date{day};
    const hh_mm_ss<milliseconds> time{ms - day};
    const auto two = [&out](long v) {
        out += static_cast<char>('0' + v / 10);
        out += static_cast<char>('0' + v % 10);
    };
    append(out, static_cast<int>(date.year()), '-');
    two(static_cast<long>(static_cast<unsigned>(date.month())));
    out += '-';
    two(static_cast<long>(static_cast<unsigned>(date.day())));
    out += 'T';
    two(time.hours().count());
    out += ':';
    two(time.minutes().count());
    out += ':';
    two(time.seconds().count());
    const auto millis = time.subseconds().count();
    append(out, '.', static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
           static_cast<char>('0' + millis % 10), 'Z');
}

} // namespace detail

STURDY_DECL json_lines_sink::json_lines_sink(std::string job, std::FILE* out)
    : json_lines_sink(std::move(job), [out](std::string_view line) {
          std::fwrite(line.data(), 1, line.size(), out); // one write, so lines from threads do not interleave
          std::fflush(out);
      })
{
}

STURDY_DECL json_lines_sink::json_lines_sink(std::string job, writer write, wall_clock now)
    : job_(std::move(job)), write_(std::move(write)), now_(std::move(now))
{
    if (!now_) {
        now_ = [] { return std::chrono::system_clock::now(); };
    }
}

STURDY_DECL void json_lines_sink::operator()(const log_event& e) const { write_(line(e, now_())); }

STURDY_DECL std::string json_lines_sink::line(const log_event& e, std::chrono::system_clock::time_point ts) const
{
    using detail::append;
    using detail::append_json_string;
    const auto ms = [](duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    std::string out = R"({"ts":")";
    detail::append_rfc3339(out, ts);
    out += R"(","level":)";
    out += e.severity == level::info ? R"("info")" : (e.severity == level::warning ? R"("warning")" : R"("error")");
    out += R"(,"event":)";
    switch (e.kind) {
    case log_event_kind::progress: out += R"("progress")"; break;
    case log_event_kind::failure: out += R"("failure")"; break;
    case log_event_kind::folded: out += R"("folded")"; break;
    case log_event_kind::stopped: out += R"("stopped")"; break;
    case log_event_kind::finished: out += R"("finished")"; break;
    }
    out += R"(,"job":)";
    append_json_string(out, job_);
    switch (e.kind) {
    case log_event_kind::progress:
        append(out, R"(,"seen":)", e.seen, R"(,"total":)");
        if (e.total) {
            append(out, *e.total);
        } else {
            out += "null";
        }
        if (e.counts != nullptr) {
            append(out, R"(,"done":)", e.counts->done, R"(,"skipped":)", e.counts->skipped, R"(,"failed":)",
                   e.counts->failed, R"(,"retried":)", e.counts->retried);
        }
        out += R"(,"rate":)";
        detail::append_fixed(out, e.rate, 1);
        out += R"(,"eta_ms":)";
        if (e.eta) {
            append(out, ms(*e.eta));
        } else {
            out += "null";
        }
        append(out, R"(,"elapsed_ms":)", ms(e.elapsed), '}');
        break;
    case log_event_kind::failure:
        if (e.failure != nullptr) {
            out += R"(,"key":)";
            append_json_string(out, e.failure->item_key.str());
            out += R"(,"reason":)";
            append_json_string(out, e.failure->reason);
            append(out, R"(,"attempts":)", e.failure->attempts,
                   e.failure->kind == failure_kind::transient ? R"(,"transient":true)" : R"(,"transient":false)");
        }
        out += '}';
        break;
    case log_event_kind::folded:
        out += R"(,"reason":)";
        append_json_string(out, e.reason);
        append(out, R"(,"more":)", e.more, '}');
        break;
    case log_event_kind::stopped:
        out += R"(,"reason":)";
        append_json_string(out, e.reason);
        out += '}';
        break;
    case log_event_kind::finished:
        if (e.counts != nullptr) {
            const std::string fields = e.counts->json(); // {"seen":...}: its fields follow ours
            out += ',';
            out.append(fields, 1);
        } else {
            out += '}';
        }
        break;
    }
    out += '\n';
    return out;
}

} // namespace sturdy
