#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {
struct order {
    int id;
    int amount;
};

std::vector<order> orders(int n)
{
    std::vector<order> out;
    for (int i = 1; i <= n; ++i) {
        out.push_back({i, i * 10});
    }
    return out;
}
} // namespace

TEST_CASE("the full pipeline: a failure mid-chunk costs that item alone, and a second run skips what is done")
{
    sturdy::memory::database db;
    auto& invoices = db.table("invoice");
    auto& lines = db.table("invoice_line");
    auto ledger = db.ledger("invoicing");
    sturdy::manual_clock clock;
    test::captured_log log;
    auto input = orders(25);
    input[12].amount = -1; // poison: fails after writing its invoice row

    auto run = [&] {
        return input | sturdy::idempotent_by(ledger, [](const order& o) { return o.id; }) | sturdy::chunked(db, 10) |
               sturdy::guarded([&](const order& o) {
                   invoices.insert(o.id, std::to_string(o.amount));
                   if (o.amount < 0) {
                       throw sturdy::permanent_error("amount must not be negative");
                   }
                   lines.insert(o.id, "line");
               }) |
               sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::logged_every(10, log.sink()) |
               sturdy::with_clock(clock) | sturdy::drain;
    };

    const auto first = run();
    CHECK(first.seen == 25);
    CHECK(first.done == 24);
    CHECK(first.failed == 1);
    CHECK(first.skipped == 0);
    CHECK(first.chunks == 3);
    REQUIRE(first.failures.size() == 1);
    CHECK(first.failures[0].item_key == sturdy::key(13));
    CHECK(first.failures[0].reason == "amount must not be negative");
    CHECK(invoices.size() == 24);
    CHECK_FALSE(invoices.contains(13)); // its partial write is gone
    CHECK(lines.size() == 24);
    CHECK(ledger.size() == 24);
    CHECK_FALSE(ledger.contains(13));
    CHECK(db.commits() == 3);
    CHECK_FALSE(db.in_transaction());
    CHECK(clock.sleeps.empty()); // a permanent failure is not retried
    CHECK(log.count_starting("failed 13: amount must not be negative") == 1);

    const auto second = run();
    CHECK(second.seen == 25);
    CHECK(second.skipped == 24);
    CHECK(second.done == 0);
    CHECK(second.failed == 1);
    CHECK(invoices.size() == 24);
}

TEST_CASE("the order the adaptors are written in does not change what runs")
{
    auto run = [](bool reversed) {
        sturdy::memory::database db;
        auto& out = db.table("out");
        auto ledger = db.ledger("job");
        sturdy::manual_clock clock;
        std::vector<int> input{1, 2, 3, 4, 5, 6, 7};
        int calls = 0;
        auto effect = [&](int v) {
            ++calls;
            if (v == 4 && calls < 6) {
                throw sturdy::transient_error("busy");
            }
            out.put(v, "x");
        };
        auto key = [](int v) { return v; };
        auto r = reversed
                     ? (input | sturdy::with_clock(clock) | sturdy::logged_every(100, sturdy::discard_sink{}) |
                        sturdy::retry_bounded(5, sturdy::backoff::none()) | sturdy::guarded(effect) |
                        sturdy::chunked(db, 3) | sturdy::idempotent_by(ledger, key) | sturdy::drain)
                     : (input | sturdy::idempotent_by(ledger, key) | sturdy::chunked(db, 3) | sturdy::guarded(effect) |
                        sturdy::retry_bounded(5, sturdy::backoff::none()) |
                        sturdy::logged_every(100, sturdy::discard_sink{}) | sturdy::with_clock(clock) | sturdy::drain);
        return std::tuple(r.json(), db.snapshot());
    };
    auto [json_a, data_a] = run(false);
    auto [json_b, data_b] = run(true);
    CHECK(json_a == json_b);
    CHECK(data_a == data_b);
}

TEST_CASE("the report prints as text and as one line of JSON")
{
    sturdy::report r;
    r.seen = 3;
    r.done = 1;
    r.skipped = 1;
    r.add_failure({sturdy::key("42/2024-05"), "quote \" and\nnewline", sturdy::failure_kind::permanent, 2});
    const auto text = fmt::format("{}", r);
    CHECK(text.find("seen 3, done 1, skipped 1 (already done), failed 1") != std::string::npos);
    CHECK(text.find("failed 42/2024-05: quote \" and\nnewline (after 2 attempts)") != std::string::npos);
    const auto json = r.json();
    CHECK(json.find('\n') == std::string::npos);
    CHECK(json.find(R"("seen":3,"done":1,"skipped":1,"failed":1,"retried":0)") != std::string::npos);
    CHECK(json.find(R"({"reason":"quote \" and\nnewline","count":1,"keys":["42/2024-05"],"max_attempts":2,)"
                    R"("transient":false})") != std::string::npos);
}

TEST_CASE("drain without a store still isolates failures and reports them by position")
{
    std::vector<int> seen;
    auto r = std::vector<int>{1, 2, 3} | sturdy::guarded([&](int v) {
                 if (v == 2) {
                     throw std::runtime_error("two is bad");
                 }
                 seen.push_back(v);
             }) |
             sturdy::drain;
    CHECK(seen == std::vector<int>{1, 3});
    CHECK(r.done == 2);
    CHECK(r.failed == 1);
    REQUIRE(r.failures.size() == 1);
    CHECK(r.failures[0].item_key == sturdy::key(1)); // position in the input, from 0
    CHECK(r.failures[0].reason == "two is bad");
}

TEST_CASE("chunked and guarded given two different stores of one type is refused before anything runs")
{
    sturdy::memory::database a;
    sturdy::memory::database b;
    int effects = 0;
    auto run = [&] {
        return std::vector<int>{1} | sturdy::chunked(a, 1) | sturdy::guarded(b, [&](int) { ++effects; }) |
               sturdy::drain;
    };
    CHECK_THROWS_WITH(run(), Catch::Contains("were given different stores"));
    CHECK(effects == 0);
}
