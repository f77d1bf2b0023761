// Runs a job whose log goes to a json_lines_sink on stdout, then prints the report's JSON on
// stderr, for json_lines_test.py, which parses every line with Python's json module and checks
// its fields against the report. The clock is a manual one, so the output is the same every run.
#include <sturdy/sink/json_lines.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

int main()
{
    using namespace std::chrono_literals;
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    sturdy::manual_clock clock;
    // The wall clock of the lines: a fixed instant, plus the manual clock's time.
    const auto base = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764558514123));
    sturdy::json_lines_sink sink(
        "invoicing \"eu\"", [](std::string_view line) { std::fwrite(line.data(), 1, line.size(), stdout); },
        [&] {
            return base +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(clock.now().time_since_epoch());
        });
    std::vector<int> input(200);
    for (int i = 0; i < 200; ++i) {
        input[static_cast<std::size_t>(i)] = i;
    }
    const auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
                   sturdy::guarded([&](int v) {
                       clock.advance(10ms);
                       if (v % 10 == 3) {
                           throw std::runtime_error(std::string("partner \"p\" has no address\n\t\x01 caf\xc3\xa9 \\"));
                       }
                       if (v == 7 || v == 18) {
                           throw sturdy::transient_error("busy");
                       }
                   }) |
                   sturdy::retry_bounded(2, sturdy::backoff::none()) | sturdy::logged_every(25, sink) |
                   sturdy::time_budget(1500ms) | sturdy::with_clock(clock) | sturdy::drain;
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", r.json().c_str());
    return 0;
}
