#pragma once
/// sturdy/store/impl/sqlite.ipp — definitions for sturdy/store/sqlite.hpp (see sturdy/config.hpp).

#include <sturdy/store/sqlite.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <unistd.h>

namespace sturdy::sqlite {

// --- errors ------------------------------------------------------------------------------

namespace detail {
class result_category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "sqlite"; }
    [[nodiscard]] std::string message(int rc) const override { return sqlite3_errstr(rc); }
    [[nodiscard]] std::error_condition default_error_condition(int rc) const noexcept override
    {
        // Extended codes keep their primary code in the low byte: SQLITE_BUSY_SNAPSHOT is busy.
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return transient_condition();
        case SQLITE_READONLY:
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
        case SQLITE_FULL: return fatal_condition();
        default: return sturdy::make_error_code(errc::permanent).default_error_condition();
        }
    }
};

STURDY_DECL bool names_missing_schema_object(std::string_view message) noexcept
{
    return message.starts_with("no such table: ") || message.starts_with("no such column: ") ||
           (message.starts_with("table ") && message.find(" has no column named ") != std::string_view::npos);
}
} // namespace detail

STURDY_DECL const std::error_category& sqlite_category() noexcept
{
    static const detail::result_category category;
    return category;
}

STURDY_DECL std::error_code make_error_code(int rc) noexcept { return {rc, sqlite_category()}; }

namespace detail {
STURDY_DECL void fail(sqlite3* db, int rc, std::string_view sql)
{
    const int code = db != nullptr ? sqlite3_extended_errcode(db) : rc;
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const bool missing = code == SQLITE_ERROR && names_missing_schema_object(message);
    throw failure_error(missing ? sturdy::make_error_code(errc::schema_mismatch)
                                : make_error_code((code & 0xff) == (rc & 0xff) ? code : rc),
                        message + " (in: " + abbreviated(sql) + ")");
}

STURDY_DECL void fail_open(const std::string& path, std::string why)
{
    throw failure_error(sturdy::make_error_code(errc::store_unavailable),
                        "cannot open SQLite database '" + path + "': " + std::move(why));
}

STURDY_DECL reset_on_exit::~reset_on_exit()
{
    s.reset();
    if (clear) {
        sqlite3_clear_bindings(s.handle());
    }
}
} // namespace detail

// --- statements --------------------------------------------------------------------------

STURDY_DECL statement::statement(sqlite3* db, std::string sql, bool persistent) : db_(db), sql_(std::move(sql))
{
    const unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0U;
    const int rc = sqlite3_prepare_v3(db, sql_.c_str(), static_cast<int>(sql_.size() + 1), flags, &stmt_, nullptr);
    if (rc != SQLITE_OK) {
        detail::fail(db, rc, sql_);
    }
}

STURDY_DECL statement::~statement() { sqlite3_finalize(stmt_); }

STURDY_DECL bool statement::step()
{
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    try {
        detail::fail(db_, rc, sql_);
    } catch (...) {
        sqlite3_reset(stmt_);
        throw;
    }
}

STURDY_DECL std::string statement::text(int i) const
{
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return {data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))};
}

STURDY_DECL void statement::check(int rc) const
{
    if (rc != SQLITE_OK) {
        detail::fail(db_, rc, sql_);
    }
}

STURDY_DECL void statement::null_column(int i) const
{
    throw failure_error(sturdy::make_error_code(errc::permanent),
                        "column " + std::to_string(i) + " (" + sqlite3_column_name(stmt_, i) +
                            ") is NULL; read it as a std::optional (in: " + detail::abbreviated(sql_) + ")");
}

STURDY_DECL void statement::expect_column_count(std::size_t fields) const
{
    if (static_cast<std::size_t>(column_count()) != fields) {
        throw usage_error("sqlite: the statement yields " + std::to_string(column_count()) +
                          " columns but the row type has " + std::to_string(fields) +
                          " fields; select one column per field, in order (in: " + detail::abbreviated(sql_) + ")");
    }
}

