#pragma once
// What the SQLite benchmarks share: the items per iteration, a temporary directory for their
// database files, a file that is removed with its WAL when done, and one step of a prepared
// statement as a hand-written loop runs it.
#include <sturdy/store/sqlite.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include <unistd.h>

namespace bench_support {
namespace fs = std::filesystem;

/// STURDY_BENCH_ITEMS (default 100000; scripts/bench --quick lowers it).
inline std::int64_t items_per_iteration()
{
    static const std::int64_t n = [] {
        const char* env = std::getenv("STURDY_BENCH_ITEMS");
        return env != nullptr ? std::max<std::int64_t>(10, std::stoll(env)) : std::int64_t{100'000};
    }();
    return n;
}

/// A temporary directory for the benchmark's database files, removed at exit.
inline const fs::path& temp_dir()
{
    struct dir {
        fs::path path;
        dir()
        {
            std::string pattern = (fs::temp_directory_path() / "sturdy-bench-XXXXXX").string();
            if (::mkdtemp(pattern.data()) == nullptr) {
                throw std::runtime_error("cannot create a temporary directory");
            }
            path = pattern;
        }
        dir(const dir&) = delete;
        dir& operator=(const dir&) = delete;
        ~dir()
        {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    };
    static const dir d;
    return d.path;
}

/// A new file name in temp_dir(); the file, its WAL and journal are removed on construction
/// and destruction.
class temp_file {
public:
    explicit temp_file(const std::string& stem)
    {
        static int counter = 0;
        path_ = (temp_dir() / (stem + "-" + std::to_string(++counter) + ".db")).string();
        remove();
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    ~temp_file() { remove(); }
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    void remove() const
    {
        std::error_code ec;
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
            fs::remove(path_ + suffix, ec);
        }
    }
    std::string path_;
};

/// One step of a prepared statement, reset afterwards (also when it throws).
template <class... Args> void run(sturdy::sqlite::statement& s, const Args&... args)
{
    s.bind(args...);
    try {
        s.step();
    } catch (...) {
        s.reset();
        throw;
    }
    s.reset();
}

/// Whether a prepared query yields a row.
template <class... Args> bool exists(sturdy::sqlite::statement& s, const Args&... args)
{
    s.bind(args...);
    const bool found = s.step();
    s.reset();
    return found;
}

} // namespace bench_support
