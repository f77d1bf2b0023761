#pragma once
/// sturdy/store/sqlite.hpp — the SQLite store: a real database file, real transactions and
/// savepoints, a ledger and failure records in `sturdy_*` tables, named checkpoints, and rows
/// read straight into your structs. Header-only; link sqlite3 (Meson: `sturdy-sqlite`). Under
/// STURDY_SEPARATE_COMPILATION, one file of the program includes sturdy/store/sqlite_src.hpp.
///
///     sturdy::sqlite::database db("jobs.db");
///     auto ledger = db.ledger("invoice");
///     auto r = db.rows<subscription>("SELECT id, partner, amount FROM subscription WHERE active")
///            | sturdy::idempotent_by(ledger, [&](const subscription& s) { return std::tuple(s.id, period); })
///            | sturdy::chunked(db, 200)
///            | sturdy::guarded([&](const subscription& s) { db.execute("INSERT INTO invoice ...", s.id); })
///            | sturdy::drain;
///
/// Errors are `sturdy::failure_error`s whose code is in `sqlite_category()` (SQLite's extended
/// result code), except a missing table or column, which SQLite reports as a plain
/// SQLITE_ERROR and this store as `sturdy::errc::schema_mismatch`. How the loop treats them:
///   - transient, retried: SQLITE_BUSY and SQLITE_LOCKED (with their extended codes);
///   - fatal, the run stops at once with the reason and records no failure, as no item can
///     succeed until someone fixes the cause: no such table or column (`errc::schema_mismatch`),
///     a read-only database (SQLITE_READONLY: opened `read_only`, `PRAGMA query_only`, a file
///     or attached database SQLite cannot write), a corrupt file (SQLITE_CORRUPT,
///     SQLITE_NOTADB), a full disk (SQLITE_FULL, also from `PRAGMA max_page_count`);
///   - permanent, recorded against the item: everything else (constraints, a datatype
///     mismatch, an SQL function's error ...).
/// The message is SQLite's, followed by the statement that failed: "CHECK constraint failed:
/// amount >= 0 (in: INSERT INTO ...)".
/// A `database` is one connection, opened with SQLITE_OPEN_NOMUTEX (SQLite takes no lock of its
/// own per call): a database and its ledgers, statements and row ranges must be used by one
/// thread at a time. Handing them to another thread is fine when that hand-over orders the two
/// (a mutex, a queue, joining the thread); to work in parallel, open one database per thread.

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>
#include <sturdy/store/detail/ledger_kit.hpp>
#include <sturdy/store/detail/rows.hpp>
#include <sturdy/store/detail/sql_kit.hpp>
#include <sturdy/store/effect_ledger.hpp>

#include <sqlite3.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sturdy::sqlite {

// --- errors ------------------------------------------------------------------------------

/// The category of SQLite result codes (extended codes included). Busy and locked map to
/// `sturdy::transient_condition()`; read-only, corrupt, not-a-database and full map to
/// `sturdy::fatal_condition()`; everything else to the permanent condition.
STURDY_DECL const std::error_category& sqlite_category() noexcept;

/// An SQLite result code as a `std::error_code`.
STURDY_DECL std::error_code make_error_code(int rc) noexcept;

namespace detail {
/// The first 200 characters of a statement, for messages.
using ::sturdy::store_detail::abbreviated;

/// Whether SQLite's message names a table or column the schema lacks. SQLite has no result
/// code of its own for that: it is SQLITE_ERROR, as is the error a failing SQL function raises
/// for one row's bad data.
STURDY_DECL bool names_missing_schema_object(std::string_view message) noexcept;

/// Throws the connection's current error, naming the statement that failed: in
/// `sqlite_category()`, or `errc::schema_mismatch` for a missing table or column.
[[noreturn]] STURDY_DECL void fail(sqlite3* db, int rc, std::string_view sql);

[[noreturn]] STURDY_DECL void fail_open(const std::string& path, std::string why);

using ::sturdy::detail::rows::column_value;
using ::sturdy::detail::rows::is_optional;
using ::sturdy::detail::rows::is_tuple;
using ::sturdy::detail::rows::owned;
} // namespace detail

