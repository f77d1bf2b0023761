#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <numeric>
#include <ranges>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace {
struct sub {
    int id;
    std::string period;
};
} // namespace

TEST_CASE("idempotent_by skips keys already marked and marks the rest with their effect")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("invoice");
    auto& out = db.table("invoice");
    db.begin();
    ledger.mark(sturdy::make_key(std::tuple(2, "2026-10")));
    db.commit();

    std::vector<sub> input{{1, "2026-10"}, {2, "2026-10"}, {2, "2026-11"}, {1, "2026-10"}};
    auto r = input | sturdy::idempotent_by(ledger, [](const sub& s) { return std::tuple(s.id, s.period); }) |
             sturdy::chunked(db, 10) |
             sturdy::guarded([&](const sub& s) { out.insert(sturdy::make_key(std::tuple(s.id, s.period)), "x"); }) |
             sturdy::drain;
    CHECK(r.seen == 4);
    CHECK(r.done == 2);
    CHECK(r.skipped == 2); // one from an earlier run, one a duplicate within this run
    CHECK(ledger.contains(sturdy::key("1/2026-10")));
    CHECK(ledger.contains(sturdy::key("2/2026-11")));
    CHECK(out.size() == 2);
}

TEST_CASE("the mark and the effect commit or vanish together")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    const std::vector<int> input{1, 2, 3};
    const auto key_of = [](int v) { return v; };
    // The effect writes, then fails for 2: its mark must not survive.
    const auto effect = [&](int v) {
        out.put(v, "written");
        if (v == 2) {
            throw std::runtime_error("downstream refused");
        }
    };
    sturdy::report r;
    SECTION("in the chunk's transaction, the key claimed before the effect is rolled back with it")
    {
        r = input | sturdy::idempotent_by(ledger, key_of) | sturdy::chunked(db, 3) | sturdy::guarded(effect) |
            sturdy::drain;
        CHECK_FALSE(out.contains(2));
    }
    SECTION("without a store to roll back (no chunked(tx, n), no guarded(tx, fn)), the key is marked only after "
            "the effect succeeded")
    {
        r = input | sturdy::idempotent_by(ledger, key_of) | sturdy::guarded(effect) | sturdy::drain;
    }
    CHECK(r.done == 2);
    CHECK(r.failed == 1);
    CHECK_FALSE(ledger.contains(2));
    CHECK(ledger.contains(1));
    CHECK(ledger.contains(3));
}

TEST_CASE("a ledger's claim marks a key once, and a rollback takes the claim back")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    db.begin();
    CHECK(ledger.claim(7));
    CHECK_FALSE(ledger.claim(7));
    {
        auto sp = db.savepoint();
        CHECK(ledger.claim(8));
        sp.rollback();
    }
    CHECK_FALSE(ledger.contains(8));
    CHECK(ledger.claim(8));
    db.commit();
    CHECK(ledger.size() == 2);
}

TEST_CASE("a key function that throws fails that item with the reason, nothing is marked, and the next run tries "
          "it again")
{
    const auto mode = GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_item);
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    int effects = 0;
    int key_calls_for_2 = 0;
    bool period_known = false;
    auto run = [&] {
        return std::vector<int>{1, 2, 3} |
               sturdy::idempotent_by(ledger,
                                     [&](int v) {
                                         if (v == 2) {
                                             ++key_calls_for_2;
                                             if (!period_known) {
                                                 throw std::invalid_argument("no period for subscription 2");
                                             }
                                         }
                                         return v;
                                     }) |
               sturdy::chunked(db, 10) |
               sturdy::guarded(
                   [&](int v) {
                       ++effects;
                       out.put(v, "x");
                   },
                   mode) |
               sturdy::drain;
    };
    const auto r = run();
    CHECK(effects == 2);
    CHECK(r.done == 2);
    CHECK(r.failed == 1);
    CHECK(r.awaiting_retry == 1); // the next run reads it again and calls the key function again
    CHECK(r.run_again_soon());
    REQUIRE(r.failures.size() == 1);
    CHECK(r.failures[0].reason == "key function threw: no period for subscription 2 (item #1)");
    CHECK(ledger.size() == 2);
    CHECK(ledger.failures().empty()); // no key, no failure record
    CHECK(key_calls_for_2 == 1);

    period_known = true;
    const auto again = run();
    CHECK(again.done == 1);
    CHECK(again.skipped == 2);
    CHECK_FALSE(again.run_again_soon());
    CHECK(key_calls_for_2 == 2);
    CHECK(ledger.size() == 3);
}

