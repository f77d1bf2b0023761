#pragma once
// One fixture per store for the store suite (tests/store/suite.cpp): a fresh, empty store per
// test, with the same two user tables in each. Each is a sturdy::testing::store_fixture, so the
// suite runs sturdy::testing::check_store on it:
//   t(id)            one row per item written
//   line(id, v)      written after t; v must be >= 0, so a negative v fails the item after it
//                    wrote to t (a CHECK constraint in SQL, a permanent error in memory)
// PostgreSQL: each fixture works in a schema of its own (search_path), dropped at the end, on
// the server scripts/with-postgres started ($STURDY_TEST_POSTGRES).

#include "../support.hpp" // temp_dir

#include <sturdy/store/memory.hpp>
#include <sturdy/store/postgres.hpp>
#include <sturdy/store/sqlite.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace test {

struct memory_store {
    static constexpr const char* name = "memory";
    using database = sturdy::memory::database;
    database db;

    database& store() { return db; }
    void write(std::int64_t id) { write(id, id); }
    void write_failing(std::int64_t id) { write(id, -1); }
    void write(std::int64_t id, std::int64_t v)
    {
        db.table("t").insert(id, "");
        if (v < 0) {
            throw sturdy::permanent_error("CHECK failed: line.v >= 0");
        }
        db.table("line").put(id, std::to_string(v));
    }
    std::int64_t count() { return static_cast<std::int64_t>(db.table("t").size()); }
    bool has(std::int64_t id) { return db.table("t").contains(id); }
};

constexpr const char* user_tables = "CREATE TABLE t(id bigint PRIMARY KEY);"
                                    "CREATE TABLE line(id bigint NOT NULL, v bigint NOT NULL CHECK (v >= 0));";

/// What the SQL stores share: the same statements, $n parameters (SQLite reads them too).
template <class Derived> struct sql_store {
    auto& store() { return static_cast<Derived*>(this)->db; }
    void write(std::int64_t id) { write(id, id); }
    /// Fails on line's CHECK constraint after the row in t is written.
    void write_failing(std::int64_t id) { write(id, -1); }
    void write(std::int64_t id, std::int64_t v)
    {
        auto& db = static_cast<Derived*>(this)->db;
        db.execute("INSERT INTO t(id) VALUES($1)", id);
        db.execute("INSERT INTO line(id, v) VALUES($1, $2)", id, v);
    }
    std::int64_t count()
    {
        return *static_cast<Derived*>(this)->db.template query_one<std::int64_t>("SELECT count(*) FROM t");
    }
    bool has(std::int64_t id)
    {
        return static_cast<Derived*>(this)->db.template query_one<int>("SELECT 1 FROM t WHERE id = $1", id).has_value();
    }
};

struct sqlite_store : sql_store<sqlite_store> {
    static constexpr const char* name = "sqlite";
    using database = sturdy::sqlite::database;
    temp_dir dir;
    database db{dir.file("store.db")};

    sqlite_store() { db.exec(user_tables); }
};

/// The server's connection string, or a failed test saying how to get one.
inline std::string postgres_conninfo()
{
    const char* env = std::getenv("STURDY_TEST_POSTGRES");
    if (env == nullptr || *env == '\0') {
        FAIL("STURDY_TEST_POSTGRES is not set: run the PostgreSQL tests through meson test, or under "
             "scripts/with-postgres");
    }
    return env;
}

/// A schema of its own on the test server, dropped when destroyed; `conninfo` connects into it.
struct postgres_schema {
    std::string name;
    std::string conninfo;
    postgres_schema()
    {
        static int counter = 0;
        name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
        const std::string base = postgres_conninfo();
        sturdy::postgres::database admin(base);
        admin.exec("DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name);
        conninfo = base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + name;
    }
    postgres_schema(const postgres_schema&) = delete;
    postgres_schema& operator=(const postgres_schema&) = delete;
    ~postgres_schema()
    {
        try {
            sturdy::postgres::database admin(postgres_conninfo());
            admin.exec("DROP SCHEMA IF EXISTS " + name + " CASCADE");
        } catch (...) { // NOLINT(bugprone-empty-catch): a leftover schema dies with the test cluster
        }
    }
};

struct postgres_store : sql_store<postgres_store> {
    static constexpr const char* name = "postgres";
    using database = sturdy::postgres::database;
    postgres_schema schema;
    database db;

    postgres_store() : postgres_store(sturdy::postgres::options{}) {}
    explicit postgres_store(sturdy::postgres::options opts) : db(schema.conninfo, std::move(opts))
    {
        db.exec(user_tables);
    }
};

} // namespace test
