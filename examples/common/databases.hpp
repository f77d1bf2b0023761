#pragma once
// Shared by the examples that run on SQLite or on PostgreSQL: which store a --db names, opening
// it, and creating the example's tables in the store's dialect.

#include <sturdy/store/postgres.hpp>
#include <sturdy/store/sqlite.hpp>

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace example {

/// `--db` names a PostgreSQL database (a libpq URI) rather than a SQLite file.
inline bool is_postgres_uri(std::string_view db)
{
    return db.starts_with("postgresql://") || db.starts_with("postgres://");
}

template <class Db> inline constexpr bool on_postgres = std::same_as<Db, sturdy::postgres::database>;

/// Opens the database `name` names (a libpq URI, postgresql://...: PostgreSQL; anything else: a
/// SQLite file) and returns `fn(db)`.
template <class Fn> auto with_database(const std::string& name, Fn&& fn)
{
    if (is_postgres_uri(name)) {
        sturdy::postgres::database db(name);
        return fn(db);
    }
    sturdy::sqlite::database db(name);
    return fn(db);
}

/// Creates the tables if missing, in one transaction: `sqlite_sql` on SQLite, `postgres_sql` on
/// PostgreSQL, where processes starting at once take turns on the advisory lock `lock` (two
/// CREATE TABLE IF NOT EXISTS can otherwise collide).
template <class Db> void create_tables(Db& db, const char* sqlite_sql, const char* postgres_sql, std::int64_t lock)
{
    db.begin();
    if constexpr (on_postgres<Db>) {
        db.execute("SELECT pg_advisory_xact_lock($1)", lock);
        db.exec(postgres_sql);
    } else {
        (void)postgres_sql;
        (void)lock;
        db.exec(sqlite_sql);
    }
    db.commit();
}

} // namespace example
