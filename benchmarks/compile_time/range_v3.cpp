// Compile-time baseline (scripts/compile-time): range-v3's views::chunk and views::filter alone,
// doing the loop's shape (skip some items, handle the rest in chunks) without any resilience.
#include <range/v3/view/chunk.hpp>
#include <range/v3/view/filter.hpp>

#include <cstdint>
#include <vector>

std::int64_t run(const std::vector<std::int64_t>& input)
{
    std::int64_t sum = 0;
    for (auto chunk :
         input | ranges::views::filter([](std::int64_t v) { return v % 7 != 0; }) | ranges::views::chunk(200)) {
        for (auto v : chunk) {
            sum += v;
        }
    }
    return sum;
}
