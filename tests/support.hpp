#pragma once
// Shared helpers for the unit tests.

#include <sturdy/sturdy.hpp>

#include <string>
#include <vector>

namespace test {

/// A log sink that keeps every line.
struct captured_log {
    std::vector<std::string> lines;
    auto sink()
    {
        return [this](sturdy::level, std::string_view m) { lines.emplace_back(m); };
    }
    [[nodiscard]] std::size_t count_starting(std::string_view prefix) const
    {
        std::size_t n = 0;
        for (const auto& l : lines) {
            n += l.starts_with(prefix) ? 1 : 0;
        }
        return n;
    }
    [[nodiscard]] std::size_t count_containing(std::string_view needle) const
    {
        std::size_t n = 0;
        for (const auto& l : lines) {
            n += l.find(needle) != std::string::npos ? 1 : 0;
        }
        return n;
    }
};

} // namespace test
