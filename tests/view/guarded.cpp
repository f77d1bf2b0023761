#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <boost/outcome/outcome.hpp>
#include <boost/outcome/result.hpp>
#include <boost/outcome/std_outcome.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <exception>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using test::range_of;

TEST_CASE("guarded rolls back every partial write of a failing item and goes on")
{
    sturdy::memory::database db;
    auto& a = db.table("a");
    auto& b = db.table("b");
    auto r = range_of(10) | sturdy::chunked(db, 10) | sturdy::guarded([&](int v) {
                 a.put(v, "first write");
                 b.put(v, "second write");
                 if (v % 4 == 1) {
                     throw std::runtime_error("item " + std::to_string(v) + " refused");
                 }
                 a.put(v, "overwritten");
             }) |
             sturdy::drain;
    CHECK(r.done == 7);
    CHECK(r.failed == 3);
    for (int v : {1, 5, 9}) {
        CHECK_FALSE(a.contains(v));
        CHECK_FALSE(b.contains(v));
    }
    CHECK(a.get(0) == "overwritten");
    CHECK(r.failures[1].reason == "item 5 refused");
    CHECK(db.open_savepoints() == 0);
}

TEST_CASE("an effect may report failure by returning an error instead of throwing")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    auto by_code = range_of(4) | sturdy::chunked(db, 4) | sturdy::guarded([&](int v) -> std::error_code {
                       out.put(v, "x");
                       return v == 2 ? std::make_error_code(std::errc::permission_denied) : std::error_code{};
                   }) |
                   sturdy::drain;
    CHECK(by_code.failed == 1);
    CHECK_FALSE(out.contains(2));
    CHECK(by_code.failures[0].reason == std::make_error_code(std::errc::permission_denied).message());

    auto by_result =
        range_of(4) | sturdy::chunked(db, 4) | sturdy::guarded([&](int v) -> sturdy::result<void> {
            if (v == 3) {
                return sturdy::error{sturdy::make_error_code(sturdy::errc::permanent), "customer 3 is closed"};
            }
            return boost::outcome_v2::success();
        }) |
        sturdy::drain;
    CHECK(by_result.failed == 1);
    CHECK(by_result.failures[0].reason == "customer 3 is closed");
}

namespace outcome_test {
/// An error type of the user's own, made an error code by make_error_code, found by ADL.
enum class crm_refusal { closed_account = 1 };
struct crm_category_t : std::error_category {
    [[nodiscard]] const char* name() const noexcept override { return "crm"; }
    [[nodiscard]] std::string message(int) const override { return "the CRM refused: account closed"; }
};
std::error_code make_error_code(crm_refusal e)
{
    static const crm_category_t category;
    return {static_cast<int>(e), category};
}

/// Runs `effect` over 0..3 in one chunk, item 2 failing: the report.
template <class Effect> sturdy::report run_with_item_2_failing(Effect effect)
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    return range_of(4) | sturdy::chunked(db, 4) | sturdy::guarded([&](int v) {
               out.put(v, "x");
               return effect(v);
           }) |
           sturdy::drain;
}
} // namespace outcome_test

TEST_CASE("an effect may return any Boost.Outcome result or outcome, Boost or std flavour")
{
    using namespace outcome_test;
    namespace outcome = boost::outcome_v2;
    const std::string denied = std::make_error_code(std::errc::permission_denied).message();
    auto check_item_2_failed = [](const sturdy::report& r, const std::string& reason) {
        CHECK(r.done == 3);
        CHECK(r.failed == 1);
        REQUIRE(r.failures.size() == 1);
        CHECK(r.failures[0].item_key == sturdy::key(2));
        CHECK(r.failures[0].reason == reason);
    };
    SECTION("boost::outcome_v2::result<void>: a boost::system::error_code")
    {
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::result<void> {
                                if (v == 2) {
                                    return boost::system::errc::make_error_code(boost::system::errc::permission_denied);
                                }
                                return outcome::success();
                            }),
                            denied);
    }
    SECTION("boost::outcome_v2::result<int>")
    {
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::result<int> {
                                if (v == 2) {
                                    return boost::system::errc::make_error_code(boost::system::errc::permission_denied);
                                }
                                return v * 10;
                            }),
                            denied);
    }
    SECTION("boost::outcome_v2::outcome<void>: an error code or an exception")
    {
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::outcome<void> {
                                if (v == 2) {
                                    return boost::system::errc::make_error_code(boost::system::errc::permission_denied);
                                }
                                return outcome::success();
                            }),
                            denied);
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::outcome<int> {
                                if (v == 2) {
                                    return boost::copy_exception(std::runtime_error("customer 2 is closed"));
                                }
                                return v;
                            }),
                            "customer 2 is closed");
    }
    SECTION("std flavour: std_result, std_outcome with an exception")
    {
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::std_result<void> {
                                if (v == 2) {
                                    return std::make_error_code(std::errc::permission_denied);
                                }
                                return outcome::success();
                            }),
                            denied);
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::std_outcome<int> {
                                if (v == 2) {
                                    return std::make_exception_ptr(sturdy::permanent_error("customer 2 is closed"));
                                }
                                return v;
                            }),
                            "customer 2 is closed");
    }
    SECTION("an error type of the user's own, through make_error_code found by ADL")
    {
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::std_result<void, crm_refusal> {
                                if (v == 2) {
                                    return crm_refusal::closed_account;
                                }
                                return outcome::success();
                            }),
                            "the CRM refused: account closed");
    }
    SECTION("a std::exception_ptr error")
    {
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::std_result<void, std::exception_ptr> {
                                if (v == 2) {
                                    return std::make_exception_ptr(std::runtime_error("customer 2 is closed"));
                                }
                                return outcome::success();
                            }),
                            "customer 2 is closed");
        check_item_2_failed(run_with_item_2_failing([](int v) -> outcome::std_result<void, std::exception_ptr> {
                                if (v == 2) {
                                    return std::exception_ptr{};
                                }
                                return outcome::success();
                            }),
                            "the effect returned an error holding no exception");
    }
}