// --- statements --------------------------------------------------------------------------

/// A compiled statement. Obtained from `database::prepare` (cached, owned by the database) or
/// owned by a `row_range`. Binding: integers, bool, floating point, strings (std::string,
/// std::string_view, const char*), `sturdy::key` (integer or text), `std::optional<T>` and
/// `std::nullopt` / `nullptr` (NULL).
class statement {
public:
    STURDY_DECL statement(sqlite3* db, std::string sql, bool persistent);
    statement(statement&& other) noexcept
        : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), sql_(std::move(other.sql_))
    {
    }
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    statement& operator=(statement&&) = delete;
    STURDY_DECL ~statement();

    /// Binds `args` to parameters 1..n. `copy` makes SQLite copy strings (for statements that
    /// outlive the arguments, as a lazy row range does).
    template <class... Args> statement& bind(const Args&... args) { return bind_with(false, args...); }
    template <class... Args> statement& bind_with([[maybe_unused]] bool copy, const Args&... args)
    {
        int index = 0;
        (bind_one(++index, args, copy), ...);
        return *this;
    }

    /// Runs one step: true when a row is available, false when done. Throws on error (and
    /// resets the statement, so it holds no lock).
    STURDY_DECL bool step();

    /// Ready to run again; bindings are kept.
    void reset() noexcept { sqlite3_reset(stmt_); }

    [[nodiscard]] int column_count() const noexcept { return sqlite3_column_count(stmt_); }

    /// Column `i` (from 0) of the current row as T. A NULL read as anything but an optional
    /// is an error naming the column.
    template <class T> T column(int i) const
    {
        const int type = sqlite3_column_type(stmt_, i);
        if constexpr (detail::is_optional<T>::value) {
            if (type == SQLITE_NULL) {
                return std::nullopt;
            }
            return column<typename T::value_type>(i);
        } else {
            if (type == SQLITE_NULL) {
                null_column(i);
            }
            if constexpr (std::same_as<T, bool>) {
                return sqlite3_column_int64(stmt_, i) != 0;
            } else if constexpr (std::is_integral_v<T>) {
                return static_cast<T>(sqlite3_column_int64(stmt_, i));
            } else if constexpr (std::is_floating_point_v<T>) {
                return static_cast<T>(sqlite3_column_double(stmt_, i));
            } else if constexpr (std::same_as<T, key>) {
                if (type == SQLITE_INTEGER) {
                    return key(static_cast<std::int64_t>(sqlite3_column_int64(stmt_, i)));
                }
                return key(text(i));
            } else {
                static_assert(std::same_as<T, std::string>, "sqlite: a column reads as an arithmetic type, "
                                                            "std::string, sturdy::key or std::optional of those");
                return text(i);
            }
        }
    }

    /// The current row as `Row`: a single column type, a std::tuple/std::pair, or an aggregate
    /// struct whose fields are read in order.
    template <class Row> Row row() const
    {
        return ::sturdy::detail::rows::read<Row>([this]<class T>(int i) { return this->template column<T>(i); });
    }

    /// Checks that the statement yields as many columns as `Row` has fields.
    template <class Row> void expect_columns() const
    {
        expect_column_count(::sturdy::detail::rows::field_count<Row>());
    }

    [[nodiscard]] const std::string& sql() const noexcept { return sql_; }
    [[nodiscard]] sqlite3_stmt* handle() const noexcept { return stmt_; }

