// spdlog_sink with real spdlog loggers: levels mapped, the progress log's lines as messages
// (folded failures included), the logger's own level filtering them.
#include "../support.hpp"

#include <sturdy/sink/spdlog.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {
// 130 items in chunks of 10, 10ms per attempt (a chunk with a failure runs again, isolating it):
// 13 fail with one reason, one with another.
sturdy::report run(const sturdy::spdlog_sink& sink)
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    sturdy::manual_clock clock;
    return test::range_of(130) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
           sturdy::guarded([&](int v) {
               clock.advance(10ms);
               if (v % 10 == 0) {
                   throw std::runtime_error("partner has no address");
               }
               if (v == 7) {
                   throw std::runtime_error("amount overflow");
               }
           }) |
           sturdy::logged_every(50, sink) | sturdy::with_clock(clock) | sturdy::drain;
}
} // namespace

TEST_CASE("sturdy's levels are spdlog's info, warn and err")
{
    CHECK(sturdy::to_spdlog_level(sturdy::level::info) == spdlog::level::info);
    CHECK(sturdy::to_spdlog_level(sturdy::level::warning) == spdlog::level::warn);
    CHECK(sturdy::to_spdlog_level(sturdy::level::error) == spdlog::level::err);
}

TEST_CASE("each line of the progress log is one spdlog message at its level, folded failures included")
{
    auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
    ring->set_pattern("%l|%v");
    auto logger = std::make_shared<spdlog::logger>("sturdy-test", ring);
    logger->set_level(spdlog::level::trace);
    const auto r = run(sturdy::spdlog_sink(logger));
    CHECK(r.failed == 14);
    const std::vector<std::string> lines = ring->last_formatted();
    const std::vector<std::string> expected = {
        "warning|failed 0: partner has no address\n",
        "warning|failed 7: amount overflow\n",
        "warning|failed 10: partner has no address\n",
        "warning|failed 20: partner has no address\n",
        "info|progress 50/130 (38.5%): done 44, skipped 0, failed 6, retried 0 | 89 items/s, ETA 896ms\n",
        "info|progress 100/130 (76.9%): done 89, skipped 0, failed 11, retried 0 | 94 items/s, ETA 318ms\n",
        "warning|... and 10 more like this: partner has no address\n",
        "warning|finished: seen 130, done 116, skipped 0 (already done), failed 14, retried 0, in 1.4s\n"
        "  run again soon: 0 remaining, 14 failed awaiting retry\n"
        "  failed 13 items (keys 0, 10, 20 and 10 more): partner has no address\n"
        "  failed 7: amount overflow\n",
    };
    CHECK(lines == expected);
}

TEST_CASE("the logger's level filters the lines, and an ostream sink gets the same text")
{
    std::ostringstream out;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    sink->set_pattern("[%n] %L %v");
    auto logger = std::make_shared<spdlog::logger>("billing", sink);
    logger->set_level(spdlog::level::warn); // progress lines (info) are dropped
    run(sturdy::spdlog_sink(logger));
    const std::string text = out.str();
    CHECK(text.find("progress") == std::string::npos);
    CHECK(text.starts_with("[billing] W failed 0: partner has no address\n"));
    CHECK(text.find("[billing] W ... and 10 more like this: partner has no address\n") != std::string::npos);
    CHECK(text.find("[billing] W finished: seen 130") != std::string::npos);
}

TEST_CASE("the default logger, and a clear error for a logger spdlog::get did not find")
{
    auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10);
    ring->set_pattern("%l|%v");
    const auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("default-test", ring));
    sturdy::spdlog_sink()(sturdy::level::error, "to the default logger");
    spdlog::set_default_logger(previous);
    CHECK(ring->last_formatted() == std::vector<std::string>{"error|to the default logger\n"});

    CHECK_THROWS_WITH(sturdy::spdlog_sink(spdlog::get("no such logger")),
                      Catch::Contains("sturdy::spdlog_sink: the logger is null"));
}
