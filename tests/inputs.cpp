// Every kind of input a user will pipe into sturdy: containers, std::ranges views (temporaries
// included), range-v3 views, and single-pass ranges.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <range/v3/view/filter.hpp>
#include <range/v3/view/iota.hpp>
#include <range/v3/view/transform.hpp>

#include <catch2/catch.hpp>

#include <list>
#include <memory>
#include <ranges>
#include <sstream>
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

// A single-pass range whose iterator cannot be copied: like a database cursor.
class cursor {
public:
    explicit cursor(int n) : n_(n) {}
    class iterator {
    public:
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        explicit iterator(cursor* c) : c_(c) {}
        iterator(iterator&&) = default;
        iterator& operator=(iterator&&) = default;
        int operator*() const { return c_->at_; }
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
