// A program that uses sturdy the way a user's would: a real pipeline on the memory store (and,
// with STURDY_CONSUMER_SQLITE defined, on an SQLite file; with STURDY_CONSUMER_POSTGRES, on the
// PostgreSQL server named by $STURDY_TEST_POSTGRES, which scripts/with-postgres sets), with its
// report checked.
// Returns non-zero if sturdy does not behave.
// The one program of every consumer build in .ci/run: with only `-I include` (plain include), with
// `pkg-config --cflags --libs sturdy`, with CMake's find_package(sturdy) (CMakeLists.txt here)
// and as a Meson project that gets sturdy from subprojects/sturdy (meson.build here); the last
// three once header-only and once against a separate-compilation build of sturdy
// (docs/consuming.md), where the build defines STURDY_CONSUMER_SEPARATE.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>
#ifdef STURDY_CONSUMER_SQLITE
#include <sturdy/store/sqlite.hpp>

#include <filesystem>
#include <optional>

#include <unistd.h>
#endif

#ifdef STURDY_CONSUMER_POSTGRES
#include <sturdy/store/postgres.hpp>

#include <cstdlib>
#include <optional>
#endif

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

// The mode the build expects is the one it gets. In the packaged builds it comes from sturdy's
// package (its Meson dependency, .pc file or CMake target), not from this program's build: a
// separate-compilation package defines STURDY_SEPARATE_COMPILATION and links the definitions
// (without them, this program does not link). The plain build by hand defines it itself.
#if defined(STURDY_CONSUMER_SEPARATE) != defined(STURDY_SEPARATE_COMPILATION)
#error "sturdy's package did not give the mode this consumer build expects (STURDY_CONSUMER_SEPARATE)"
#endif

namespace {

bool check(bool ok, const char* what)
{
    std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    return ok;
}

// Five items, the third fails: four done in three chunks; a second run skips those four.
template <class Db, class Write> bool run_twice(Db& db, Write write, const char* what)
{
    auto ledger = db.ledger("consumer");
    std::vector<int> input{1, 2, 3, 4, 5};
    auto run = [&] {
        return input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
               sturdy::guarded([&](int v) {
                   if (v == 3) {
                       throw std::runtime_error("three fails");
                   }
                   write(v);
               }) |
               sturdy::drain;
    };
    const sturdy::report first = run();
    const sturdy::report second = run();
    std::printf("%s\n%s\n", first.json().c_str(), second.json().c_str());
    return check(first.seen == 5 && first.done == 4 && first.failed == 1 && first.chunks == 3 &&
                     first.failures.size() == 1 && first.failures[0].item_key == sturdy::key(3) &&
                     second.skipped == 4 && second.done == 0 && second.failed == 1,
                 what);
}

} // namespace

int main()
{
    bool ok = true;
    {
        sturdy::memory::database db;
        auto& out = db.table("out");
        ok &= run_twice(
            db, [&](int v) { out.put(v, std::to_string(v * v)); }, "memory store pipeline");
        ok &= check(out.size() == 4, "memory store holds the four committed rows");
    }
#ifdef STURDY_CONSUMER_SQLITE
    {
        namespace fs = std::filesystem;
        const fs::path dir = fs::temp_directory_path() / fs::path("sturdy-consumer-" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
        {
            sturdy::sqlite::database db((dir / "consumer.db").string());
            db.exec("CREATE TABLE out (id INTEGER PRIMARY KEY, square INTEGER NOT NULL)");
            ok &= run_twice(
                db, [&](int v) { db.execute("INSERT INTO out (id, square) VALUES (?, ?)", v, v * v); },
                "sqlite store pipeline");
            ok &= check(db.query_one<int>("SELECT count(*) FROM out") == std::optional<int>(4),
                        "sqlite store holds the four committed rows");
        }
        fs::remove_all(dir);
    }
#endif
#ifdef STURDY_CONSUMER_POSTGRES
    {
        const char* conninfo = std::getenv("STURDY_TEST_POSTGRES");
        if (!check(conninfo != nullptr, "STURDY_TEST_POSTGRES is set (run under scripts/with-postgres)")) {
            return 1;
        }
        sturdy::postgres::database db(conninfo);
        db.exec("CREATE TABLE out (id integer PRIMARY KEY, square integer NOT NULL)"); // a new server each run
        ok &= run_twice(
            db, [&](int v) { db.execute("INSERT INTO out (id, square) VALUES ($1, $2)", v, v * v); },
            "postgres store pipeline");
        ok &= check(db.query_one<int>("SELECT count(*) FROM out") == std::optional<int>(4),
                    "postgres store holds the four committed rows");
    }
#endif
#ifdef STURDY_SEPARATE_COMPILATION
    std::printf("mode: separate compilation\n");
#else
    std::printf("mode: header-only\n");
#endif
    std::printf("sturdy consumer: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