TEST_CASE("a key failure and a neighbour's failure in one chunk are each reported once, with their reasons")
{
    // Under per_chunk, item 14's failure rolls back the second chunk's fast attempt and runs the
    // chunk again, for single-pass inputs too.
    auto run = [](auto&& input, std::map<int, int>& key_calls) {
        sturdy::memory::database db;
        auto ledger = db.ledger("job");
        auto& out = db.table("out");
        auto r = std::forward<decltype(input)>(input) |
                 sturdy::idempotent_by(ledger,
                                       [&](int v) {
                                           ++key_calls[v];
                                           if (v == 12) {
                                               throw std::invalid_argument("no key for 12");
                                           }
                                           return v;
                                       }) |
                 sturdy::chunked(db, 10) | sturdy::guarded([&](int v) {
                     out.put(v, "x");
                     if (v == 14) {
                         throw sturdy::permanent_error("poison");
                     }
                 }) |
                 sturdy::drain;
        CHECK(r.done == 18);
        CHECK(r.failed == 2);
        REQUIRE(r.failures.size() == 2);
        CHECK(r.failures[0].reason == "key function threw: no key for 12 (item #12)");
        CHECK(r.failures[1].item_key == sturdy::key(14));
        CHECK(r.failures[1].reason == "poison");
        CHECK(ledger.size() == 18);
        CHECK(out.size() == 18);
    };
    SECTION("a vector")
    {
        std::map<int, int> key_calls;
        std::vector<int> items(20);
        std::iota(items.begin(), items.end(), 0);
        run(items, key_calls);
    }
    SECTION("a single-pass stream")
    {
        std::map<int, int> key_calls;
        std::istringstream text("0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19");
        run(std::views::istream<int>(text), key_calls);
    }
}

TEST_CASE("the key function runs once per item read: once more for the items a careful re-run reads again")
{
    // docs/architecture.md, step 3, and view/idempotent_by.hpp: under per_chunk, item 14's failure
    // abandons the second chunk's fast attempt (which read 10..14) and the careful path reads the
    // whole chunk again; per_item never re-runs anything.
    const auto mode = GENERATE(sturdy::isolation::per_chunk, sturdy::isolation::per_item);
    auto run = [&](auto&& input) {
        sturdy::memory::database db;
        auto ledger = db.ledger("job");
        auto& out = db.table("out");
        std::map<int, int> key_calls;
        const auto r = std::forward<decltype(input)>(input) |
                       sturdy::idempotent_by(ledger,
                                             [&](int v) {
                                                 ++key_calls[v];
                                                 return v;
                                             }) |
                       sturdy::chunked(db, 10) |
                       sturdy::guarded(
                           [&](int v) {
                               out.put(v, "x");
                               if (v == 14) {
                                   throw sturdy::permanent_error("poison");
                               }
                           },
                           mode) |
                       sturdy::drain;
        CHECK(r.done == 19);
        CHECK(r.failed == 1);
        for (int v = 0; v < 20; ++v) {
            INFO("item " << v);
            const bool read_again = mode == sturdy::isolation::per_chunk && v >= 10 && v <= 14;
            CHECK(key_calls[v] == (read_again ? 2 : 1));
        }
    };
    SECTION("a vector")
    {
        std::vector<int> items(20);
        std::iota(items.begin(), items.end(), 0);
        run(items);
    }
    SECTION("a single-pass stream")
    {
        std::istringstream text("0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19");
        run(std::views::istream<int>(text));
    }
}

TEST_CASE("keys: integers stay integers, strings and tuples become text")
{
    CHECK(sturdy::make_key(42).is_integer());
    CHECK(sturdy::make_key(42).integer() == 42);
    CHECK(sturdy::make_key(std::string("a")).text() == "a");
    CHECK(sturdy::make_key(std::tuple(7, "2026-01", 3)).str() == "7/2026-01/3");
    CHECK(sturdy::make_key(std::pair(std::string("x"), 1L)).str() == "x/1");
    STATIC_REQUIRE(sturdy::key_like<int>);
    STATIC_REQUIRE(sturdy::key_like<std::string_view>);
    STATIC_REQUIRE_FALSE(sturdy::key_like<double>);
    STATIC_REQUIRE_FALSE(sturdy::key_like<bool>);
    STATIC_REQUIRE_FALSE(sturdy::key_like<std::vector<int>>);
}