STURDY_DECL void statement::bind_text(int i, std::string_view s, bool copy)
{
    check(sqlite3_bind_text64(stmt_, i, s.data(), s.size(), copy ? SQLITE_TRANSIENT : SQLITE_STATIC, SQLITE_UTF8));
}

// --- database ----------------------------------------------------------------------------

STURDY_DECL database::database(std::string path, options opts) : path_(std::move(path)), options_(opts)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path file(path_);
    const auto dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    if (!fs::is_directory(dir, ec)) {
        detail::fail_open(path_, "directory " + dir.string() + " does not exist: create it or pass another --db path");
    }
    const bool exists = fs::exists(file, ec);
    if (!exists && (!opts.create || opts.read_only)) {
        detail::fail_open(path_,
                          "the file does not exist: pass the path of an existing database, or open it with create");
    }
    if (exists && !opts.read_only && ::access(path_.c_str(), W_OK) != 0) {
        detail::fail_open(path_, "the file is read-only: make it writable (chmod u+w), or open it with read_only");
    }
    if (!opts.read_only && ::access(dir.c_str(), W_OK) != 0) {
        detail::fail_open(path_, "directory " + dir.string() +
                                     " is not writable, and SQLite writes its journal "
                                     "next to the database: make it writable, or pass another --db path");
    }
    const int flags =
        (opts.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (opts.create ? SQLITE_OPEN_CREATE : 0)) |
        SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close_v2(db_);
        detail::fail_open(path_, why + ": check the path and its permissions");
    }
    sqlite3_extended_result_codes(db_, 1);
    try {
        configure();
    } catch (...) {
        statements_.clear();
        sqlite3_close_v2(db_);
        throw;
    }
}

STURDY_DECL database::~database()
{
    if (in_transaction()) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    statements_.clear();
    sqlite3_close_v2(reader_);
    sqlite3_close_v2(db_);
}

STURDY_DECL statement& database::prepare(std::string_view sql)
{
    // A job runs the same few statements per item: comparing the text with the last ones used
    // (sizes first) is cheaper than hashing it.
    for (statement* s : recent_) {
        if (s != nullptr && s->sql() == sql) {
            return *s;
        }
    }
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
        auto compiled = std::make_unique<statement>(db_, std::string(sql), true);
        it = statements_.emplace(std::string(sql), std::move(compiled)).first;
    }
    recent_[recent_next_++ % recent_.size()] = it->second.get();
    return *it->second;
}

STURDY_DECL void database::exec(const std::string& sql)
{
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    sqlite3_free(message);
    if (rc != SQLITE_OK) {
        detail::fail(db_, rc, sql);
    }
}

STURDY_DECL void database::begin()
{
    if (in_transaction()) {
        throw usage_error("sqlite::database::begin: a transaction is already open on " + path_ +
                          "; commit or roll it back first");
    }
    // The previous transaction may have ended without commit() or rollback(): SQLite rolls
    // back by itself after some errors (a full disk, say). Forget its savepoints.
    end_transaction(false);
    run(prepare("BEGIN IMMEDIATE"));
}

STURDY_DECL void database::commit()
{
    require_transaction("commit");
    run(prepare("COMMIT"));
    end_transaction(true);
}

STURDY_DECL void database::rollback()
{
    require_transaction("rollback");
    run(prepare("ROLLBACK"));
    end_transaction(false);
}

STURDY_DECL void database::open_savepoint(std::size_t depth) { run(*level(depth).save); }

STURDY_DECL void database::release_savepoint(std::size_t depth) { run(*level(depth).release); }

STURDY_DECL void database::rollback_to_savepoint(std::size_t depth) { run(*level(depth).rollback_to); }

STURDY_DECL void database::release_rolled_back(std::size_t depth) { run(*level(depth).release); }

STURDY_DECL sqlite::ledger database::ledger(std::string name)
{
    ensure_schema();
    return {*this, std::move(name)};
}

