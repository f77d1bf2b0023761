#pragma once
// Shared by the examples on SQLite or PostgreSQL: a small command-line parser, the part of the
// command line they have in common (run_cli: the options they all take, the usage on a mistake,
// opening --db, the report and the exit status a scheduler understands), deterministic failure
// injection, and YYYY-MM month arithmetic.

#include "databases.hpp"

#include <sturdy/error.hpp>
#include <sturdy/report.hpp>

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace example {

/// Exit statuses (sysexits.h): 0 nothing pending, 75 (EX_TEMPFAIL) run again soon, 1 fix something.
inline constexpr int exit_ok = 0;
inline constexpr int exit_run_again = 75;
inline constexpr int exit_usage = 1;

/// What a scheduler should do after a run.
inline int exit_status(const sturdy::report& r) { return r.run_again_soon() ? exit_run_again : exit_ok; }

/// A command-line mistake; main prints it with the usage and exits 1.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// `--name value` options and `--flag`s. Every option is given at most once.
class arguments {
public:
    /// `valued`: options taking a value; `flags`: options without one.
    arguments(const std::vector<std::string_view>& args, std::set<std::string_view> valued,
              std::set<std::string_view> flags)
    {
        for (std::size_t i = 0; i < args.size(); ++i) {
            const auto a = args[i];
            if (flags.contains(a)) {
                add(a, "");
            } else if (valued.contains(a)) {
                if (i + 1 >= args.size()) {
                    throw usage_error(fmt::format("{} needs a value", a));
                }
                add(a, args[++i]);
            } else {
                throw usage_error(fmt::format("unknown argument '{}'", a));
            }
        }
    }

    [[nodiscard]] bool has(std::string_view name) const { return values_.contains(name); }
    [[nodiscard]] std::optional<std::string> text(std::string_view name) const
    {
        auto it = values_.find(name);
        return it == values_.end() ? std::nullopt : std::optional(it->second);
    }

    /// An integer in [low, high].
    [[nodiscard]] std::optional<std::int64_t> integer(std::string_view name, std::int64_t low, std::int64_t high) const
    {
        auto v = text(name);
        if (!v) {
            return std::nullopt;
        }
        std::int64_t out = 0;
        const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
        if (ec != std::errc() || end != v->data() + v->size() || out < low || out > high) {
            throw usage_error(fmt::format("{} takes a whole number from {} to {} (got '{}')", name, low, high, *v));
        }
        return out;
    }

    /// A number in [low, high].
    [[nodiscard]] std::optional<double> number(std::string_view name, double low, double high) const
    {
        auto v = text(name);
        if (!v) {
            return std::nullopt;
        }
        std::size_t used = 0;
        double out = 0;
        try {
            out = std::stod(*v, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != v->size() || !(out >= low && out <= high)) {
            throw usage_error(fmt::format("{} takes a number from {} to {} (got '{}')", name, low, high, *v));
        }
        return out;
    }

private:
    void add(std::string_view name, std::string_view value)
    {
        if (!values_.emplace(std::string(name), std::string(value)).second) {
            throw usage_error(fmt::format("{} is given twice", name));
        }
    }
    std::map<std::string, std::string, std::less<>> values_;
};

// --- deterministic failure injection ----------------------------------------------------

inline std::uint64_t mix(std::uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

inline std::uint64_t hash_text(std::string_view s)
{
    std::uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a
    for (const char c : s) {
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    return h;
}

/// True for a fraction `rate` of the (seed, key, failed runs so far, attempt) combinations: the
/// same run of the same data injects the same failures, and a later run draws again.
inline bool injected(double rate, std::uint64_t seed, std::string_view key, int runs_before, int attempt)
{
    if (rate <= 0.0) {
        return false;
    }
    const std::uint64_t h = mix(mix(mix(seed ^ hash_text(key)) + static_cast<std::uint64_t>(runs_before)) +
                                static_cast<std::uint64_t>(attempt));
    return static_cast<double>(h >> 11U) * 0x1.0p-53 < rate;
}

// --- months -----------------------------------------------------------------------------

/// "YYYY-MM" -> months since year 0, or nullopt when malformed.
inline std::optional<int> month_index(std::string_view p)
{
    if (p.size() != 7 || p[4] != '-') {
        return std::nullopt;
    }
    int year = 0;
    int month = 0;
    const auto y = std::from_chars(p.data(), p.data() + 4, year);
    const auto m = std::from_chars(p.data() + 5, p.data() + 7, month);
    if (y.ec != std::errc() || y.ptr != p.data() + 4 || m.ec != std::errc() || m.ptr != p.data() + 7 || month < 1 ||
        month > 12 || year < 1) {
        return std::nullopt;
    }
    return year * 12 + (month - 1);
}

inline std::string period_of(int index) { return fmt::format("{:04}-{:02}", index / 12, index % 12 + 1); }

/// The current month, local time.
inline std::string current_period()
{
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm local{};
    localtime_r(&t, &local);
    return fmt::format("{:04}-{:02}", local.tm_year + 1900, local.tm_mon + 1);
}

/// Prints the report: text (human) or one JSON line last on stdout (machines).
inline void print_report(std::FILE* out, const sturdy::report& r, bool json)
{
    if (json) {
        fmt::print(out, "{}\n", r.json());
    } else {
        fmt::print(out, "{}\n", r);
        if (r.run_again_soon()) {
            fmt::print(out, "exit status 75: work remains; run again soon\n");
        }
    }
    std::fflush(out);
}

/// Prints the store error that ended a run (the stores' messages name the database and say what
/// to do) and returns the exit status: 75 (run again soon) when it is transient, else 1.
inline int exit_on_store_error(const char* program, const sturdy::failure_error& e)
{
    fmt::print(stderr, "{}: {}\n", program, e.message());
    if (sturdy::is_transient(e.code())) {
        fmt::print(stderr, "{}: a database is busy or was lost; run again soon\n", program);
        return exit_run_again;
    }
    return exit_usage;
}

// --- the command line the examples share ------------------------------------------------

/// The options subscription_invoicing and contact_sync both take.
struct common_options {
    std::string db;                                        ///< --db: a SQLite file or a postgresql:// URI
    std::optional<std::int64_t> init;                      ///< --init N: demo rows for an empty database
    std::size_t chunk = 200;                               ///< --chunk: items per transaction
    std::optional<std::chrono::duration<double>> deadline; ///< --deadline SECONDS: stop cleanly before
    int quarantine_after = 5;                              ///< --quarantine-after: failed runs before quarantine
    bool json = false;                                     ///< --report json (default text)

    /// Reads them; `missing_db` is the mistake reported when --db is not given.
    static common_options parse(const arguments& a, const char* missing_db)
    {
        if (!a.has("--db")) {
            throw usage_error(missing_db);
        }
        common_options c;
        c.db = *a.text("--db");
        c.init = a.integer("--init", 0, 10'000'000);
        c.chunk = static_cast<std::size_t>(a.integer("--chunk", 1, 1'000'000).value_or(c.chunk));
        if (auto d = a.number("--deadline", 0.001, 1e9)) {
            c.deadline = std::chrono::duration<double>(*d);
        }
        c.quarantine_after = static_cast<int>(a.integer("--quarantine-after", 1, 1000).value_or(c.quarantine_after));
        const auto format = a.text("--report").value_or("text");
        if (format != "text" && format != "json") {
            throw usage_error(fmt::format("--report takes text or json (got '{}')", format));
        }
        c.json = format == "json";
        return c;
    }

    /// Sets the job's options that come from them: chunk, deadline and quarantine_after.
    template <class JobOptions> void copy_to(JobOptions& o) const
    {
        o.chunk = chunk;
        o.deadline = deadline;
        o.quarantine_after = quarantine_after;
    }
};

/// What an example's command line has of its own.
struct command {
    const char* program;                ///< its name, first in every message
    const char* usage;                  ///< printed after a command-line mistake
    const char* missing_db;             ///< the mistake when --db is not given
    const char* demo_rows;              ///< what --init N creates, e.g. "subscriptions"
    std::set<std::string_view> valued;  ///< its own options taking a value
    std::set<std::string_view> flags{}; ///< its own options taking none
};

/// An example's command line; returns the exit status.
///
/// Reads the common options, then `parse(arguments, common_options)` reads the example's own,
/// throwing usage_error on a mistake. Without --init, a SQLite --db must exist: a mistyped path
/// is an error, not a new empty database. A mistake is printed with the usage: exit 1.
///
/// Then `run(db, common_options)` runs the job on the opened --db (sturdy::sqlite::database or
/// sturdy::postgres::database) and returns its report, which is printed on `out` (text, or one
/// line of JSON): exit 75 if work remains, else 0. Logs go to stderr. A store error is printed:
/// exit 75 if it is transient (run again soon), else 1. Any other exception is printed: exit 1.
template <class Parse, class Run>
int run_cli(const command& cmd, const std::vector<std::string_view>& args, std::FILE* out, Parse&& parse, Run&& run)
{
    common_options c;
    try {
        auto valued = cmd.valued;
        valued.insert({"--db", "--init", "--chunk", "--deadline", "--quarantine-after", "--report"});
        const arguments a(args, valued, cmd.flags);
        c = common_options::parse(a, cmd.missing_db);
        parse(a, std::as_const(c));
        // A path that cannot be looked up (too long, no permission) is left to the store, whose
        // error names it: only a file known to be absent is a usage mistake.
        std::error_code lookup;
        if (!c.init && !is_postgres_uri(c.db) && !std::filesystem::exists(c.db, lookup) && !lookup) {
            throw usage_error(fmt::format("database '{}' does not exist: check the path, or pass --init N to create a "
                                          "demo database with N {}",
                                          c.db, cmd.demo_rows));
        }
    } catch (const usage_error& e) {
        fmt::print(stderr, "{}: {}\n{}", cmd.program, e.what(), cmd.usage);
        return exit_usage;
    }

    try {
        return with_database(c.db, [&](auto& db) {
            const sturdy::report r = run(db, std::as_const(c));
            print_report(out, r, c.json);
            return exit_status(r);
        });
    } catch (const sturdy::failure_error& e) {
        return exit_on_store_error(cmd.program, e);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", cmd.program, e.what());
        return exit_usage;
    }
}

} // namespace example