private:
    STURDY_DECL std::string text(int i) const;
    STURDY_DECL void check(int rc) const;
    /// Throws: column `i` is NULL and was not read as an optional.
    [[noreturn]] STURDY_DECL void null_column(int i) const;
    /// Throws unless the statement yields `fields` columns.
    STURDY_DECL void expect_column_count(std::size_t fields) const;

    template <class T> void bind_one(int i, const T& v, bool copy)
    {
        if constexpr (std::same_as<T, std::nullopt_t> || std::same_as<T, std::nullptr_t>) {
            check(sqlite3_bind_null(stmt_, i));
        } else if constexpr (detail::is_optional<T>::value) {
            if (v) {
                bind_one(i, *v, copy);
            } else {
                check(sqlite3_bind_null(stmt_, i));
            }
        } else if constexpr (std::same_as<T, key>) {
            if (v.is_integer()) {
                check(sqlite3_bind_int64(stmt_, i, v.integer()));
            } else {
                bind_text(i, v.text(), copy);
            }
        } else if constexpr (std::is_integral_v<T>) {
            check(sqlite3_bind_int64(stmt_, i, static_cast<sqlite3_int64>(v)));
        } else if constexpr (std::is_floating_point_v<T>) {
            check(sqlite3_bind_double(stmt_, i, static_cast<double>(v)));
        } else {
            static_assert(std::convertible_to<const T&, std::string_view>,
                          "sqlite: bind integers, floating point, strings, sturdy::key, std::optional or "
                          "std::nullopt / nullptr");
            bind_text(i, std::string_view(v), copy);
        }
    }

    STURDY_DECL void bind_text(int i, std::string_view s, bool copy);

    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
};

namespace detail {
/// Resets a statement when a use of it ends, even by an exception, so it holds no lock.
/// Bindings are cleared too, as they may point to arguments that are about to die, unless
/// `clear` is false: for the ledger's own statements, which bind every parameter before each
/// step, so a stale binding is never read (and clearing would cost ~70 instructions per item).
struct reset_on_exit {
    statement& s;
    bool clear = true;
    STURDY_DECL ~reset_on_exit();
};
} // namespace detail

template <class Row> class row_range;
class database;

// --- database ----------------------------------------------------------------------------

enum class journal_mode { wal, delete_, truncate, persist, memory, off };
enum class synchronous_mode { off, normal, full, extra };

/// How to open a database.
struct options {
    std::chrono::milliseconds busy_timeout{5000}; ///< how long a statement waits for another connection's lock
    journal_mode journal = journal_mode::wal;     ///< WAL: readers never block the writer
    synchronous_mode synchronous = synchronous_mode::normal; ///< NORMAL is durable enough with WAL
    bool create = true;                                      ///< create the file when it does not exist
    bool read_only = false; ///< open read-only; every write then fails (fatally: it stops a run)
};

class ledger;
class unique_key_ledger;
class marker_ledger;

/// One connection to an SQLite file. Models `sturdy::transaction`; not copyable or movable
/// (ledgers, statements and row ranges point to it).
class database : public store_detail::database_kit<database> {
public:
    /// Opens (or creates) `path`, sets the busy timeout, journal mode, synchronous level and
    /// `foreign_keys=ON`. Throws `errc::store_unavailable` with the fix when the directory is
    /// missing, the file is read-only (and `read_only` was not asked for) or is not a database
    /// (which is left untouched), and `errc::schema_mismatch` when its sturdy tables come from a
    /// newer sturdy.
    STURDY_DECL explicit database(std::string path, options opts = {});

    STURDY_DECL ~database(); // not copyable or movable: database_kit

    // --- statements ----------------------------------------------------------------------

    /// The compiled statement for `sql`, compiled on first use and cached by its text: the same
    /// text always gives the same object.
    STURDY_DECL statement& prepare(std::string_view sql);

    /// Binds `args`, runs `sql` to completion (rows, if any, are ignored) and returns the
    /// number of rows it changed.
    template <class... Args> std::int64_t execute(std::string_view sql, const Args&... args)
    {
        auto& s = prepare(sql);
        detail::reset_on_exit done{s};
        s.bind(args...);
        while (s.step()) {
        }
        return sqlite3_changes64(db_);
    }

    /// Runs one or more statements with no parameters (DDL, scripts). Not cached.
    STURDY_DECL void exec(const std::string& sql);

    /// Every row of `sql` as `Row` (a column type, a tuple or an aggregate), read at once.
    template <class Row, class... Args> std::vector<Row> query(std::string_view sql, const Args&... args)
    {
        auto& s = prepare(sql);
        s.expect_columns<Row>();
        detail::reset_on_exit done{s};
        s.bind(args...);
        std::vector<Row> out;
        while (s.step()) {
            out.push_back(s.row<Row>());
        }
        return out;
    }