TEST_CASE("an exception carried by an outcome is classified as if thrown: a transient_error is retried")
{
    sturdy::memory::database db;
    sturdy::manual_clock clock;
    int attempts = 0;
    auto r = range_of(1) | sturdy::chunked(db, 1) | sturdy::guarded([&](int) -> boost::outcome_v2::std_outcome<void> {
                 if (++attempts < 3) {
                     return std::make_exception_ptr(sturdy::transient_error("503"));
                 }
                 return boost::outcome_v2::success();
             }) |
             sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::with_clock(clock) | sturdy::drain;
    CHECK(r.done == 1);
    CHECK(r.retried == 2);
    CHECK(attempts == 3);
}

TEST_CASE("the effect receives a stable idempotency key and its attempt number")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("crm_push");
    sturdy::manual_clock clock;
    std::vector<std::string> sent;
    std::vector<int> attempts;
    auto r = std::vector<int>{7} | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 1) |
             sturdy::guarded([&](int, const sturdy::item_context& ctx) {
                 sent.push_back(ctx.idempotency);
                 attempts.push_back(ctx.attempt);
                 if (ctx.attempt < 3) {
                     throw sturdy::transient_error("503");
                 }
             }) |
             sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::with_clock(clock) | sturdy::drain;
    CHECK(r.done == 1);
    CHECK(sent == std::vector<std::string>{"crm_push:7", "crm_push:7", "crm_push:7"});
    CHECK(attempts == std::vector<int>{1, 2, 3});
}

TEST_CASE("the fast path and the failure path commit identical results")
{
    // Same input and same failures, once with a savepoint per item (nothing re-run), once with
    // shared savepoints and re-runs around failures: the committed stores must be equal.
    auto run = [](sturdy::isolation mode, std::size_t& savepoints) {
        sturdy::memory::database db;
        auto ledger = db.ledger("job");
        auto& out = db.table("out");
        auto& log = db.table("log");
        std::mt19937 pick(42);
        std::set<int> poison;
        for (int i = 0; i < 60; ++i) {
            poison.insert(static_cast<int>(pick() % 1000));
        }
        auto r = range_of(1000) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 100) |
                 sturdy::guarded(
                     [&](int v) {
                         out.put(v, std::to_string(v * 2));
                         log.put(v, "touched");
                         if (poison.contains(v)) {
                             throw sturdy::permanent_error("poison " + std::to_string(v));
                         }
                     },
                     mode) |
                 sturdy::drain;
        savepoints = db.savepoints_taken();
        return std::tuple(r.done, r.failed, db.snapshot());
    };
    std::size_t per_item_savepoints = 0;
    std::size_t per_chunk_savepoints = 0;
    const auto per_item = run(sturdy::isolation::per_item, per_item_savepoints);
    const auto per_chunk = run(sturdy::isolation::per_chunk, per_chunk_savepoints);
    CHECK(std::get<0>(per_item) + std::get<1>(per_item) == 1000);
    CHECK(per_item == per_chunk);
    CHECK(per_item_savepoints == 1000);
    CHECK(per_chunk_savepoints < 400); // shared savepoints: the point of the fast path
}

TEST_CASE("with no failures, the fast path takes no savepoint: the chunk's own scope is all-or-nothing")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    SECTION("commit: one transaction per chunk, nothing else")
    {
        auto r = range_of(1000) | sturdy::chunked(db, 100) | sturdy::guarded([&](int v) { out.put(v, "x"); }) |
                 sturdy::drain;
        CHECK(r.done == 1000);
        CHECK(db.savepoints_taken() == 0);
        CHECK(out.size() == 1000);
    }
    SECTION("no_commit: each chunk is one savepoint of the caller's transaction")
    {
        db.begin();
        auto r = range_of(1000) | sturdy::chunked<sturdy::no_commit>(db, 100) |
                 sturdy::guarded([&](int v) { out.put(v, "x"); }) | sturdy::drain;
        CHECK(r.done == 1000);
        CHECK(db.savepoints_taken() == 10);
        CHECK(out.size() == 1000);
        db.rollback();
        CHECK(out.size() == 0);
    }
}