TEST_CASE("keys copy, move, compare and hash by kind and value")
{
    const sturdy::key i(5);
    const sturdy::key t("a long text key, longer than the small string buffer");
    sturdy::key k = i;
    CHECK(k == i);
    k = t; // integer -> text
    CHECK(k == t);
    CHECK(k.text() == t.text());
    k = sturdy::key("short"); // text -> text
    CHECK(k.str() == "short");
    k = sturdy::key(-3); // text -> integer
    CHECK(k.is_integer());
    CHECK(k.integer() == -3);
    sturdy::key moved = std::move(k);
    CHECK(moved.integer() == -3);
    sturdy::key from_text = sturdy::key(t);
    sturdy::key stolen = std::move(from_text);
    CHECK(stolen == t);
    CHECK(sturdy::key() == sturdy::key(0));
    CHECK(sturdy::key(5) != sturdy::key("5"));   // same text, different kinds
    CHECK(sturdy::key(1000) < sturdy::key("0")); // integers order before texts
    CHECK(sturdy::key(-1) < sturdy::key(2));
    CHECK(sturdy::key("a") < sturdy::key("b"));
    CHECK((sturdy::key("b") <=> sturdy::key("b")) == std::strong_ordering::equal);
    CHECK(std::hash<sturdy::key>{}(sturdy::key("x")) == std::hash<sturdy::key>{}(sturdy::key(std::string("x"))));
    CHECK(std::hash<sturdy::key>{}(sturdy::key(7)) == std::hash<std::int64_t>{}(7));
    CHECK_THROWS_AS(sturdy::key("x").integer(), std::bad_variant_access);
    CHECK_THROWS_AS(sturdy::key(1).text(), std::bad_variant_access);
}

TEST_CASE("failed keys are retried by later runs, quarantined after N failed runs, and can be requeued")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    bool poison_fixed = false;
    int poison_attempts = 0;
    auto run = [&] {
        return std::vector<int>{1, 2, 3} |
               sturdy::idempotent_by(
                   ledger, [](int v) { return v; }, sturdy::quarantine_after{3}) |
               sturdy::chunked(db, 10) | sturdy::guarded([&](int v) {
                   if (v == 2) {
                       ++poison_attempts;
                       if (!poison_fixed) {
                           throw sturdy::permanent_error("bad address");
                       }
                   }
                   out.put(v, "x");
               }) |
               sturdy::drain;
    };
    const auto r1 = run();
    CHECK(r1.failed == 1);
    CHECK(r1.awaiting_retry == 1);
    CHECK(r1.quarantined == 0);
    CHECK(r1.run_again_soon());
    run();
    const auto r3 = run();
    CHECK(r3.failed == 1);
    CHECK(r3.quarantined == 1); // quarantined by this, the third failed run
    CHECK(r3.awaiting_retry == 0);
    CHECK_FALSE(r3.run_again_soon());
    REQUIRE(ledger.failures().size() == 1);
    CHECK(ledger.failures()[0].runs == 3);
    CHECK(ledger.failures()[0].quarantined);
    CHECK(ledger.failures()[0].last_reason == "bad address");
    CHECK(poison_attempts == 3);

    const auto r4 = run();
    CHECK(poison_attempts == 3); // not retried any more
    CHECK(r4.quarantined == 1);
    CHECK(r4.skipped == 2);
    CHECK(r4.failed == 0);

    poison_fixed = true;
    CHECK(ledger.requeue(sturdy::key(2)));
    CHECK_FALSE(ledger.requeue(sturdy::key(99)));
    const auto r5 = run();
    CHECK(poison_attempts == 4);
    CHECK(r5.done == 1);
    CHECK(r5.quarantined == 0);
    CHECK(ledger.failures().empty()); // the success cleared the record with its effect
    CHECK(out.size() == 3);
}

TEST_CASE("requeue_all releases every quarantined key")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    db.begin();
    ledger.record_failure(1, "x", 1);
    ledger.record_failure(2, "y", 1);
    ledger.record_failure(3, "z", 5);
    db.commit();
    CHECK(ledger.requeue_all() == 2);
    for (const auto& f : ledger.failures()) {
        CHECK_FALSE(f.quarantined);
    }
}

TEST_CASE("idempotent_by rejects a quarantine threshold below 1")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    CHECK_THROWS_WITH(sturdy::idempotent_by(
                          ledger, [](int v) { return v; }, sturdy::quarantine_after{0}),
                      Catch::Contains("quarantine_after must be at least 1"));
}

namespace {
/// A memory ledger that also claims batches (sturdy::batch_claiming_ledger), counting its calls.
struct batch_ledger {
    sturdy::memory::ledger inner;
    std::size_t batches = 0;
    std::size_t single_claims = 0;

