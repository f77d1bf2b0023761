#pragma once
// For the example tests: temporary database files, a clock that never sleeps, and a way to
// run a command line with its output captured.

#include "../support.hpp"

#include <sturdy/concepts.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace test {

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
