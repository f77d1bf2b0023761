// Every kind of input a user will pipe into sturdy: containers, std::ranges views (temporaries
// included), range-v3 views, and single-pass ranges.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <range/v3/view/filter.hpp>
#include <range/v3/view/iota.hpp>
#include <range/v3/view/transform.hpp>

#include <catch2/catch.hpp>

#include <list>
#include <map>
#include <memory>
#include <ranges>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {
// Collects what the effect saw and runs the same pipeline for every input kind.
template <class Input> std::vector<int> run(Input&& input, sturdy::report* out = nullptr)
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    std::vector<int> seen;
    auto r = std::forward<Input>(input) | sturdy::idempotent_by(ledger, [](int v) { return v; }) |
             sturdy::chunked(db, 2) | sturdy::guarded([&](int v) { seen.push_back(v); }) | sturdy::drain;
    if (out != nullptr) {
        *out = r;
    }
    return seen;
}

// A single-pass range whose iterator cannot be copied: like a database cursor. Yields 0 .. n-1,
// or with `down`, n .. 1.
class cursor {
public:
    explicit cursor(int n, bool down = false) : n_(n), down_(down) {}
    class iterator {
    public:
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        explicit iterator(cursor* c) : c_(c) {}
        iterator(iterator&&) = default;
        iterator& operator=(iterator&&) = default;
        int operator*() const { return c_->down_ ? c_->n_ - c_->at_ : c_->at_; }
        iterator& operator++()
        {
            ++c_->at_;
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t) const { return c_->at_ >= c_->n_; }

    private:
        cursor* c_;
    };
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() { return {}; }

private:
    int n_;
    bool down_;
    int at_ = 0;
};
static_assert(std::ranges::input_range<cursor>);
static_assert(!std::ranges::forward_range<cursor>);
} // namespace

const std::vector<int> expected{0, 1, 2, 3, 4};

TEST_CASE("containers, by reference and by value")
{
    std::vector<int> v{0, 1, 2, 3, 4};
    CHECK(run(v) == expected);
    CHECK(run(std::vector<int>{0, 1, 2, 3, 4}) == expected);
    const std::list<int> l{0, 1, 2, 3, 4};
    CHECK(run(l) == expected);
}

TEST_CASE("std::ranges views, including temporaries piped straight in")
{
    CHECK(run(std::views::iota(0, 5)) == expected);
    sturdy::memory::database db;
    auto& out = db.table("out");
    // Exactly the line users write.
    auto r = std::views::iota(0, 10) | sturdy::chunked(db, 3) | sturdy::guarded([&](int v) { out.put(v, "x"); }) |
             sturdy::drain;
    CHECK(r.done == 10);
    CHECK(run(std::views::iota(0, 10) | std::views::filter([](int v) { return v < 5; })) == expected);
    std::vector<int> v{0, 1, 2, 3, 4};
    CHECK(run(v | std::views::take(5)) == expected);
}

TEST_CASE("range-v3 views")
{
    CHECK(run(ranges::views::iota(0, 5)) == expected);
    CHECK(run(ranges::views::iota(0, 10) | ranges::views::filter([](int v) { return v % 2 == 0; }) |
              ranges::views::transform([](int v) { return v / 2; })) == expected);
}

TEST_CASE("single-pass ranges: a stream and a cursor with a move-only iterator")
{
    std::istringstream text("0 1 2 3 4");
    CHECK(run(std::views::istream<int>(text)) == expected);
    cursor c(5);
    CHECK(run(c) == expected);
}

TEST_CASE("sized inputs give a total; unsized ones still count what they read")
{
    sturdy::report r;
    run(std::views::iota(0, 5), &r);
    CHECK(r.seen == 5);
    cursor c(7);
    run(c, &r);
    CHECK(r.seen == 7);
}

TEST_CASE("move-only items")
{
    sturdy::memory::database db;
    std::vector<std::unique_ptr<int>> items;
    items.push_back(std::make_unique<int>(1));
    items.push_back(std::make_unique<int>(2));
    int sum = 0;
    auto r = items | std::views::transform([](auto& p) { return std::make_unique<int>(*p); }) | sturdy::chunked(db, 1) |
             sturdy::guarded([&](std::unique_ptr<int>& p) { sum += *p; }) | sturdy::drain;
    CHECK(r.done == 2);
    CHECK(sum == 3);
}