STURDY_DECL void database::ensure_schema()
{
    if (book_.schema_ready) {
        return;
    }
    if (book_.schema_created_at) {
        if (in_transaction()) {
            return; // created in the open transaction, whose rollbacks are followed
        }
        // That transaction ended without commit() or rollback() (a ROLLBACK or COMMIT run by
        // hand, or SQLite's own rollback after some errors): look again.
        book_.schema_created_at.reset();
    }
    const auto found = stored_schema_version();
    if (!found) {
        const bool owns = !in_transaction();
        if (!owns) {
            // In a transaction that changed the schema, SQLite aborts every read pending on the
            // connection at each ROLLBACK TO (a failed item's): a range reading on it already
            // would break at the first failure. Ranges begun after this read their rows at once.
            for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s != nullptr; s = sqlite3_next_stmt(db_, s)) {
                if (sqlite3_stmt_busy(s) != 0 && sqlite3_stmt_readonly(s) != 0) {
                    throw usage_error("sqlite::database: the sturdy tables of " + path_ +
                                      " would be created inside your transaction while rows are being read on "
                                      "it (" +
                                      std::string(sqlite3_sql(s)) +
                                      "), and SQLite would abort that read at the first failed item: call "
                                      "ledger() or checkpoint() before reading, or before begin()");
                }
            }
            schema_changed_in_transaction_ = true;
        }
        auto sp = savepoint();
        exec(schema_v1);
        execute("INSERT INTO sturdy_schema(version) VALUES(?)", schema_version);
        sp.release();
        if (!owns) {
            book_.schema_created_at = book_.depth;
            return;
        }
    } else if (*found < schema_version) {
        // Migrations from older versions go here, each one step, in one savepoint.
    }
    book_.schema_ready = true;
}

STURDY_DECL const char* database::journal_name(journal_mode m)
{
    constexpr const char* names[] = {"WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF"};
    return names[static_cast<int>(m)];
}

STURDY_DECL const char* database::synchronous_name(synchronous_mode m)
{
    constexpr const char* names[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
    return names[static_cast<int>(m)];
}

STURDY_DECL void database::configure()
{
    sqlite3_busy_timeout(db_, static_cast<int>(options_.busy_timeout.count()));
    // Read the header before anything that could write: a file that is not a database
    // fails here, untouched.
    bool has_sturdy_tables = false;
    try {
        has_sturdy_tables = query_one<int>("SELECT 1 FROM sqlite_schema WHERE name = 'sturdy_schema'").has_value();
    } catch (const failure_error& e) {
        const int primary = e.code().value() & 0xff;
        if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
            detail::fail_open(path_, std::string(sqlite3_errstr(primary)) +
                                         ": it is not an SQLite database (or it is encrypted or damaged); "
                                         "pass the path of an SQLite database, or a new file name to create one");
        }
        detail::fail_open(path_, e.message());
    }
    if (!options_.read_only) {
        if (sqlite3_db_readonly(db_, "main") == 1) {
            detail::fail_open(path_, "the file is read-only: make it writable, or open it with read_only");
        }
        const auto mode = query_one<std::string>(std::string("PRAGMA journal_mode=") + journal_name(options_.journal));
        wal_ = mode == "wal";
        exec(std::string("PRAGMA synchronous=") + synchronous_name(options_.synchronous));
    }
    exec("PRAGMA foreign_keys=ON");
    if (has_sturdy_tables) {
        const auto found = stored_schema_version();
        if (found && *found > schema_version) {
            throw failure_error(sturdy::make_error_code(errc::schema_mismatch),
                                "SQLite database '" + path_ + "' holds sturdy tables of schema version " +
                                    std::to_string(*found) + ", newer than this sturdy understands (" +
                                    std::to_string(schema_version) + "): upgrade sturdy, or use another database file");
        }
    }
}

STURDY_DECL std::optional<int> database::stored_schema_version()
{
    if (!query_one<int>("SELECT 1 FROM sqlite_schema WHERE name = 'sturdy_schema'")) {
        return std::nullopt;
    }
    return query_one<int>("SELECT max(version) FROM sturdy_schema WHERE version IS NOT NULL");
}

