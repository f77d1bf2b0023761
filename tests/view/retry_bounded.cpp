#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;

namespace {
struct http_timeout : std::runtime_error {
    using std::runtime_error::runtime_error;
};
} // namespace

TEST_CASE("transient failures are retried with capped exponential backoff through the injected clock")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    sturdy::manual_clock clock;
    std::map<int, int> calls;
    auto r = std::vector<int>{1, 2, 3} | sturdy::chunked(db, 3) | sturdy::guarded([&](int v) {
                 out.put(v, "partial");
                 if (v == 2 && ++calls[v] < 5) {
                     throw sturdy::transient_error("database is busy");
                 }
                 out.put(v, "done");
             }) |
             sturdy::retry_bounded(6, sturdy::backoff::exponential(100ms, 500ms, 0.0)) | sturdy::with_clock(clock) |
             sturdy::drain;
    CHECK(r.done == 3);
    CHECK(r.failed == 0);
    CHECK(r.retried == 4);
    CHECK(calls[2] == 5);
    CHECK(clock.sleeps == std::vector<sturdy::duration>{100ms, 200ms, 400ms, 500ms});
    CHECK(out.get(2) == "done");
}

TEST_CASE("jitter keeps each delay within [d * (1 - jitter), d]")
{
    const auto b = sturdy::backoff::exponential(100ms, 10s, 0.5);
    for (int attempt = 1; attempt < 8; ++attempt) {
        const auto full = 100ms * (1 << (attempt - 1));
        for (double u : {0.0, 0.3, 0.999}) {
            const auto d = b.delay(attempt, u);
            CHECK(d <= full);
            CHECK(d >= full / 2);
        }
    }
    CHECK(sturdy::backoff::exponential(1s, 5s).delay(40, 0.0) == 5s); // capped, no overflow
}

TEST_CASE("retry_bounded(...).seeded(n) pipes, and the same seed gives the same jittered delays")
{
    auto delays = [](std::uint64_t seed) {
        sturdy::memory::database db;
        sturdy::manual_clock clock;
        std::map<int, int> calls;
        auto r = std::vector<int>{1, 2, 3} | sturdy::chunked(db, 3) | sturdy::guarded([&](int v) {
                     if (++calls[v] < 4) {
                         throw sturdy::transient_error("database is busy");
                     }
                 }) |
                 sturdy::retry_bounded(4, sturdy::backoff::exponential(100ms, 10s, 0.9)).seeded(seed) |
                 sturdy::with_clock(clock) | sturdy::drain;
        CHECK(r.done == 3);
        CHECK(r.retried == 9);
        return clock.sleeps;
    };
    const auto first = delays(42);
    REQUIRE(first.size() == 9);
    CHECK(delays(42) == first);
    CHECK(delays(43) != first);
    // Alone too: .seeded(n).run(work) draws the same delays as the pipeline's first item.
    sturdy::manual_clock clock;
    int calls = 0;
    CHECK(sturdy::retry_bounded(4, sturdy::backoff::exponential(100ms, 10s, 0.9))
              .seeded(42)
              .run(
                  [&] {
                      if (++calls < 4) {
                          throw sturdy::transient_error("busy");
                      }
                      return calls;
                  },
                  clock) == 4);
    CHECK(clock.sleeps == std::vector<sturdy::duration>(first.begin(), first.begin() + 3));
}

TEST_CASE("permanent failures are not retried; exhausted retries are failures with their attempt count")
{
    sturdy::memory::database db;
    sturdy::manual_clock clock;
    int permanent_calls = 0;
    int transient_calls = 0;
    auto r = std::vector<int>{1, 2} | sturdy::chunked(db, 2) | sturdy::guarded([&](int v) {
                 if (v == 1) {
                     ++permanent_calls;
                     throw std::invalid_argument("bad amount");
                 }
                 ++transient_calls;
                 throw sturdy::transient_error("timeout");
             }) |
             sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms, 1s, 0.0)) | sturdy::with_clock(clock) |
             sturdy::drain;
    CHECK(permanent_calls == 1);
    CHECK(transient_calls == 3);
    CHECK(r.failed == 2);
    CHECK(r.retried == 2);
    REQUIRE(r.failures.size() == 2);
    CHECK(r.failures[0].attempts == 1);
    CHECK(r.failures[0].kind == sturdy::failure_kind::permanent);
    CHECK(r.failures[1].attempts == 3);
    CHECK(r.failures[1].kind == sturdy::failure_kind::transient);
    CHECK(clock.sleeps.size() == 2);
}