namespace {
struct outcome {
    std::size_t done, failed, skipped, retried, remaining;
    std::vector<std::tuple<std::string, std::string, int>> failures;
    std::map<std::string, sturdy::memory::table::rows_type, std::less<>> committed;
    bool operator==(const outcome&) const = default;
};

// Sparse failures, so that chunks run the fast way, fail over to the careful way and come back:
// a permanent failure, a transient one that succeeds on its second attempt, one that never
// succeeds, a key function that throws; with a watermark and a failure budget watching.
template <class Input> outcome run_sparse(Input&& input, sturdy::memory::database& db, sturdy::isolation mode)
{
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    std::map<int, int> calls;
    auto r = std::forward<Input>(input) |
             sturdy::idempotent_by(ledger,
                                   [](int v) {
                                       if (v == 333) {
                                           throw std::runtime_error("no key for 333");
                                       }
                                       return v;
                                   }) |
             sturdy::chunked(db, 50) |
             sturdy::guarded(
                 [&](int v) {
                     out.put(v, std::to_string(v * 3));
                     const int call = ++calls[v];
                     if (v == 17 || v == 480) {
                         throw sturdy::permanent_error("poison " + std::to_string(v));
                     }
                     if (v == 121 && call == 1) {
                         throw sturdy::transient_error("busy once");
                     }
                     if (v == 260) {
                         throw sturdy::transient_error("always busy");
                     }
                 },
                 mode) |
             sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::failure_budget(5) |
             sturdy::watermark(db, "job", [](int v) { return v; }) | sturdy::drain;
    outcome o{r.done, r.failed, r.skipped, r.retried, r.remaining, {}, db.snapshot()};
    for (const auto& f : r.failures) {
        o.failures.emplace_back(f.item_key.str(), f.reason, f.attempts);
    }
    return o;
}
} // namespace

TEST_CASE("fast chunks, careful re-runs and single-pass inputs commit the same results")
{
    std::vector<int> items;
    for (int v = 500; v > 0; --v) {
        items.push_back(v);
    }
    sturdy::memory::database per_item_db;
    sturdy::memory::database vector_db;
    sturdy::memory::database cursor_db;
    const auto per_item = run_sparse(items, per_item_db, sturdy::isolation::per_item);
    const auto from_vector = run_sparse(items, vector_db, sturdy::isolation::per_chunk);
    cursor first(500, /*down=*/true);
    const auto from_cursor = run_sparse(first, cursor_db, sturdy::isolation::per_chunk);

    CHECK(per_item.done == 496);
    CHECK(per_item.failed == 4); // 17, 480, 260 (after 3 attempts) and 333 (no key)
    CHECK(per_item.retried == 3);
    REQUIRE(per_item.failures.size() == 4);
    CHECK(per_item.failures[0] == std::tuple<std::string, std::string, int>("480", "poison 480", 1));
    CHECK(per_item.failures[2] == std::tuple<std::string, std::string, int>("260", "always busy", 3));
    // 334: the item before 333, whose key function threw; with no failure record to read it back
    // by, the watermark does not move past it.
    CHECK(per_item.committed.at("sturdy_checkpoint").begin()->second == "334");
    CHECK(from_vector == per_item);
    CHECK(from_cursor == per_item);

    // The second run skips what is done and retries the failed items, the same way in each.
    const auto again_per_item = run_sparse(items, per_item_db, sturdy::isolation::per_item);
    const auto again_vector = run_sparse(items, vector_db, sturdy::isolation::per_chunk);
    cursor second(500, /*down=*/true);
    const auto again_cursor = run_sparse(second, cursor_db, sturdy::isolation::per_chunk);
    CHECK(again_per_item.skipped == 496);
    CHECK(again_vector == again_per_item);
    CHECK(again_cursor == again_per_item);
}