STURDY_DECL sqlite3* database::cursor_connection()
{
    if (!wal_ || in_transaction()) {
        return db_;
    }
    if (reader_ == nullptr) {
        const int rc = sqlite3_open_v2(path_.c_str(), &reader_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) {
            std::string why = reader_ != nullptr ? sqlite3_errmsg(reader_) : sqlite3_errstr(rc);
            sqlite3_close_v2(std::exchange(reader_, nullptr));
            detail::fail_open(path_, "the read-only connection for reading rows failed: " + why);
        }
        sqlite3_extended_result_codes(reader_, 1);
        sqlite3_busy_timeout(reader_, static_cast<int>(options_.busy_timeout.count()));
    }
    return reader_;
}

STURDY_DECL void database::run(statement& s)
{
    detail::reset_on_exit done{s};
    while (s.step()) {
    }
}

STURDY_DECL database::savepoint_level& database::level(std::size_t depth)
{
    while (levels_.size() < depth) {
        const auto name = "sp" + std::to_string(levels_.size() + 1);
        levels_.push_back(
            {&prepare("SAVEPOINT " + name), &prepare("RELEASE " + name), &prepare("ROLLBACK TO " + name)});
    }
    return levels_[depth - 1];
}

STURDY_DECL void database::require_transaction(const char* what) const
{
    if (!in_transaction()) {
        throw usage_error(std::string("sqlite::database::") + what + ": no transaction is open on " + path_ +
                          "; call begin() first");
    }
}

STURDY_DECL void database::end_transaction(bool committed)
{
    book_.ended(committed); // savepoint guards of the ended transaction become inert
    schema_changed_in_transaction_ = false;
}

// --- ledger ------------------------------------------------------------------------------

STURDY_DECL ledger::ledger(database& db, std::string name)
    : ledger_members(db, std::move(name)),
      contains_(&db.prepare("SELECT 1 FROM sturdy_ledger WHERE namespace = ? AND item_key = ?")),
      mark_(&db.prepare("INSERT INTO sturdy_ledger(namespace, item_key, marked_at) VALUES(?, ?, ?)")),
      claim_(&db.prepare("INSERT INTO sturdy_ledger(namespace, item_key, marked_at) VALUES(?, ?, ?) "
                         "ON CONFLICT(namespace, item_key) DO NOTHING"))
{
}

STURDY_DECL bool ledger::contains(const key& k) const
{
    db_->ensure_schema();
    detail::reset_on_exit done{*contains_, false}; // binds all its parameters
    return contains_->bind(name_, k).step();
}

STURDY_DECL void ledger::mark(const key& k)
{
    db_->ensure_schema();
    detail::reset_on_exit done{*mark_, false}; // binds all its parameters
    mark_->bind(name_, k, now()).step();
}

STURDY_DECL bool ledger::claim(const key& k)
{
    db_->ensure_schema();
    detail::reset_on_exit done{*claim_, false}; // binds all its parameters
    claim_->bind(name_, k, now()).step();
    return db_->changes() > 0;
}

STURDY_DECL std::vector<failure_info> ledger::failures() const
{
    db_->ensure_schema();
    return db_->query<failure_info>("SELECT item_key, runs, last_reason, quarantined, first_failed, last_failed "
                                    "FROM sturdy_failure WHERE namespace = ? ORDER BY item_key",
                                    name_);
}

STURDY_DECL failure_info ledger::record_failure(const key& k, std::string_view reason, int quarantine_after)
{
    db_->ensure_schema();
    auto f = db_->query_one<failure_info>(
        "INSERT INTO sturdy_failure(namespace, item_key, runs, first_failed, last_failed, last_reason, "
        "quarantined) "
        "VALUES(?1, ?2, 1, ?3, ?3, ?4, 1 >= ?5) "
        "ON CONFLICT(namespace, item_key) DO UPDATE SET runs = runs + 1, last_failed = excluded.last_failed, "
        "last_reason = excluded.last_reason, quarantined = (runs + 1 >= ?5) "
        "RETURNING item_key, runs, last_reason, quarantined, first_failed, last_failed",
        name_, k, now(), reason, quarantine_after);
    return std::move(*f);
}