    [[nodiscard]] bool contains(const sturdy::key& k) const { return inner.contains(k); }
    void mark(const sturdy::key& k) { inner.mark(k); }
    bool claim(const sturdy::key& k)
    {
        ++single_claims;
        return inner.claim(k);
    }
    void claim_all(std::span<const sturdy::key> keys, std::vector<bool>& claimed)
    {
        ++batches;
        claimed.clear();
        for (const auto& k : keys) {
            claimed.push_back(inner.claim(k));
        }
    }
};
static_assert(sturdy::batch_claiming_ledger<batch_ledger>);
} // namespace

TEST_CASE("a batch-claiming ledger claims a chunk's or a segment's keys at once, with the same outcome as per-item "
          "claims")
{
    sturdy::memory::database db;
    batch_ledger ledger{db.ledger("job")};
    auto& out = db.table("out");
    ledger.inner.mark(4); // done by an earlier run
    const bool single_pass = GENERATE(false, true);
    CAPTURE(single_pass);
    auto run = [&](int poison) {
        auto effect = [&](int v) {
            out.insert(v, "");
            if (v == poison) {
                throw sturdy::permanent_error("poison");
            }
        };
        auto keyed = [](int v) { return v; };
        if (single_pass) {
            std::istringstream text("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 3");
            return std::views::istream<int>(text) | sturdy::idempotent_by(ledger, keyed) | sturdy::chunked(db, 10) |
                   sturdy::guarded(effect) | sturdy::drain;
        }
        std::vector<int> input{1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                               14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 3};
        return input | sturdy::idempotent_by(ledger, keyed) | sturdy::chunked(db, 10) | sturdy::guarded(effect) |
               sturdy::drain;
    };

    SECTION("nothing fails: one claim per chunk, none per item")
    {
        const auto r = run(0);
        CHECK(r.done == 24);
        CHECK(r.skipped == 2); // 4, marked before, and 3, claimed by its first occurrence
        CHECK(r.chunks == 3);
        CHECK(ledger.batches == 3);
        CHECK(ledger.single_claims == 0);
        CHECK(out.size() == 24);
        CHECK(ledger.inner.size() == 25);
    }
    SECTION("an item fails: its chunk's claims are rolled back, and the careful path claims per segment")
    {
        const auto r = run(13);
        CHECK(r.done == 23);
        CHECK(r.failed == 1);
        CHECK(r.skipped == 2);
        CHECK(ledger.batches >= 4); // 3 fast attempts, and the careful path's segments
        CHECK(ledger.single_claims == 0);
        CHECK(out.size() == 23);
        CHECK_FALSE(out.contains(13));
        CHECK_FALSE(ledger.contains(13));
        CHECK(ledger.inner.size() == 24);
        const auto again = run(13);
        CHECK(again.done == 0);
        CHECK(again.failed == 1);
        CHECK(again.skipped == 25);
    }
}

TEST_CASE("with a batch-claiming ledger too, a throwing key function's failures are the items' own: they fail, and "
          "do not spend the failure budget")
{
    const bool single_pass = GENERATE(false, true);
    CAPTURE(single_pass);
    sturdy::memory::database db;
    batch_ledger ledger{db.ledger("job")};
    auto& out = db.table("out");
    std::map<int, int> key_calls;
    auto keyed = [&](int v) {
        ++key_calls[v];
        if (v == 12 || v >= 30) {
            throw std::invalid_argument("no key for " + std::to_string(v));
        }
        return v;
    };
    auto effect = [&](int v) {
        out.insert(v, "");
        if (v == 14) {
            throw sturdy::permanent_error("poison");
        }
    };
    std::string text;
    for (int v = 0; v < 40; ++v) {
        text += std::to_string(v) + " ";
    }
    std::istringstream stream(text);
    std::vector<int> items(40);
    std::iota(items.begin(), items.end(), 0);
    const auto r = single_pass ? std::views::istream<int>(stream) | sturdy::idempotent_by(ledger, keyed) |
                                     sturdy::chunked(db, 10) | sturdy::guarded(effect) | sturdy::failure_budget(5) |
                                     sturdy::drain
                               : items | sturdy::idempotent_by(ledger, keyed) | sturdy::chunked(db, 10) |
                                     sturdy::guarded(effect) | sturdy::failure_budget(5) | sturdy::drain;
    CHECK(r.done == 28);     // 0..29 but 12 and 14
    CHECK(r.failed == 12);   // 12 and 30..39 (no key), 14
    CHECK(r.remaining == 0); // ten in a row, none of them an outage
    CHECK(r.stopped_early.empty());
    CHECK(ledger.single_claims == 0);
    CHECK(out.size() == 28);
}