    /// The first row of `sql`, or nullopt when there is none.
    template <class Row, class... Args> std::optional<Row> query_one(std::string_view sql, const Args&... args)
    {
        auto& s = prepare(sql);
        s.expect_columns<Row>();
        detail::reset_on_exit done{s};
        s.bind(args...);
        if (!s.step()) {
            return std::nullopt;
        }
        return s.row<Row>();
    }

    /// The rows of `sql` as a lazy input range of `Row`, to pipe into sturdy adaptors. The
    /// arguments are copied. See `row_range` about reading while writing.
    template <class Row, class... Args> row_range<Row> rows(std::string sql, const Args&... args)
    {
        return row_range<Row>(*this, std::move(sql), args...);
    }

    [[nodiscard]] std::int64_t last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }
    [[nodiscard]] std::int64_t changes() const noexcept { return sqlite3_changes64(db_); }
    /// The raw connection, for anything this class does not wrap.
    [[nodiscard]] sqlite3* handle() const noexcept { return db_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    // --- transaction ---------------------------------------------------------------------

    /// BEGIN IMMEDIATE: takes the write lock now, so a busy database fails here (transiently)
    /// rather than halfway through a chunk.
    STURDY_DECL void begin();

    /// COMMIT. If it fails the transaction stays open (roll it back, or retry).
    STURDY_DECL void commit();

    /// ROLLBACK: undoes everything since begin(); open savepoint guards become inert.
    STURDY_DECL void rollback();

    [[nodiscard]] bool in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

    // savepoint(): store_detail::database_kit (SAVEPOINT spN, N = nesting depth; outside a
    // transaction it begins one with BEGIN IMMEDIATE, and releasing the guard commits).

    // --- ledger and checkpoints ----------------------------------------------------------

    /// The ledger of job `name` (its namespace in `sturdy_ledger` / `sturdy_failure`),
    /// creating the sturdy tables on first use: in their own transaction, or in yours if one is
    /// open (then a lazy range begun after it reads its rows at once, see `row_range`, and one
    /// already reading on this connection is refused with `usage_error`).
    sqlite::ledger ledger(std::string name);

    /// A ledger kept by the effect's own table (sturdy/store/effect_ledger.hpp): a key is done
    /// when `spec.table` has a row with its values in `spec.columns`. Checks now that the table
    /// and columns exist and that a unique index covers exactly those columns: otherwise throws
    /// `errc::schema_mismatch` naming them and the `CREATE UNIQUE INDEX` to add.
    STURDY_DECL sqlite::unique_key_ledger ledger(const unique_key& spec);

    /// A ledger kept in a marker column of the items' own table (sturdy/store/effect_ledger.hpp).
    /// Checks now that the table and its two columns exist and that the id column is unique.
    STURDY_DECL sqlite::marker_ledger ledger(const marker& spec);

    // checkpoint(name), set_checkpoint(name, value) and schema_version: store_detail::database_kit.

    /// Creates or migrates the `sturdy_*` tables; cheap once done. Throws
    /// `errc::schema_mismatch` for tables from a newer sturdy. Tables created inside a
    /// transaction or savepoint that is then rolled back (by this class, or by a ROLLBACK it
    /// did not run) are created again on next use.
    STURDY_DECL void ensure_schema();

private:
    struct savepoint_level {
        statement* save;
        statement* release;
        statement* rollback_to;
    };

    static constexpr const char* schema_v1 = R"sql(
        CREATE TABLE IF NOT EXISTS sturdy_schema(version INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS sturdy_ledger(
            namespace TEXT NOT NULL,
            item_key NOT NULL,              -- no type: integer keys stay integers; 5 and '5' are different keys
            marked_at INTEGER NOT NULL,     -- unix seconds
            PRIMARY KEY(namespace, item_key)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS sturdy_failure(
            namespace TEXT NOT NULL,
            item_key NOT NULL,
            runs INTEGER NOT NULL,
            first_failed INTEGER NOT NULL,
            last_failed INTEGER NOT NULL,
            last_reason TEXT NOT NULL,
            quarantined INTEGER NOT NULL,
            PRIMARY KEY(namespace, item_key)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS sturdy_checkpoint(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    )sql";

    STURDY_DECL static const char* journal_name(journal_mode m);
    STURDY_DECL static const char* synchronous_name(synchronous_mode m);

    STURDY_DECL void configure();

    STURDY_DECL std::optional<int> stored_schema_version();

    template <class Row> friend class row_range;
    friend class store_detail::savepoint_guard<database>;

    // The connection a lazy range reads on; see row_range.
    STURDY_DECL sqlite3* cursor_connection();

    STURDY_DECL void run(statement& s);

    STURDY_DECL savepoint_level& level(std::size_t depth);

    STURDY_DECL void require_transaction(const char* what) const;

    STURDY_DECL void end_transaction(bool committed);
    // The dialect's savepoint statements, for store_detail::savepoint_guard.
    STURDY_DECL void open_savepoint(std::size_t depth);
    STURDY_DECL void release_savepoint(std::size_t depth);
    STURDY_DECL void rollback_to_savepoint(std::size_t depth);
    STURDY_DECL void release_rolled_back(std::size_t depth);

    std::string path_;
    options options_;
    sqlite3* db_ = nullptr;
    sqlite3* reader_ = nullptr; ///< opened on first use by a lazy range
    bool wal_ = false;
    store_detail::by_text<std::unique_ptr<statement>> statements_;
    std::array<statement*, 8> recent_{}; ///< the statements prepare() returned last, looked at first
    std::size_t recent_next_ = 0;
    std::vector<savepoint_level> levels_;
    // book_ (database_kit): schema_ready stays false while the tables' creation is not committed.
    // The sturdy tables were created in the open transaction: SQLite then aborts the
    // connection's pending reads at each ROLLBACK TO, so a lazy range reads its rows at once.
    bool schema_changed_in_transaction_ = false;
};

// --- lazy rows ---------------------------------------------------------------------------

/// A lazy, single-pass input range of `Row`s: the statement is compiled when `begin()` is
/// first called (once per range, never per row) and each `++` steps it. Must not outlive its
/// database.
/// Where it reads: in WAL mode, when no transaction is open at `begin()`, through a second,
/// read-only connection to the same file. Its snapshot is the data committed when reading
/// started: rows the loop writes are not seen, and chunks commit on the main connection as if
/// no read were pending (a read pending on the writing connection would pin its snapshot, so
/// once another process committed, every later BEGIN would fail with SQLITE_BUSY_SNAPSHOT).
/// Inside a transaction (a test's, or `no_commit`'s) it reads on the main connection and so
/// sees that transaction's uncommitted rows; whether it sees rows the loop itself writes to
/// the table being read is then up to SQLite. One exception: when that transaction created the
/// sturdy tables (the first `ledger()` or `checkpoint()` on a fresh file, inside a test's
/// transaction), SQLite aborts the connection's pending reads at every ROLLBACK TO, a failed
/// item's included, so the range reads all its rows when `begin()` is called (memory O(rows)
/// for that run). Your own CREATE or ALTER inside the transaction has the same effect on SQLite's
/// side, which sturdy does not see: commit the schema first. In WAL mode a long read keeps the
/// WAL from being checkpointed past its snapshot until the range is finished or destroyed.
template <class Row> class row_range : public store_detail::current_row<Row> {
public:
    using iterator = store_detail::row_iterator<row_range, Row>;

    template <class... Args> row_range(database& db, std::string sql, const Args&... args)
        : db_(&db), sql_(std::move(sql)),
          bind_([... kept = detail::owned(args)](statement& s) { s.bind_with(true, kept...); })
    {
    }

    /// The first row; the range is single-pass, so later calls continue where reading is.
    iterator begin();

private:
    friend iterator;
    using store_detail::current_row<Row>::current_;
    void advance()
    {
        if (buffered_) {
            if (next_ < buffered_->size()) {
                current_ = std::move((*buffered_)[next_++]);
            } else {
                current_.reset();
                buffered_.reset();
            }
            return;
        }
        if (stmt_->step()) {
            current_ = stmt_->row<Row>();
        } else {
            current_.reset();
            stmt_->reset(); // done: release the read snapshot now, not at destruction
        }
    }

    database* db_;
    std::string sql_;
    std::function<void(statement&)> bind_;
    std::optional<statement> stmt_;
    std::optional<std::vector<Row>> buffered_; ///< rows read at once (see database::schema_changed_in_transaction_)
    std::size_t next_ = 0;
};

// --- ledger ------------------------------------------------------------------------------

/// A job's ledger in `sturdy_ledger` (done keys, unique per namespace and key) and
/// `sturdy_failure` (failure records). Models `sturdy::failure_ledger`. Every write goes
/// through a cached statement in the database's current transaction. `name()`, `size()` and
/// `requeue_all()` are store_detail::ledger_members'. Copyable; must not outlive its database.
class ledger : public store_detail::ledger_members<database> {
public:
    /// Whether `k` is done.
    [[nodiscard]] STURDY_DECL bool contains(const key& k) const;

    /// Marks `k` done; a key already marked is a constraint error (permanent).
    STURDY_DECL void mark(const key& k);

    /// Marks `k` done unless it already is, in one statement; true when this call marked it.
    /// What the loop runs before an item's effect, in the same scope (the fast chunk's
    /// transaction, or a savepoint on the careful path): if the effect fails, rolling that scope
    /// back removes the mark with it. Half the statements of `contains` followed by `mark`.
    STURDY_DECL bool claim(const key& k);

    /// Every failure record, quarantined or not, ordered by key.
    [[nodiscard]] STURDY_DECL std::vector<failure_info> failures() const;

    /// One more failed run for `k`; quarantined once runs >= quarantine_after.
    STURDY_DECL failure_info record_failure(const key& k, std::string_view reason, int quarantine_after);

    /// Forgets `k`'s failures (after a success).
    STURDY_DECL void clear_failure(const key& k);

    /// Gives `k` a fresh start (runs 0, not quarantined); false if it has no failure record.
    STURDY_DECL bool requeue(const key& k);

    /// Retention: forgets the done marks written before `cutoff` and returns how many it
    /// forgot. A mark's time is `marked_at`, the Unix second `mark` or `claim` wrote it in; a
    /// mark of the second `cutoff` falls in stays. Failure records (retries, quarantine) stay.
    ///
    /// The rule that makes it safe: forget only keys the input can no longer produce. A
    /// forgotten key is no longer done, so if the input yields it again its effect runs again.
    /// Safe when the keys carry what makes them unique in time and the input has moved past
    /// them: a period or version in the key (`(subscription, "2024-05")`, `(contact,
    /// write_date)`) that the input reads no more, because its query or its watermark
    /// (`sturdy::watermark`'s checkpoint) has passed it. Not safe for a ledger whose keys the
    /// input keeps producing (a plain id over a whole table): there the mark is all that stops
    /// the work being done again, however old it is.
    ///
    /// Batches: each batch forgets at most `batch` marks (the next ones in key order, older
    /// than `cutoff`). Outside a transaction each batch is a transaction of its own (BEGIN
    /// IMMEDIATE ... COMMIT), so a job writing to the same file waits at most one batch; inside
    /// your transaction every batch runs in it, and commits or rolls back with it. If a batch
    /// fails, the batches committed before it stay forgotten: call again. `batch` must be at
    /// least 1 (`usage_error`).
    /// Cost: two statements per batch; together they read the namespace's marks once, in key
    /// order (each batch starts after the last key of the one before; there is no index on
    /// `marked_at`, which would slow down every `mark` and `claim`).
    STURDY_DECL std::size_t forget_marked_before(std::chrono::system_clock::time_point cutoff,
                                                 std::size_t batch = 10'000);

private:
    friend class database;
    // The statements every item runs are looked up once, not per item.
    STURDY_DECL ledger(database& db, std::string name);

    statement* contains_;
    statement* mark_;
    statement* claim_;
};

/// The unique-key form of a ledger kept by the effect's own table (sturdy/store/effect_ledger.hpp),
/// made by `db.ledger(sturdy::unique_key{...})`. Models `sturdy::confirming_ledger` and
/// `sturdy::failure_ledger` (its failure records are in `sturdy_failure`). `claim_all` and
/// `confirm_all` look their keys up in one statement per 64 keys; `contains`, `mark` and
/// `claim` in one (store_detail::unique_key_ledger_base: what the SQL stores share). Copyable;
/// must not outlive its database.
class unique_key_ledger : public store_detail::unique_key_ledger_base<unique_key_ledger, sqlite::ledger> {
public:
    /// Whether an effect's failure is a violation of this ledger's unique index: another writer's
    /// row for the same key.
    [[nodiscard]] STURDY_DECL bool done_elsewhere(const std::error_code& code, std::string_view message) const;

private:
    friend class database;
    friend class store_detail::unique_key_ledger_base<unique_key_ledger, sqlite::ledger>;
    unique_key_ledger(database& db, sqlite::ledger failures) : unique_key_ledger_base(std::move(failures)), db_(&db) {}
    /// found[i]: keys[i] has its row.
    STURDY_DECL void lookup(std::span<const key> keys, std::vector<bool>& found) const;

    database* db_;
    std::string violation_;                         ///< SQLite's message for a violation of the index, lower case
    mutable std::array<std::string, 7> lookup_sql_; ///< by log2 of the rows (1 ... 64) in its VALUES list
};

/// The marker form of a ledger kept by the items' own table (sturdy/store/effect_ledger.hpp),
/// made by `db.ledger(sturdy::marker{...})`. Models `sturdy::confirming_ledger` and
/// `sturdy::failure_ledger`; `contains`, `mark`, `claim`, `confirm_all` (no statement: the
/// keys the last claim found no row for) are store_detail::marker_ledger_base's. Copyable;
/// must not outlive its database.
class marker_ledger : public store_detail::marker_ledger_base<marker_ledger, sqlite::ledger> {
public:
    /// One statement reads which keys are done, one writes the others' markers (per 64 keys).
    STURDY_DECL void claim_all(std::span<const key> keys, std::vector<bool>& claimed);

private:
    friend class database;
    friend class store_detail::marker_ledger_base<marker_ledger, sqlite::ledger>;
    marker_ledger(database& db, sqlite::ledger failures) : marker_ledger_base(std::move(failures)), db_(&db) {}
    /// Binds `keys[from, from + n)` as rows (index, id[, version]) of a VALUES list of `rows`.
    void bind_rows(statement& s, std::span<const key> keys, std::size_t from, std::size_t n, std::size_t rows,
                   int first_parameter, bool with_index) const;
    /// found[i]: keys[i]'s row exists (`done` false) or has its marker (`done` true).
    STURDY_DECL void lookup(std::span<const key> keys, std::vector<bool>& found, bool done) const;

    database* db_;
};

template <class Row> typename row_range<Row>::iterator row_range<Row>::begin()
{
    if (!stmt_) {
        sqlite3* const connection = db_->cursor_connection();
        stmt_.emplace(connection, sql_, false);
        stmt_->template expect_columns<Row>();
        bind_(*stmt_);
        if (connection == db_->db_ && db_->schema_changed_in_transaction_) {
            buffered_.emplace();
            while (stmt_->step()) {
                buffered_->push_back(stmt_->template row<Row>());
            }
            stmt_->reset();
        }
        advance();
    }
    return iterator(this);
}

static_assert(sturdy::transaction<database>);
static_assert(sturdy::failure_ledger<ledger>);
static_assert(sturdy::claiming_ledger<ledger>);
static_assert(sturdy::confirming_ledger<unique_key_ledger> && sturdy::failure_ledger<unique_key_ledger>);
static_assert(sturdy::confirming_ledger<marker_ledger> && sturdy::failure_ledger<marker_ledger>);

} // namespace sturdy::sqlite

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/store/impl/sqlite.ipp>
#endif