STURDY_DECL void ledger::clear_failure(const key& k)
{
    db_->ensure_schema();
    db_->execute("DELETE FROM sturdy_failure WHERE namespace = ? AND item_key = ?", name_, k);
}

STURDY_DECL bool ledger::requeue(const key& k)
{
    db_->ensure_schema();
    return db_->execute("UPDATE sturdy_failure SET runs = 0, quarantined = 0 WHERE namespace = ? AND item_key = ?",
                        name_, k) > 0;
}

STURDY_DECL std::size_t ledger::forget_marked_before(std::chrono::system_clock::time_point cutoff, std::size_t batch)
{
    store_detail::require_batch("sqlite::ledger", batch);
    db_->ensure_schema();
    const std::int64_t before = std::chrono::floor<std::chrono::seconds>(cutoff).time_since_epoch().count();
    const auto offset = static_cast<std::int64_t>(batch - 1);
    // Key order is the primary key's (namespace, item_key): each batch is a range of it, after
    // the last key of the batch before (`after`), so the batches read the namespace once.
    std::optional<key> after;
    return store_detail::in_batches(*db_, [&] {
        const auto last =
            after ? db_->query_one<key>("SELECT item_key FROM sturdy_ledger WHERE namespace = ?1 AND "
                                        "marked_at < ?2 AND item_key > ?3 ORDER BY item_key LIMIT 1 OFFSET ?4",
                                        name_, before, *after, offset)
                  : db_->query_one<key>("SELECT item_key FROM sturdy_ledger WHERE namespace = ?1 AND "
                                        "marked_at < ?2 ORDER BY item_key LIMIT 1 OFFSET ?3",
                                        name_, before, offset);
        std::int64_t n = 0;
        if (last) {
            n = after ? db_->execute("DELETE FROM sturdy_ledger WHERE namespace = ?1 AND marked_at < ?2 AND "
                                     "item_key > ?3 AND item_key <= ?4",
                                     name_, before, *after, *last)
                      : db_->execute("DELETE FROM sturdy_ledger WHERE namespace = ?1 AND marked_at < ?2 AND "
                                     "item_key <= ?3",
                                     name_, before, *last);
        } else { // fewer than a batch left
            n = after
                    ? db_->execute("DELETE FROM sturdy_ledger WHERE namespace = ?1 AND marked_at < ?2 AND "
                                   "item_key > ?3",
                                   name_, before, *after)
                    : db_->execute("DELETE FROM sturdy_ledger WHERE namespace = ?1 AND marked_at < ?2", name_, before);
        }
        const bool more = last.has_value();
        after = last;
        return std::pair(n, more);
    });
}

} // namespace sturdy::sqlite

// --- ledgers kept by the effect's own table ------------------------------------------------

