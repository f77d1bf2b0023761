// Peak resident set size of the full pipeline for a given number of items, to show that the
// pipeline holds O(chunk) items whatever the input size. The input is a lazy range (nothing is
// materialised up front), so what grows with the input is the pipeline's, or the store's.
//
//     bench_peak_rss sqlite  1000000 [chunk]   # SQLite file store in a temporary directory
//     bench_peak_rss nostore 1000000 [chunk]   # no store: the engine alone (effect sums)
//
// Prints one line: mode, items, chunk, done, peak RSS in KiB (getrusage ru_maxrss).
#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <ranges>
#include <string>
#include <string_view>
#include <system_error>

#include <sys/resource.h>
#include <unistd.h>

namespace {
namespace fs = std::filesystem;

long peak_rss_kib()
{
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

std::size_t run_sqlite(std::int64_t n, std::size_t chunk)
{
    std::string pattern = (fs::temp_directory_path() / "sturdy-rss-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("cannot create a temporary directory");
    }
    const fs::path dir = pattern;
    std::size_t done = 0;
    {
        sturdy::sqlite::database db((dir / "rss.db").string());
        db.exec("CREATE TABLE out(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
        auto ledger = db.ledger("rss");
        auto& insert = db.prepare("INSERT INTO out(id, v) VALUES(?, ?)");
        auto r = std::views::iota(std::int64_t{0}, n) |
                 sturdy::idempotent_by(ledger, [](std::int64_t i) { return i; }) | sturdy::chunked(db, chunk) |
                 sturdy::guarded([&](std::int64_t i) {
                     insert.bind(i, i);
                     sturdy::sqlite::detail::reset_on_exit reset{insert};
                     insert.step();
                 }) |
                 sturdy::retry_bounded(3, sturdy::backoff::none()) |
                 sturdy::logged_every(10'000, sturdy::discard_sink{}) | sturdy::drain;
        done = r.done;
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return done;
}

std::size_t run_nostore(std::int64_t n, std::size_t chunk)
{
    std::int64_t sum = 0;
    auto r = std::views::iota(std::int64_t{0}, n) | sturdy::chunked(chunk) |
             sturdy::guarded([&](std::int64_t i) { sum += i; }) | sturdy::retry_bounded(3, sturdy::backoff::none()) |
             sturdy::logged_every(10'000, sturdy::discard_sink{}) | sturdy::drain;
    return sum >= 0 ? r.done : 0;
}
} // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s sqlite|nostore ITEMS [CHUNK]\n", argv[0]);
        return 2;
    }
    const std::string_view mode = argv[1];
    const std::int64_t n = std::stoll(argv[2]);
    const std::size_t chunk = argc > 3 ? std::stoul(argv[3]) : 1000;
    std::size_t done = 0;
    if (mode == "sqlite") {
        done = run_sqlite(n, chunk);
    } else if (mode == "nostore") {
        done = run_nostore(n, chunk);
    } else {
        std::fprintf(stderr, "unknown mode '%s': sqlite or nostore\n", argv[1]);
        return 2;
    }
    std::printf("%s %lld %zu %zu %ld\n", argv[1], static_cast<long long>(n), chunk, done, peak_rss_kib());
    return done == static_cast<std::size_t>(n) ? 0 : 1;
}