TEST_CASE("the classification is extensible: exception types, error categories, predicates")
{
    sturdy::memory::database db;
    sturdy::manual_clock clock;
    auto count_attempts = [&](auto classifier, auto thrower) {
        int calls = 0;
        std::vector<int>{1} | sturdy::chunked(db, 1) | sturdy::guarded([&](int) {
            ++calls;
            thrower();
        }) | sturdy::retry_bounded(4, sturdy::backoff::none(), classifier) |
            sturdy::with_clock(clock) | sturdy::drain;
        return calls;
    };
    auto timeout = [] { throw http_timeout("GET /contacts timed out"); };
    CHECK(count_attempts(sturdy::default_classifier{}, timeout) == 1);
    CHECK(count_attempts(sturdy::retry_on<http_timeout>, timeout) == 4);
    CHECK(count_attempts(sturdy::retry_on<std::out_of_range, std::runtime_error>, timeout) == 4);

    auto conn_refused = [] { throw std::system_error(std::make_error_code(std::errc::connection_refused), "crm"); };
    CHECK(count_attempts(sturdy::default_classifier{}, conn_refused) == 1);
    CHECK(count_attempts(sturdy::retry_category(std::generic_category()), conn_refused) == 4);
    CHECK(count_attempts(sturdy::retry_if([](const sturdy::attempt_failure& f) {
                             return f.reason.find("timed out") != std::string::npos;
                         }),
                         timeout) == 4);
    // A classifier can also make a normally transient failure permanent.
    auto never = [](const sturdy::attempt_failure&) -> std::optional<sturdy::failure_kind> {
        return sturdy::failure_kind::permanent;
    };
    CHECK(count_attempts(never, [] { throw sturdy::transient_error("busy"); }) == 1);
}

TEST_CASE("each retry runs in a fresh savepoint: an attempt's writes never leak into the next")
{
    sturdy::memory::database db;
    auto& out = db.table("attempt_rows");
    sturdy::manual_clock clock;
    int attempt = 0;
    std::vector<int>{1} | sturdy::chunked(db, 1) | sturdy::guarded([&](int) {
        ++attempt;
        out.put(attempt, "written by attempt " + std::to_string(attempt));
        if (attempt < 3) {
            throw sturdy::transient_error("busy");
        }
    }) | sturdy::retry_bounded(3, sturdy::backoff::none()) |
        sturdy::with_clock(clock) | sturdy::drain;
    CHECK(out.size() == 1);
    CHECK(out.contains(3));
}

TEST_CASE("retry_bounded alone retries any callable")
{
    sturdy::manual_clock clock;
    int calls = 0;
    const auto value = sturdy::retry_bounded(5, sturdy::backoff::exponential(1s, 1min, 0.0))
                           .run(
                               [&] {
                                   if (++calls < 3) {
                                       throw sturdy::transient_error("flaky");
                                   }
                                   return 42;
                               },
                               clock);
    CHECK(value == 42);
    CHECK(clock.sleeps == std::vector<sturdy::duration>{1s, 2s});
    CHECK_THROWS_AS(
        sturdy::retry_bounded(2, sturdy::backoff::none()).run([]() -> int { throw std::logic_error("bug"); }, clock),
        std::logic_error);
}

TEST_CASE("retry_bounded(...).run follows the pipeline's attempt rule: a fatal error is not retried, and the code "
          "reaches its classifier")
{
    sturdy::manual_clock clock;
    int calls = 0;
    std::error_code seen;
    auto keep_code = [&](const sturdy::attempt_failure& f) -> std::optional<sturdy::failure_kind> {
        seen = f.code;
        return std::nullopt;
    };
    auto fatal = [&]() -> int {
        ++calls;
        throw std::system_error(sturdy::make_error_code(sturdy::errc::schema_mismatch), "table invoice missing");
    };
    CHECK_THROWS_AS(sturdy::retry_bounded(5, sturdy::backoff::none(), keep_code).run(fatal, clock), std::system_error);
    CHECK(calls == 1); // as drain: a fatal error stops at once
    CHECK(seen == sturdy::errc::schema_mismatch);
    CHECK(clock.sleeps.empty());

    calls = 0;
    auto busy = [&] {
        ++calls;
        throw std::system_error(std::make_error_code(std::errc::device_or_resource_busy), "busy");
    };
    CHECK_THROWS_AS(sturdy::retry_bounded(3, sturdy::backoff::none(), sturdy::retry_category(std::generic_category()))
                        .run(busy, clock),
                    std::system_error);
    CHECK(calls == 3); // transient by the classifier: every attempt
}

TEST_CASE("retry_bounded and backoff reject arguments that cannot work")
{
    CHECK_THROWS_WITH(sturdy::retry_bounded(0), Catch::Contains("retry_bounded: attempts must be at least 1 (got 0)"));
    CHECK_THROWS_WITH(sturdy::backoff::exponential(1s, 1ms), Catch::Contains("cap >= base"));
    CHECK_THROWS_WITH(sturdy::backoff::exponential(1ms, 1s, 1.5), Catch::Contains("jitter"));
}