namespace sturdy::sqlite {
namespace detail {

/// How the checks of a user's table name this database; SQLite compares names case-insensitively.
inline store_detail::catalog_rules catalog_rules(const database& db) { return {"sqlite", db.path(), {}, true}; }

/// The table `name` from SQLite's pragma_* catalog: its columns and unique indexes, lower case.
STURDY_DECL store_detail::user_table read_user_table(database& db, std::string_view name)
{
    const store_detail::catalog_rules rules = catalog_rules(db);
    store_detail::user_table t{store_detail::split_qualified(name), {}, {}, {}};
    const std::string schema = t.name.schema.empty() ? "main" : t.name.schema;
    std::vector<std::string> integer_primary_key;
    int primary_key_columns = 0;
    for (auto& [column, pk, type] : db.query<std::tuple<std::string, int, std::string>>(
             "SELECT name, pk, type FROM pragma_table_info(?1, ?2)", t.name.table, schema)) {
        t.columns.push_back(store_detail::compared_name(column, rules));
        if (pk > 0) {
            ++primary_key_columns;
            if (store_detail::compared_name(type, rules) == "integer") {
                integer_primary_key.push_back(t.columns.back());
            }
        }
    }
    if (t.columns.empty()) {
        throw failure_error(sturdy::make_error_code(errc::schema_mismatch),
                            "sqlite: " + db.path() + " has no table " + store_detail::quote_qualified(t.name) +
                                ", which the ledger is to be kept in: create it before db.ledger(...)");
    }
    if (primary_key_columns == 1 && integer_primary_key.size() == 1) {
        t.unique_indexes.push_back({{}, integer_primary_key}); // the rowid: no index in index_list
    }
    for (auto& index : db.query<std::string>(
             "SELECT name FROM pragma_index_list(?1, ?2) WHERE \"unique\" = 1 AND partial = 0", t.name.table, schema)) {
        std::vector<std::string> cols;
        bool plain = true;
        for (const auto& c : db.query<std::optional<std::string>>(
                 "SELECT name FROM pragma_index_info(?1, ?2) ORDER BY seqno", index, schema)) {
            plain = plain && c.has_value();
            cols.push_back(c ? store_detail::compared_name(*c, rules) : std::string());
        }
        if (plain) { // an index on an expression cannot hold a key
            t.unique_indexes.push_back({std::move(index), std::move(cols)});
        }
    }
    return t;
}

/// The smallest of 1, 2, 4, ..., 64 that holds `n` rows.
inline std::size_t rows_for(std::size_t n)
{
    std::size_t rows = 1;
    while (rows < n && rows < 64) {
        rows *= 2;
    }
    return rows;
}

/// "(?,?),(?,?)": `rows` rows of `width` parameters.
inline std::string values_list(std::size_t rows, std::size_t width)
{
    std::string row = "(";
    for (std::size_t c = 0; c < width; ++c) {
        row += c == 0 ? "?" : ",?";
    }
    row += ")";
    std::string out;
    for (std::size_t r = 0; r < rows; ++r) {
        if (r > 0) {
            out += ',';
        }
        out += row;
    }
    return out;
}

/// A bind's result code checked (an error here is sturdy's: a parameter out of range).
inline void bound(statement& s, int rc)
{
    if (rc != SQLITE_OK) {
        fail(sqlite3_db_handle(s.handle()), rc, sqlite3_sql(s.handle()));
    }
}

inline void bind_text(statement& s, int i, const std::string& v)
{
    detail::bound(s, sqlite3_bind_text(s.handle(), i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
}

inline void bind_null(statement& s, int i) { detail::bound(s, sqlite3_bind_null(s.handle(), i)); }

} // namespace detail

STURDY_DECL unique_key_ledger database::ledger(const unique_key& spec)
{
    store_detail::require_key_columns("sqlite", spec);
    const store_detail::catalog_rules rules = detail::catalog_rules(*this);
    const store_detail::user_table t = detail::read_user_table(*this, spec.table);
    store_detail::require_columns(t, spec.columns, rules);
    const auto& index = store_detail::require_unique_index(t, spec.columns, rules).columns;
    unique_key_ledger l(*this, ledger(store_detail::failures_name(t, spec.name)));
    l.describe(t, spec);
    // SQLite names a violated index by its table and columns: "UNIQUE constraint failed: t.a, t.b".
    l.violation_ = "unique constraint failed: ";
    for (std::size_t i = 0; i < index.size(); ++i) {
        l.violation_ += i == 0 ? "" : ", ";
        l.violation_ += store_detail::compared_name(t.name.table, rules);
        l.violation_ += ".";
        l.violation_ += index[i];
    }
    return l;
}

STURDY_DECL void unique_key_ledger::lookup(std::span<const key> keys, std::vector<bool>& found) const
{
    found.assign(keys.size(), false);
    const std::size_t width = columns_.size();
    std::vector<std::string> values;
    for (std::size_t from = 0; from < keys.size(); from += 64) {
        const std::size_t n = std::min<std::size_t>(64, keys.size() - from);
        const std::size_t rows = detail::rows_for(n);
        // The keys as a VALUES list, joined to the table in that order (CROSS JOIN fixes it): one
        // index seek per key on a cursor that stays open (an EXISTS subquery would open one per key).
        std::string& sql = lookup_sql_[static_cast<std::size_t>(std::countr_zero(rows))];
        if (sql.empty()) {
            sql = "SELECT v.column1 FROM (VALUES " + detail::values_list(rows, width + 1) + ") AS v CROSS JOIN " +
                  table_ + " AS t ON ";
            for (std::size_t c = 0; c < width; ++c) {
                sql += c == 0 ? "t." : " AND t.";
                sql += quoted_[c] + " = v.column" + std::to_string(c + 2);
            }
        }
        statement& s = db_->prepare(sql);
        detail::reset_on_exit done{s, false}; // every parameter is bound below
        values.clear();
        values.reserve(n * width);
        for (std::size_t r = 0; r < n; ++r) {
            const key& k = keys[from + r];
            if (width > 1 || !k.is_integer()) {
                for (auto& v : store_detail::key_values(k, width, what_)) {
                    values.push_back(std::move(v));
                }
            }
        }
        // Bound once the vector has stopped growing: SQLITE_STATIC points into it.
        std::size_t next = 0;
        int p = 1;
        for (std::size_t r = 0; r < rows; ++r) {
            if (r >= n) {
                for (std::size_t c = 0; c <= width; ++c) {
                    detail::bind_null(s, p++);
                }
                continue;
            }
            const key& k = keys[from + r];
            detail::bound(s, sqlite3_bind_int64(s.handle(), p++, static_cast<sqlite3_int64>(from + r)));
            if (width == 1 && k.is_integer()) {
                detail::bound(s, sqlite3_bind_int64(s.handle(), p++, k.integer()));
                continue;
            }
            for (std::size_t c = 0; c < width; ++c) {
                detail::bind_text(s, p++, values[next++]);
            }
        }
        while (s.step()) {
            found[static_cast<std::size_t>(s.column<std::int64_t>(0))] = true;
        }
    }
}

STURDY_DECL bool unique_key_ledger::done_elsewhere(const std::error_code& code, std::string_view message) const
{
    if (code.category() != sqlite_category() ||
        (code.value() != SQLITE_CONSTRAINT_UNIQUE && code.value() != SQLITE_CONSTRAINT_PRIMARYKEY)) {
        return false;
    }
    const std::string text = store_detail::compared_name(message, {"sqlite", {}, {}, true});
    for (std::size_t at = text.find(violation_); at != std::string::npos; at = text.find(violation_, at + 1)) {
        const std::size_t end = at + violation_.size();
        if (end == text.size() || text[end] == ' ' || text[end] == '\n') { // not a longer column list
            return true;
        }
    }
    return false;
}

// --- marker ----------------------------------------------------------------------------------

STURDY_DECL marker_ledger database::ledger(const marker& spec)
{
    const store_detail::catalog_rules rules = detail::catalog_rules(*this);
    const store_detail::user_table t = detail::read_user_table(*this, spec.table);
    store_detail::require_marker_columns(t, spec, rules);
    marker_ledger l(*this, ledger(store_detail::failures_name(t, spec.name)));
    l.describe(t, spec);
    return l;
}

STURDY_DECL void marker_ledger::lookup(std::span<const key> keys, std::vector<bool>& found, bool done) const
{
    found.assign(keys.size(), false);
    const std::size_t width = versioned_ ? 2 : 1; // (id, version): the version only read when `done`
    for (std::size_t from = 0; from < keys.size(); from += 64) {
        const std::size_t n = std::min<std::size_t>(64, keys.size() - from);
        const std::size_t rows = detail::rows_for(n);
        std::string sql = "SELECT v.column1 FROM (VALUES " + detail::values_list(rows, width + 1) +
                          ") AS v WHERE EXISTS (SELECT 1 FROM " + table_ + " AS t WHERE t." + id_ + " = v.column2";
        if (done) {
            sql += versioned_ ? " AND t." + marker_ + " = v.column3)" : " AND t." + marker_ + " IS NOT NULL)";
        } else {
            sql += ")";
        }
        statement& s = db_->prepare(sql);
        detail::reset_on_exit reset{s, false}; // every parameter is bound
        bind_rows(s, keys, from, n, rows, 1, true);
        while (s.step()) {
            found[static_cast<std::size_t>(s.column<std::int64_t>(0))] = true;
        }
    }
}

STURDY_DECL void marker_ledger::bind_rows(statement& s, std::span<const key> keys, std::size_t from, std::size_t n,
                                          std::size_t rows, int first_parameter, bool with_index) const
{
    int p = first_parameter;
    for (std::size_t r = 0; r < rows; ++r) {
        if (r >= n) {
            for (int c = 0; c < (with_index ? 1 : 0) + (versioned_ ? 2 : 1); ++c) {
                detail::bind_null(s, p++);
            }
            continue;
        }
        const key& k = keys[from + r];
        if (with_index) {
            detail::bound(s, sqlite3_bind_int64(s.handle(), p++, static_cast<sqlite3_int64>(from + r)));
        }
        if (!versioned_) {
            if (k.is_integer()) {
                detail::bound(s, sqlite3_bind_int64(s.handle(), p++, k.integer()));
            } else {
                detail::bound(s, sqlite3_bind_text(s.handle(), p++, k.text().data(), static_cast<int>(k.text().size()),
                                                   SQLITE_STATIC));
            }
            continue;
        }
        const auto values = store_detail::key_values(k, 2, what_);
        for (const auto& v : values) {
            detail::bound(s,
                          sqlite3_bind_text(s.handle(), p++, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        }
    }
}

STURDY_DECL void marker_ledger::claim_all(std::span<const key> keys, std::vector<bool>& claimed)
{
    missing_.clear();
    if (keys.size() == 1) {
        // One key (the careful path's isolated item): one UPDATE of one row by its id, which
        // SQLite runs without the statement journal a many-row UPDATE ... FROM opens in a
        // savepoint (a temporary file: system calls per item).
        const key& k = keys.front();
        const std::string set = versioned_ ? "?2" : "CAST(strftime('%s', 'now') AS INTEGER)";
        const std::string differs = versioned_ ? " IS NOT ?2" : " IS NULL";
        statement& s = db_->prepare("UPDATE " + table_ + " SET " + marker_ + " = " + set + " WHERE " + id_ +
                                    " = ?1 AND " + marker_ + differs);
        detail::reset_on_exit reset{s};
        bind_rows(s, keys, 0, 1, 1, 1, false);
        while (s.step()) {
        }
        const bool wrote = db_->changes() > 0;
        claimed.assign(1, wrote);
        if (!wrote) { // done already, or no such row
            lookup(keys, found_, false);
            if (!found_.front()) {
                claimed.front() = true;
                missing_.push_back(k);
            }
        }
        return;
    }
    lookup(keys, found_, true);
    store_detail::claim_first_occurrences(keys, found_, claimed);
    std::vector<key> to_mark;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (claimed[i]) {
            to_mark.push_back(keys[i]);
        }
    }
    if (to_mark.empty()) {
        return;
    }
    const std::string set = versioned_ ? "v.column2" : "CAST(strftime('%s', 'now') AS INTEGER)";
    std::int64_t changed = 0;
    for (std::size_t from = 0; from < to_mark.size(); from += 64) {
        const std::size_t n = std::min<std::size_t>(64, to_mark.size() - from);
        const std::size_t rows = detail::rows_for(n);
        statement& s =
            db_->prepare("UPDATE " + table_ + " AS t SET " + marker_ + " = " + set + " FROM (VALUES " +
                         detail::values_list(rows, versioned_ ? 2 : 1) + ") AS v WHERE t." + id_ + " = v.column1");
        detail::reset_on_exit reset{s, false}; // every parameter is bound
        bind_rows(s, to_mark, from, n, rows, 1, false);
        while (s.step()) {
        }
        changed += db_->changes();
    }
    std::unordered_map<std::string, bool> ids;
    for (const auto& k : to_mark) {
        const std::string text = k.str();
        ids.try_emplace(versioned_ ? text.substr(0, text.find('/')) : text, true);
    }
    if (changed < static_cast<std::int64_t>(ids.size())) { // some have no row: confirm_all names them
        no_row(to_mark);
    }
}

} // namespace sturdy::sqlite