TEST_CASE("a failure on the fast path abandons the chunk's scope: under no_commit, only that chunk's savepoint")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    out.put(-1, "the caller's row, written before the loop");
    db.begin();
    auto r = range_of(30) | sturdy::chunked<sturdy::no_commit>(db, 10) | sturdy::guarded([&](int v) {
                 out.put(v, "x");
                 if (v == 14) {
                     throw std::runtime_error("poison");
                 }
             }) |
             sturdy::drain;
    CHECK(r.done == 29);
    CHECK(r.failed == 1);
    CHECK(out.size() == 30); // the caller's row and 29 items; item 14's row was rolled back
    CHECK_FALSE(out.get(14).has_value());
    CHECK(db.in_transaction());
    db.rollback();
    CHECK(out.size() == 1);
}

TEST_CASE("per_item never runs an effect twice; per_chunk re-runs only the failing item's neighbours before it")
{
    // What the README promises effects that reach outside the store.
    auto calls_per_item = [](sturdy::isolation mode) {
        sturdy::memory::database db;
        auto& out = db.table("out");
        std::vector<int> calls(20, 0);
        auto r = range_of(20) | sturdy::chunked(db, 10) |
                 sturdy::guarded(
                     [&](int v) {
                         ++calls[static_cast<std::size_t>(v)];
                         out.put(v, "x");
                         if (v == 14) {
                             throw sturdy::permanent_error("poison");
                         }
                     },
                     mode) |
                 sturdy::drain;
        CHECK(r.done == 19);
        CHECK(r.failed == 1);
        CHECK(out.size() == 19);
        return calls;
    };
    CHECK(calls_per_item(sturdy::isolation::per_item) == std::vector<int>(20, 1));
    // The second chunk's fast attempt ran 10..14 and was rolled back; its careful re-run runs
    // 10..13 again, and 14 (already failed for good) not at all.
    const std::vector<int> per_chunk{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1};
    CHECK(calls_per_item(sturdy::isolation::per_chunk) == per_chunk);
}

TEST_CASE("after a failed fast attempt the next chunk runs in segments: a failure there re-runs at most 31 items")
{
    // Chunks of 256; item 100 fails in the first chunk (its fast attempt is abandoned) and item
    // 456 in the second. Run on the fast path, the second chunk would re-run its 200 items before
    // 456; on the careful path only those before it in its segment (of at most 32) run twice.
    sturdy::memory::database db;
    auto& out = db.table("out");
    std::vector<int> calls(768, 0);
    auto r = range_of(768) | sturdy::chunked(db, 256) | sturdy::guarded([&](int v) {
                 ++calls[static_cast<std::size_t>(v)];
                 out.put(v, "x");
                 if (v == 100 || v == 456) {
                     throw sturdy::permanent_error("poison");
                 }
             }) |
             sturdy::drain;
    CHECK(r.done == 766);
    CHECK(r.failed == 2);
    const auto twice = std::count(calls.begin() + 256, calls.begin() + 512, 2);
    CHECK(twice > 0);
    CHECK(twice <= 31);
    CHECK(std::count(calls.begin() + 512, calls.end(), 1) == 256); // the third chunk: each item once
}

TEST_CASE("after a rare failure the fast path comes back: later clean chunks take no savepoint")
{
    auto savepoints = [](int n) {
        sturdy::memory::database db;
        auto& out = db.table("out");
        auto r = range_of(n) | sturdy::chunked(db, 10) | sturdy::guarded([&](int v) {
                     out.put(v, "x");
                     if (v == 5) {
                         throw sturdy::permanent_error("poison");
                     }
                 }) |
                 sturdy::drain;
        CHECK(r.failed == 1);
        return db.savepoints_taken();
    };
    CHECK(savepoints(100) > 0);
    CHECK(savepoints(1000) == savepoints(100));
}

TEST_CASE("a fatal failure (no item can succeed) stops the run at once and records nothing")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    auto r = range_of(50) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
             sturdy::guarded([&](int v) {
                 if (v >= 23) {
                     throw sturdy::failure_error(sturdy::make_error_code(sturdy::errc::schema_mismatch),
                                                 "no such table: invoice_line");
                 }
                 out.put(v, "x");
             }) |
             sturdy::drain;
    CHECK(r.done == 23);
    CHECK(r.failed == 0);
    CHECK(r.remaining == 27);
    CHECK(r.stopped_early == "stopped: no such table: invoice_line (no item can succeed until this is fixed)");
    CHECK(ledger.failures().empty()); // nothing counts toward quarantine
    CHECK(out.size() == 23);
    CHECK_FALSE(db.in_transaction());
}
