// json_lines_sink's lines word for word (tests/sink/json_lines_test.py parses a whole run's).
#include <sturdy/sink/json_lines.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {
std::chrono::system_clock::time_point at_ms(long long ms)
{
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

std::string rfc3339(std::chrono::system_clock::time_point t)
{
    std::string out;
    sturdy::detail::append_rfc3339(out, t);
    return out;
}
} // namespace

TEST_CASE("timestamps are UTC, RFC 3339, with milliseconds")
{
    CHECK(rfc3339(at_ms(0)) == "1970-01-01T00:00:00.000Z");
    CHECK(rfc3339(at_ms(1764558514123)) == "2025-12-01T03:08:34.123Z");
    CHECK(rfc3339(at_ms(951782400000 + 86399999)) == "2000-02-29T23:59:59.999Z");
    CHECK(rfc3339(at_ms(-1)) == "1969-12-31T23:59:59.999Z");
    CHECK(rfc3339(at_ms(4107542400007)) == "2100-03-01T00:00:00.007Z"); // 2100 is not a leap year
}

TEST_CASE("each event is one line of JSON with its fields; strings are escaped")
{
    std::vector<std::string> lines;
    const sturdy::json_lines_sink sink(
        "job \"a\"\n", [&](std::string_view line) { lines.emplace_back(line); }, [] { return at_ms(86400000); });
    sturdy::report counts;
    counts.done = 290;
    counts.skipped = 5;
    counts.failed = 5;
    counts.retried = 2;

    sturdy::log_event progress{.kind = sturdy::log_event_kind::progress, .severity = sturdy::level::info};
    progress.text = "progress 300/1000 ...";
    progress.counts = &counts;
    progress.seen = 300;
    progress.total = 1000;
    progress.rate = 830.25;
    progress.eta = 8400ms;
    progress.elapsed = 361ms;
    sink(progress);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == R"({"ts":"1970-01-02T00:00:00.000Z","level":"info","event":"progress","job":"job \"a\"\n",)"
                      R"("seen":300,"total":1000,"done":290,"skipped":5,"failed":5,"retried":2,"rate":830.2,)"
                      R"("eta_ms":8400,"elapsed_ms":361})"
                      "\n");

    progress.total.reset(); // an input of unknown size: no total, no ETA
    progress.eta.reset();
    CHECK(sink.line(progress, at_ms(0)).find(R"("seen":300,"total":null,)") != std::string::npos);
    CHECK(sink.line(progress, at_ms(0)).find(R"("eta_ms":null,)") != std::string::npos);

    const sturdy::failure_record f{sturdy::key("42/2025-01"), "quote \" back\\slash \x01\ttab caf\xc3\xa9",
                                   sturdy::failure_kind::transient, 3};
    sturdy::log_event failure{.kind = sturdy::log_event_kind::failure, .severity = sturdy::level::warning};
    failure.failure = &f;
    CHECK(sink.line(failure, at_ms(0)) ==
          R"({"ts":"1970-01-01T00:00:00.000Z","level":"warning","event":"failure","job":"job \"a\"\n",)"
          R"("key":"42/2025-01","reason":"quote \" back\\slash \u0001\ttab caf)"
          "\xc3\xa9"
          R"(","attempts":3,"transient":true})"
          "\n");

    sturdy::log_event folded{.kind = sturdy::log_event_kind::folded, .severity = sturdy::level::warning};
    folded.reason = "no address";
    folded.more = 119;
    CHECK(sink.line(folded, at_ms(0))
              .ends_with(R"("event":"folded","job":"job \"a\"\n","reason":"no address","more":119})"
                         "\n"));

    sturdy::log_event stopped{.kind = sturdy::log_event_kind::stopped, .severity = sturdy::level::error};
    stopped.reason = "time budget";
    CHECK(sink.line(stopped, at_ms(0)) ==
          R"({"ts":"1970-01-01T00:00:00.000Z","level":"error","event":"stopped","job":"job \"a\"\n",)"
          R"("reason":"time budget"})"
          "\n");

    sturdy::report r;
    r.seen = 3;
    r.add_failure({sturdy::key(2), "x"});
    sturdy::log_event finished{.kind = sturdy::log_event_kind::finished, .severity = sturdy::level::warning};
    finished.counts = &r;
    CHECK(sink.line(finished, at_ms(0)) ==
          R"({"ts":"1970-01-01T00:00:00.000Z","level":"warning","event":"finished","job":"job \"a\"\n",)" +
              r.json().substr(1) + "\n");
}

TEST_CASE("a json_lines_sink is an event sink: logged_every hands it fields, not only text")
{
    STATIC_REQUIRE(sturdy::event_sink<sturdy::json_lines_sink>);
    STATIC_REQUIRE_FALSE(sturdy::log_sink<sturdy::json_lines_sink>);
}
