#pragma once
// Temporary database files for the example tests, removed (with their WAL files) at the end.

#include <sturdy/concepts.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace test {

struct temp_dir {
    std::filesystem::path path;
    temp_dir()
    {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("sturdy-examples-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        std::filesystem::create_directories(path);
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

/// A clock that moves one second every time it is read: deadlines are reached without sleeping.
struct ticking_clock {
    sturdy::time_point t{};
    sturdy::time_point now() { return t += std::chrono::seconds(1); }
    void sleep_for(sturdy::duration d) { t += d; }
};

/// Runs a command-line entry point with a captured stdout; returns its status and output.
template <class Cli> std::pair<int, std::string> run_cli(Cli cli, std::vector<std::string_view> args)
{
    std::FILE* out = std::tmpfile();
    const int status = cli(args, out);
    std::rewind(out);
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, out)) > 0;) {
        text.append(buf, n);
    }
    std::fclose(out);
    return {status, text};
}

} // namespace test
