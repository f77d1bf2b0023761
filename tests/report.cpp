// The exact text of reports, JSON, durations and log lines (built without fmt: see report.hpp).
#include "support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("durations print as ms, seconds with one decimal, then minutes and seconds")
{
    using sturdy::detail::format_duration;
    CHECK(format_duration(0ns) == "0ms");
    CHECK(format_duration(500'000ns) == "0ms"); // ties round to even, as fmt's {:.0f}
    CHECK(format_duration(1'500'000ns) == "2ms");
    CHECK(format_duration(999'500'000ns) == "1000ms");
    CHECK(format_duration(1s) == "1.0s");
    CHECK(format_duration(1'050'000'000ns) == "1.1s");
    CHECK(format_duration(119'949'999'999ns) == "119.9s");
    CHECK(format_duration(119'950'000'000ns) == "120.0s");
    CHECK(format_duration(120s) == "2m00s");
    CHECK(format_duration(3'599'999'999'999ns) == "59m59s");
    CHECK(format_duration(24h) == "1440m00s");
    CHECK(format_duration(-2s) == "-2000ms");
}

TEST_CASE("an empty report prints one line and all-zero JSON")
{
    const sturdy::report r;
    CHECK(fmt::format("{}", r) == "seen 0, done 0, skipped 0 (already done), failed 0, retried 0, in 0ms");
    CHECK(r.json() == R"({"seen":0,"done":0,"skipped":0,"failed":0,"retried":0,"quarantined":0,"awaiting_retry":0,)"
                      R"("remaining":0,"chunks":0,"elapsed_ms":0,"run_again_soon":false,"stopped_early":null,)"
                      R"("failure_reasons":[]})");
}

TEST_CASE("a report with every part prints each on its own line; JSON escapes control characters")
{
    sturdy::report r;
    r.seen = 18446744073709551615ULL;
    r.done = 7;
    r.skipped = 2;
    r.retried = 3;
    r.chunks = 4;
    r.quarantined = 2;
    r.awaiting_retry = 9;
    r.remaining = 11;
    r.stopped_early = std::string("budget \"x\" \\ \t") + '\x01' + '\x1f' + "\x7f \xc3\xa9";
    r.elapsed = 2500ms;
    r.add_failure({sturdy::key(42), "once", sturdy::failure_kind::permanent, 1});
    r.add_failure({sturdy::key("a/b"), "twice\n", sturdy::failure_kind::transient, 2});
    r.add_failure({sturdy::key(-7), "", sturdy::failure_kind::fatal, 0});
    r.failed += 22; // counted by hand, with no reason: "not listed"
    CHECK(r.failed == 25);
    CHECK(fmt::format("{}", r) == "seen 18446744073709551615, done 7, skipped 2 (already done), failed 25, retried 3, "
                                  "in 2.5s; 2 quarantined (requeue to retry)\n"
                                  "  stopped early: " +
                                      r.stopped_early +
                                      "; 11 remaining\n"
                                      "  run again soon: 11 remaining, 9 failed awaiting retry\n"
                                      "  failed 42: once\n"
                                      "  failed a/b: twice\n (after 2 attempts)\n"
                                      "  failed -7: \n"
                                      "  ... 22 more failures of other reasons not listed");
    CHECK(r.json() ==
          R"({"seen":18446744073709551615,"done":7,"skipped":2,"failed":25,"retried":3,"quarantined":2,)"
          R"("awaiting_retry":9,"remaining":11,"chunks":4,"elapsed_ms":2500,"run_again_soon":true,)"
          R"("stopped_early":"budget \"x\" \\ \t\u0001\u001f)"
          "\x7f \xc3\xa9"
          R"(","failure_reasons":[{"reason":"once","count":1,"keys":["42"],"max_attempts":1,"transient":false},)"
          R"({"reason":"twice\n","count":1,"keys":["a/b"],"max_attempts":2,"transient":true},)"
          R"({"reason":"","count":1,"keys":["-7"],"max_attempts":0,"transient":false}]})");
}

TEST_CASE("failures are grouped by reason: one line per reason with its count and first keys")
{
    sturdy::report r;
    // 122 failures of one cause, 2 of another, interleaved as a run meets them.
    for (int i = 0; i < 122; ++i) {
        r.add_failure({sturdy::key(i * 97), "amount must not be negative", sturdy::failure_kind::permanent, 1});
        if (i == 1 || i == 50) {
            r.add_failure(
                {sturdy::key("p/" + std::to_string(i)), "busy", sturdy::failure_kind::transient, i == 1 ? 3 : 2});
        }
    }
    CHECK(r.failed == 124);
    CHECK(r.failures.size() == sturdy::report::max_failures_kept); // the first ones, one by one
    REQUIRE(r.failure_reasons.size() == 2);
    CHECK(r.failure_reasons[0].count == 122);
    CHECK(r.failure_reasons[0].keys == std::vector<sturdy::key>{sturdy::key(0), sturdy::key(97), sturdy::key(194)});
    CHECK(r.failure_reasons[1].count == 2);
    CHECK(r.failure_reasons[1].max_attempts == 3);
    const auto text = fmt::format("{}", r);
    CHECK(text == "seen 0, done 0, skipped 0 (already done), failed 124, retried 0, in 0ms\n"
                  "  failed 122 items (keys 0, 97, 194 and 119 more): amount must not be negative\n"
                  "  failed 2 items (keys p/1, p/50): busy (after up to 3 attempts)");
    CHECK(r.json().ends_with(
        R"("failure_reasons":[{"reason":"amount must not be negative","count":122,"keys":["0","97","194"],)"
        R"("max_attempts":1,"transient":false},)"
        R"({"reason":"busy","count":2,"keys":["p/1","p/50"],"max_attempts":3,"transient":true}]})"));
}

TEST_CASE("distinct reasons beyond the limit are counted, not listed")
{
    sturdy::report r;
    for (std::size_t i = 0; i < sturdy::report::max_reasons_kept + 5; ++i) {
        r.add_failure({sturdy::key(static_cast<std::int64_t>(i)), "reason " + std::to_string(i)});
        r.add_failure({sturdy::key(static_cast<std::int64_t>(i + 1000)), "reason " + std::to_string(i)});
    }
    CHECK(r.failed == 2 * (sturdy::report::max_reasons_kept + 5));
    CHECK(r.failure_reasons.size() == sturdy::report::max_reasons_kept);
    CHECK(r.failure_reasons.back().reason == "reason 19");
    CHECK(fmt::format("{}", r).ends_with("\n  failed 2 items (keys 19, 1019): reason 19\n"
                                         "  ... 10 more failures of other reasons not listed"));
}

TEST_CASE("a run with many failures of one reason reports one line for it, in the text and the JSON")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    std::vector<int> input(300);
    for (int i = 0; i < 300; ++i) {
        input[static_cast<std::size_t>(i)] = i;
    }
    auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 25) |
             sturdy::guarded([&](int v) {
                 if (v % 2 == 1) {
                     throw std::runtime_error("partner has no address");
                 }
                 if (v % 100 == 0) {
                     throw std::runtime_error("amount overflow");
                 }
             }) |
             sturdy::drain;
    CHECK(r.failed == 153);
    const auto text = fmt::format("{}", r);
    CHECK(text.ends_with("\n  failed 3 items (keys 0, 100, 200): amount overflow"
                         "\n  failed 150 items (keys 1, 3, 5 and 147 more): partner has no address"));
    CHECK(text.find("failed 7") == std::string::npos);
    CHECK(r.json().find(R"({"reason":"partner has no address","count":150,"keys":["1","3","5"],)") !=
          std::string::npos);
}

TEST_CASE("keys print with fmt, format specifications included")
{
    CHECK(fmt::format("{}", sturdy::key(5)) == "5");
    CHECK(fmt::format("[{:>6}]", sturdy::key("ab")) == "[    ab]");
    CHECK(fmt::format("{:.2}", sturdy::key(12345)) == "12");
}

TEST_CASE("progress, failure and summary lines, word for word")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    sturdy::manual_clock clock;
    test::captured_log log;
    std::vector<int> input(137);
    for (int i = 0; i < 137; ++i) {
        input[static_cast<std::size_t>(i)] = i;
    }
    auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 9) |
             sturdy::guarded([&](int v) {
                 clock.advance(3ms + std::chrono::microseconds(v * 17));
                 if (v % 10 == 0) {
                     throw std::runtime_error("no address");
                 }
                 if (v == 7) {
                     throw sturdy::transient_error("busy");
                 }
             }) |
             sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::logged_every(10, log.sink()) |
             sturdy::with_clock(clock) | sturdy::drain;
    CHECK(r.failed == 15);
    const std::vector<std::string> expected_start = {
        "failed 0: no address",
        "failed 7: busy (after 3 attempts)",
        "failed 10: no address",
        "progress 18/137 (13.1%): done 15, skipped 0, failed 3, retried 2 | 213 items/s, ETA 558ms",
        "failed 20: no address",
        "progress 27/137 (19.7%): done 23, skipped 0, failed 4, retried 2 | 223 items/s, ETA 494ms",
    };
    REQUIRE(log.lines.size() > expected_start.size());
    CHECK(std::vector<std::string>(log.lines.begin(), log.lines.begin() + 6) == expected_start);
    CHECK(log.lines[log.lines.size() - 3] ==
          "progress 135/137 (98.5%): done 120, skipped 0, failed 15, retried 2 | 174 items/s, ETA 11ms");
    CHECK(log.lines[log.lines.size() - 2] == "... and 11 more like this: no address");
    CHECK(log.lines.back() == "finished: seen 137, done 122, skipped 0 (already done), failed 15, retried 2, "
                              "in 785ms\n  run again soon: 0 remaining, 15 failed awaiting retry\n"
                              "  failed 14 items (keys 0, 10, 20 and 11 more): no address\n"
                              "  failed 7: busy (after 3 attempts)");
}
