#pragma once
// Shared helpers for the tests: a log sink that keeps its lines, an input of n integers, and a
// temporary directory for database files.

#include <sturdy/sturdy.hpp>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include <stdlib.h> // mkdtemp (POSIX)

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

/// 0, 1, ..., n - 1.
inline std::vector<int> range_of(int n)
{
    std::vector<int> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        v[static_cast<std::size_t>(i)] = i;
    }
    return v;
}

/// A fresh directory under the system's temporary directory, removed with everything in it
/// (a database's WAL files too) at the end of the test.
struct temp_dir {
    std::filesystem::path path;
    temp_dir()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "sturdy-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
        }
        path = pattern;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

/// What `f` throws, as its what() text; "(no error)" when it throws nothing.
inline std::string error_text(const std::function<void()>& f)
{
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no error)";
}

/// Whether `text` contains `part`.
inline bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace test
