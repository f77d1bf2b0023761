#pragma once
/// sturdy/store/postgres.hpp — the PostgreSQL store, on libpq: real transactions and
/// savepoints, a ledger and failure records in `sturdy_*` tables, named checkpoints, and rows
/// read straight into your structs. Header-only; link libpq (Meson: `sturdy-postgres`). Under
/// STURDY_SEPARATE_COMPILATION, one file of the program includes sturdy/store/postgres_src.hpp.
///
///     sturdy::postgres::database db("postgresql://app@db.example/erp");
///     auto ledger = db.ledger("invoice");
///     auto r = db.rows<subscription>("SELECT id, partner, amount FROM subscription WHERE active")
///            | sturdy::idempotent_by(ledger, [&](const subscription& s) { return std::tuple(s.id, period); })
///            | sturdy::chunked(db, 200)
///            | sturdy::guarded([&](const subscription& s) {
///                  db.execute("INSERT INTO invoice(subscription_id, period) VALUES($1, $2)", s.id, period);
///              })
///            | sturdy::drain;
///
/// The same job runs on `sturdy::sqlite::database` by changing the store's type: write
/// parameters as `$1`, `$2` ... (SQLite accepts them too). A statement given more arguments
/// than it numbers, with a `?` outside its literals, quoted identifiers and comments (SQLite's
/// `?` placeholders), throws `sturdy::usage_error` naming the fix when first run, instead of
/// reaching the server as a syntax error; `?` is never rewritten, so jsonb's `?`, `?|` and `?&`
/// operators keep their meaning. Statements are prepared once per
/// connection and cached by their text and parameter types. Parameters are typed, in binary:
/// integers up to 32 bits (int, short) as int4, wider ones (std::int64_t, long) as int8,
/// floating point as float8, bool as bool; strings go as text whose type the server infers from
/// the statement, as for a quoted literal.
///
/// Errors are `sturdy::failure_error`s whose code is in `postgres_category()`, one value per
/// SQLSTATE (`sqlstate(code)` gives it back). Serialization failures (40001), deadlocks (40P01),
/// lock and statement timeouts (55P03, 57014), connection failures (class 08) and server
/// shutdowns (57P01-57P03) are transient, so sturdy retries them; a missing table or column
/// (42P01, 42703), permission denied (42501), a read-only transaction (25006), a full disk
/// (53100), a missing database (3D000) or a refused login (class 28) are fatal: the run stops
/// at once; everything else (constraints, bad data ...) is
/// permanent: that item fails alone. The message is the server's, followed by the statement:
/// "new row for relation "invoice_line" violates check constraint ... (in: INSERT INTO ...)".
///
/// A lost connection (the server restarted, the backend was terminated) fails the statement in
/// flight with a transient error; the transaction it was in is lost, and the next `begin()`, or
/// the next statement outside a transaction, reconnects (bounded attempts with backoff, see
/// `options`). A `database` is one connection (plus one for reading lazy row ranges): use it
/// from one thread at a time.

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>
#include <sturdy/store/detail/ledger_kit.hpp>
#include <sturdy/store/detail/rows.hpp>
#include <sturdy/store/detail/sql_kit.hpp>
#include <sturdy/store/effect_ledger.hpp>

#include <libpq-fe.h>

#include <array>
#include <bit>
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

namespace sturdy::postgres {

// --- errors ------------------------------------------------------------------------------

/// The category of PostgreSQL errors: one value per SQLSTATE (see the header comment for how
/// they map onto sturdy's transient, permanent and fatal conditions).
STURDY_DECL const std::error_category& postgres_category() noexcept;

/// A SQLSTATE ("40001") as a `std::error_code`.
STURDY_DECL std::error_code make_error_code(std::string_view sqlstate) noexcept;

/// The SQLSTATE of a code in `postgres_category()`, or "" for another category.
STURDY_DECL std::string sqlstate(const std::error_code& code);

namespace detail {
/// The first 200 characters of a statement, for messages.
using ::sturdy::store_detail::abbreviated;

/// Throws the error `res` (or, when it holds none, the connection's) carries, naming `sql`.
[[noreturn]] STURDY_DECL void fail(PGconn* conn, const PGresult* res, std::string_view sql);

/// Throws a lost-connection error (08006) for `sql`.
[[noreturn]] STURDY_DECL void fail_connection(PGconn* conn, std::string_view sql);

/// What a statement's text holds outside string literals (standard, E'...', dollar-quoted),
/// quoted identifiers and comments: its `?` characters and its highest parameter number $n.
struct placeholders {
    std::size_t question_marks = 0; ///< `?` characters (a placeholder elsewhere; jsonb's ?, ?| and ?& here)
    std::size_t first_question = 0; ///< the offset of the first one
    int highest = 0;                ///< the highest $n (0: none)
};
STURDY_DECL placeholders scan_placeholders(std::string_view sql);

/// Throws `usage_error` when `sql` is given more arguments than it numbers ($1 ... $n) and has
/// `?` outside literals and comments: it was written with another store's `?` placeholders,
/// which PostgreSQL does not know. A statement PostgreSQL accepts is never refused for its `?`
/// operators: they are refused only alongside arguments no $n reads.
STURDY_DECL void check_placeholders(std::string_view sql, int arguments);

using ::sturdy::detail::rows::column_value;
using ::sturdy::detail::rows::is_optional;
using ::sturdy::detail::rows::is_tuple;
using ::sturdy::detail::rows::owned;

/// Type OIDs of the parameters sturdy sends (pg_type.h).
inline constexpr Oid bool_oid = 16;
inline constexpr Oid int8_oid = 20;
inline constexpr Oid int4_oid = 23;
inline constexpr Oid float8_oid = 701;
inline constexpr Oid unknown_oid = 0; ///< texts: the server infers their type, as for a literal

/// One statement's parameters, packed for PQexecPrepared: integers, floating point and bool in
/// binary, texts as NUL-terminated text.
template <std::size_t N> struct params {
    std::array<Oid, N> types{};
    std::array<const char*, N> values{};
    std::array<int, N> lengths{};
    std::array<int, N> formats{};
    std::array<std::array<char, 8>, N> binary{};
    std::array<std::string, N> copies{}; ///< texts that were not NUL-terminated

    template <class... Args> explicit params(const Args&... args)
    {
        std::size_t i = 0;
        (set(i++, args), ...);
    }

    template <class T> void set(std::size_t i, const T& v)
    {
        if constexpr (std::same_as<T, std::nullopt_t> || std::same_as<T, std::nullptr_t>) {
            types[i] = unknown_oid;
            values[i] = nullptr;
        } else if constexpr (is_optional<T>::value) {
            if (v) {
                set(i, *v);
            } else {
                types[i] = unknown_oid;
                values[i] = nullptr;
            }
        } else if constexpr (std::same_as<T, key>) {
            if (v.is_integer()) {
                set(i, v.integer());
            } else {
                set(i, v.text());
            }
        } else if constexpr (std::same_as<T, bool>) {
            types[i] = bool_oid;
            binary[i][0] = v ? 1 : 0;
            values[i] = binary[i].data();
            lengths[i] = 1;
            formats[i] = 1;
        } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T> && sizeof(T) <= 4) {
            // int4, so that functions taking integer (pg_terminate_backend($1)) resolve; the
            // server widens it wherever a bigint is wanted.
            types[i] = int4_oid;
            const auto u = static_cast<std::uint32_t>(static_cast<std::int32_t>(v));
            for (std::size_t b = 0; b < 4; ++b) {
                binary[i][b] = static_cast<char>((u >> (8U * (3 - b))) & 0xffU);
            }
            values[i] = binary[i].data();
            lengths[i] = 4;
            formats[i] = 1;
        } else if constexpr (std::is_integral_v<T>) {
            types[i] = int8_oid;
            store_be(i, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)));
        } else if constexpr (std::is_floating_point_v<T>) {
            types[i] = float8_oid;
            store_be(i, std::bit_cast<std::uint64_t>(static_cast<double>(v)));
        } else if constexpr (std::same_as<T, std::string>) {
            types[i] = unknown_oid;
            values[i] = v.c_str();
        } else if constexpr (std::same_as<std::decay_t<T>, const char*> || std::same_as<std::decay_t<T>, char*>) {
            types[i] = unknown_oid;
            values[i] = v;
        } else {
            static_assert(std::convertible_to<const T&, std::string_view>,
                          "postgres: bind integers, bool, floating point, strings, sturdy::key, std::optional "
                          "or std::nullopt / nullptr");
            types[i] = unknown_oid;
            copies[i] = std::string(std::string_view(v));
            values[i] = copies[i].c_str();
        }
    }

    void store_be(std::size_t i, std::uint64_t u)
    {
        for (int b = 7; b >= 0; --b) {
            binary[i][static_cast<std::size_t>(b)] = static_cast<char>(u & 0xffU);
            u >>= 8U;
        }
        values[i] = binary[i].data();
        lengths[i] = 8;
        formats[i] = 1;
    }
};

/// A view of packed parameters, for the non-template code that sends them.
struct param_view {
    int count = 0;
    const Oid* types = nullptr;
    const char* const* values = nullptr;
    const int* lengths = nullptr;
    const int* formats = nullptr;

    template <std::size_t N> static param_view of(const params<N>& p)
    {
        return {static_cast<int>(N), p.types.data(), p.values.data(), p.lengths.data(), p.formats.data()};
    }
};

/// Owns a PGresult.
struct result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;
} // namespace detail

// --- results -----------------------------------------------------------------------------

/// The rows of one statement (read in text format). `row<Row>(r)` converts row `r`.
class result {
public:
    explicit result(detail::result_ptr res, std::string_view sql) : res_(std::move(res)), sql_(sql) {}

    [[nodiscard]] int rows() const noexcept { return PQntuples(res_.get()); }
    [[nodiscard]] int columns() const noexcept { return PQnfields(res_.get()); }
    /// Rows the command changed (INSERT, UPDATE, DELETE ...), 0 for others.
    [[nodiscard]] STURDY_DECL std::int64_t changed() const;

    /// Column `c` (from 0) of row `r` as T. A NULL read as anything but an optional is an error
    /// naming the column.
    template <class T> T column(int r, int c) const
    {
        if constexpr (detail::is_optional<T>::value) {
            if (PQgetisnull(res_.get(), r, c) != 0) {
                return std::nullopt;
            }
            return column<typename T::value_type>(r, c);
        } else {
            if (PQgetisnull(res_.get(), r, c) != 0) {
                null_column(c);
            }
            if constexpr (std::same_as<T, bool>) {
                return boolean(r, c);
            } else if constexpr (std::is_integral_v<T>) {
                return static_cast<T>(integer(r, c));
            } else if constexpr (std::is_floating_point_v<T>) {
                return static_cast<T>(floating(r, c));
            } else if constexpr (std::same_as<T, key>) {
                return key_value(r, c);
            } else {
                static_assert(std::same_as<T, std::string>, "postgres: a column reads as an arithmetic type, "
                                                            "std::string, sturdy::key or std::optional of those");
                return text(r, c);
            }
        }
    }

    /// Row `r` as `Row`: a single column type, a std::tuple/std::pair, or an aggregate struct
    /// whose fields are read in order.
    template <class Row> Row row(int r) const
    {
        return ::sturdy::detail::rows::read<Row>([this, r]<class T>(int c) { return this->template column<T>(r, c); });
    }

    /// Checks that the statement yields as many columns as `Row` has fields.
    template <class Row> void expect_columns() const
    {
        expect_column_count(::sturdy::detail::rows::field_count<Row>());
    }

    [[nodiscard]] PGresult* handle() const noexcept { return res_.get(); }

private:
    [[nodiscard]] STURDY_DECL std::string_view raw(int r, int c) const;
    [[nodiscard]] STURDY_DECL bool boolean(int r, int c) const;
    [[nodiscard]] STURDY_DECL std::int64_t integer(int r, int c) const;
    [[nodiscard]] STURDY_DECL double floating(int r, int c) const;
    [[nodiscard]] STURDY_DECL key key_value(int r, int c) const;
    [[nodiscard]] STURDY_DECL std::string text(int r, int c) const;
    [[noreturn]] STURDY_DECL void null_column(int c) const;
    [[noreturn]] STURDY_DECL void bad_value(int r, int c, const char* wanted) const;
    STURDY_DECL void expect_column_count(std::size_t fields) const;

    detail::result_ptr res_;
    std::string_view sql_; ///< for messages; the statement's text outlives its results' use
};

// --- database ----------------------------------------------------------------------------

/// How to connect.
struct options {
    /// How long one connection attempt may take before it fails (libpq's `connect_timeout`,
    /// used unless the connection string sets its own). Never a hang: bad hosts, silent
    /// servers and firewalls fail within it.
    std::chrono::seconds connect_timeout{10};
    /// After a lost connection: how many times to try reconnecting, waiting `reconnect_delay`
    /// before the first retry and twice as long before each next one (capped at 5 s). When
    /// every attempt failed, the error is `errc::store_unavailable` (fatal: the run stops).
    int reconnect_attempts = 6;
    std::chrono::milliseconds reconnect_delay{100};
    /// How the store waits between reconnect attempts; empty: a real sleep. A job that injects
    /// a clock passes the same one here, e.g. `[&](auto d) { clock.sleep_for(d); }` with the
    /// `sturdy::manual_clock` it gives `with_clock`, so that a test's reconnects never wait.
    std::function<void(std::chrono::milliseconds)> sleep{};
    /// Shown in pg_stat_activity unless the connection string sets `application_name`.
    std::string application_name = "sturdy";
};

class ledger;
class unique_key_ledger;
class marker_ledger;
class database;
template <class Row> class row_range;
namespace detail {
class cursor;
} // namespace detail

/// A prepared statement: its text, its parameter types, and the connection it was prepared on
/// (re-prepared on first use after a reconnect). Owned by its database.
class statement {
public:
    statement(std::string sql, std::vector<Oid> types, std::string name)
        : sql_(std::move(sql)), types_(std::move(types)), name_(std::move(name))
    {
    }
    [[nodiscard]] const std::string& sql() const noexcept { return sql_; }
    [[nodiscard]] const std::vector<Oid>& types() const noexcept { return types_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
    friend class database;
    std::string sql_;
    std::vector<Oid> types_;
    std::string name_;
    std::uint64_t prepared_on_ = 0; ///< the connection's number; 0: not prepared yet
};

/// One connection to a PostgreSQL database. Models `sturdy::transaction`; not copyable or
/// movable (ledgers and row ranges point to it).
class database : public store_detail::database_kit<database> {
public:
    /// Connects to `conninfo`: a libpq URI (postgresql://user:password@host:5432/dbname?...) or
    /// key=value pairs ("host=... dbname=..."); empty means libpq's defaults (PGHOST, PGDATABASE
    /// ...). Fails within `opts.connect_timeout` with `errc::store_unavailable`, naming what was
    /// tried (password masked) and what to fix: a bad connection string, an unknown host, no
    /// server listening, refused authentication, a missing database. Throws
    /// `errc::schema_mismatch` when the database holds sturdy tables from a newer sturdy.
    STURDY_DECL explicit database(std::string conninfo, options opts = {});

    STURDY_DECL ~database(); // not copyable or movable: database_kit

    // --- statements ----------------------------------------------------------------------

    /// Binds `args` ($1, $2 ...), runs `sql` and returns the number of rows it changed. Here and
    /// in `query`, `query_one` and `rows`: `sql` with `?` placeholders (more arguments than $n,
    /// and a `?` outside literals and comments) throws `usage_error`.
    template <class... Args> std::int64_t execute(std::string_view sql, const Args&... args)
    {
        const detail::params<sizeof...(Args)> p(args...);
        return run(sql, detail::param_view::of(p)).changed();
    }

    /// Runs one or more statements with no parameters (DDL, scripts), in one round trip. Not
    /// prepared.
    STURDY_DECL void exec(const std::string& sql);

    /// Every row of `sql` as `Row` (a column type, a tuple or an aggregate), read at once.
    template <class Row, class... Args> std::vector<Row> query(std::string_view sql, const Args&... args)
    {
        const detail::params<sizeof...(Args)> p(args...);
        const result res = run(sql, detail::param_view::of(p));
        res.expect_columns<Row>();
        std::vector<Row> out;
        out.reserve(static_cast<std::size_t>(res.rows()));
        for (int r = 0; r < res.rows(); ++r) {
            out.push_back(res.row<Row>(r));
        }
        return out;
    }

    /// The first row of `sql`, or nullopt when there is none.
    template <class Row, class... Args> std::optional<Row> query_one(std::string_view sql, const Args&... args)
    {
        const detail::params<sizeof...(Args)> p(args...);
        const result res = run(sql, detail::param_view::of(p));
        res.expect_columns<Row>();
        if (res.rows() == 0) {
            return std::nullopt;
        }
        return res.row<Row>(0);
    }

    /// The rows of `sql` as a lazy input range of `Row`, to pipe into sturdy adaptors, read in
    /// batches through a cursor. The arguments are copied. See `row_range` for where it reads.
    template <class Row, class... Args> row_range<Row> rows(std::string sql, const Args&... args)
    {
        return row_range<Row>(*this, std::move(sql), args...);
    }

    /// Runs `sql` with packed parameters through its prepared statement (prepared on first use
    /// on this connection). What execute, query and query_one call.
    STURDY_DECL result run(std::string_view sql, detail::param_view p);

    /// How many statements are prepared (cached) on this database: one per text and parameter
    /// types.
    [[nodiscard]] std::size_t prepared_statements() const noexcept { return prepared_count_; }

    /// The raw connection, for anything this class does not wrap.
    [[nodiscard]] PGconn* handle() const noexcept { return conn_; }
    /// The server process serving this connection (pg_backend_pid()).
    [[nodiscard]] int backend_pid() const noexcept { return PQbackendPID(conn_); }
    /// How many times the connection was re-established after being lost.
    [[nodiscard]] std::size_t reconnects() const noexcept { return reconnects_; }
    /// The connection string as given, with any password masked: for messages.
    [[nodiscard]] const std::string& description() const noexcept { return described_; }

    // --- transaction ---------------------------------------------------------------------

    /// BEGIN. Reconnects first if the connection was lost.
    STURDY_DECL void begin();

    /// COMMIT. If it fails (or the connection is lost), the transaction is gone: roll back
    /// (which then only forgets it) and run the chunk again.
    STURDY_DECL void commit();

    /// ROLLBACK: undoes everything since begin(); open savepoint guards become inert. On a lost
    /// connection the server already discarded the transaction: this forgets it.
    STURDY_DECL void rollback();

    /// Whether a transaction is open (one this database began, or one begun by exec("BEGIN")).
    /// Stays true after the connection is lost mid-transaction, until rollback().
    [[nodiscard]] STURDY_DECL bool in_transaction() const noexcept;

    // savepoint(): store_detail::database_kit (SAVEPOINT spN, N = nesting depth; outside a
    // transaction it begins one, and releasing the guard commits).

    // --- ledger and checkpoints ----------------------------------------------------------

    /// The ledger of job `name` (its namespace in `sturdy_ledger` / `sturdy_failure`),
    /// creating the sturdy tables on first use.
    postgres::ledger ledger(std::string name);

    /// A ledger kept by the effect's own table (sturdy/store/effect_ledger.hpp): a key is done
    /// when `spec.table` has a row with its values in `spec.columns`. Checks now that the table
    /// and columns exist and that a unique index (or constraint) covers exactly those columns:
    /// otherwise throws `errc::schema_mismatch` naming them and the `CREATE UNIQUE INDEX` to add.
    STURDY_DECL postgres::unique_key_ledger ledger(const unique_key& spec);

    /// A ledger kept in a marker column of the items' own table (sturdy/store/effect_ledger.hpp).
    /// Checks now that the table and its two columns exist and that the id column is unique.
    STURDY_DECL postgres::marker_ledger ledger(const marker& spec);

    // checkpoint(name), set_checkpoint(name, value) and schema_version: store_detail::database_kit.

    /// Creates the `sturdy_*` tables if they are missing; cheap once done. Safe when several
    /// workers start at once: creation runs under a transaction-scoped advisory lock. Throws
    /// `errc::schema_mismatch` for tables from a newer sturdy. Tables created inside a
    /// transaction or savepoint that is then rolled back are created again on next use.
    STURDY_DECL void ensure_schema();

private:
    friend class ledger;
    template <class Row> friend class row_range;
    friend class store_detail::savepoint_guard<database>;

    // Integer and text keys are different keys, as in the SQLite store: `item_key` holds the
    // key's text, `key_is_text` which kind it is.
    static constexpr const char* schema_v1 = R"sql(
        CREATE TABLE IF NOT EXISTS sturdy_schema(version integer NOT NULL);
        CREATE TABLE IF NOT EXISTS sturdy_ledger(
            namespace text NOT NULL,
            item_key text NOT NULL,
            key_is_text boolean NOT NULL,
            marked_at bigint NOT NULL,          -- unix seconds
            PRIMARY KEY(namespace, item_key, key_is_text));
        CREATE TABLE IF NOT EXISTS sturdy_failure(
            namespace text NOT NULL,
            item_key text NOT NULL,
            key_is_text boolean NOT NULL,
            runs integer NOT NULL,
            first_failed bigint NOT NULL,
            last_failed bigint NOT NULL,
            last_reason text NOT NULL,
            quarantined boolean NOT NULL,
            PRIMARY KEY(namespace, item_key, key_is_text));
        CREATE TABLE IF NOT EXISTS sturdy_checkpoint(name text PRIMARY KEY, value text NOT NULL);
    )sql";

    /// The statement for `sql` with these parameter types, created on first use.
    STURDY_DECL statement& prepare(std::string_view sql, detail::param_view p);
    /// Runs a prepared statement; throws on error.
    STURDY_DECL result run(statement& s, detail::param_view p);
    /// Runs a statement with no parameters through the simple protocol (transaction control).
    STURDY_DECL void simple(const char* sql);

    STURDY_DECL PGconn* connect(bool first);
    STURDY_DECL void reconnect();
    /// Before a statement: outside a transaction, a lost connection is re-established; inside
    /// one, the statement fails (transiently): the transaction is gone.
    STURDY_DECL void check_connection(std::string_view sql);
    [[nodiscard]] bool connection_ok() const noexcept { return PQstatus(conn_) == CONNECTION_OK; }

    /// The connection a lazy range reads on, outside a transaction (opened on first use).
    STURDY_DECL PGconn* reader();
    /// A cursor over `sql`: on the main connection inside a transaction, else on the reader.
    STURDY_DECL std::unique_ptr<detail::cursor> open_cursor(const std::string& sql, detail::param_view p);

    STURDY_DECL std::optional<int> stored_schema_version();
    STURDY_DECL void require_transaction(const char* what) const;
    STURDY_DECL void end_transaction(bool committed);
    // The dialect's savepoint statements, for store_detail::savepoint_guard.
    STURDY_DECL void open_savepoint(std::size_t depth);
    STURDY_DECL void release_savepoint(std::size_t depth);
    STURDY_DECL void rollback_to_savepoint(std::size_t depth);
    void release_rolled_back(std::size_t) noexcept {} // in rollback_to_savepoint's round trip

    std::string conninfo_;
    std::string described_;
    options options_;
    PGconn* conn_ = nullptr;
    PGconn* reader_ = nullptr;
    std::uint64_t connection_number_ = 1;
    std::size_t reconnects_ = 0;
    // Per text, the statements prepared for it (one per parameter-type signature, usually one).
    store_detail::by_text<std::vector<std::unique_ptr<statement>>> statements_;
    std::size_t prepared_count_ = 0;
    std::size_t cursors_ = 0;
    bool tx_open_ = false;
    // book_ (database_kit): schema_ready is set as soon as the tables are created, and undone
    // with their creation.
};

// --- lazy rows ---------------------------------------------------------------------------

namespace detail {

/// A server-side cursor, fetched in batches. On a connection of its own (`own_transaction`), it
/// runs in a read-only transaction it ends when destroyed; on the main connection, it ends with
/// the transaction it was declared in. `sql` must outlive it and its results.
class cursor {
public:
    STURDY_DECL cursor(PGconn* conn, bool own_transaction, std::string name, const std::string& sql, param_view p);
    cursor(const cursor&) = delete;
    cursor& operator=(const cursor&) = delete;
    STURDY_DECL ~cursor();
    /// Rows per FETCH.
    static constexpr int batch_rows = 1000;
    /// The next batch of rows (fewer than batch_rows: the last one).
    STURDY_DECL result fetch();

private:
    STURDY_DECL void close() noexcept;
    PGconn* conn_;
    bool own_transaction_;
    std::string name_;
    std::string fetch_sql_;
    std::string_view sql_; ///< the range's, for messages
    bool open_;
};
} // namespace detail

/// A lazy, single-pass input range of `Row`s, read through a server-side cursor in batches of
/// 1000 rows (one round trip per batch). The statement runs when `begin()` is first called.
/// Where it reads: when no transaction is open at `begin()`, on a second connection of the
/// database, in a read-only transaction of its own: its snapshot is the data committed when
/// reading started, rows the loop writes are not seen, and chunks commit on the main connection
/// while the cursor is open. Inside a transaction (a test's, or `no_commit`'s) it reads on the
/// main connection and so sees that transaction's uncommitted rows. A long read keeps its
/// snapshot open on the server (VACUUM cannot remove rows it may see) until it is finished or
/// destroyed. Must not outlive its database.
template <class Row> class row_range : public store_detail::current_row<Row> {
public:
    using iterator = store_detail::row_iterator<row_range, Row>;

    template <class... Args> row_range(database& db, std::string sql, const Args&... args)
        : db_(&db), sql_(std::move(sql)), open_([... kept = detail::owned(args)](database& d, const std::string& s) {
              const detail::params<sizeof...(Args)> p(kept...);
              return d.open_cursor(s, detail::param_view::of(p));
          })
    {
    }

    /// The first row; the range is single-pass, so later calls continue where reading is.
    iterator begin()
    {
        if (!started_) {
            started_ = true;
            cursor_ = open_(*db_, sql_);
            advance();
        }
        return iterator(this);
    }

private:
    friend iterator;
    using store_detail::current_row<Row>::current_;
    void advance()
    {
        ++row_;
        if (!batch_ || row_ >= batch_->rows()) {
            batch_.reset();
            if (cursor_) {
                batch_.emplace(cursor_->fetch());
                batch_->template expect_columns<Row>();
                row_ = 0;
                if (batch_->rows() < detail::cursor::batch_rows) {
                    cursor_.reset(); // the last batch: close the cursor (and end its snapshot) now
                }
                if (batch_->rows() == 0) {
                    batch_.reset();
                }
            }
        }
        if (batch_) {
            current_ = batch_->template row<Row>(row_);
        } else {
            current_.reset();
        }
    }

    database* db_;
    std::string sql_;
    std::function<std::unique_ptr<detail::cursor>(database&, const std::string&)> open_;
    std::unique_ptr<detail::cursor> cursor_;
    std::optional<result> batch_;
    int row_ = -1;
    bool started_ = false;
};

// --- ledger ------------------------------------------------------------------------------

/// A job's ledger in `sturdy_ledger` (done keys, unique per namespace and key) and
/// `sturdy_failure` (failure records). Models `sturdy::failure_ledger` and
/// `sturdy::batch_claiming_ledger`. Every write runs in the database's current transaction.
/// `name()`, `size()` and `requeue_all()` are store_detail::ledger_members'. Copyable; must not
/// outlive its database.
class ledger : public store_detail::ledger_members<database> {
public:
    /// Whether `k` is done.
    [[nodiscard]] STURDY_DECL bool contains(const key& k) const;

    /// Marks `k` done; a key already marked is a unique violation (permanent).
    STURDY_DECL void mark(const key& k);

    /// Marks `k` done unless it already is, in one statement; true when this call marked it.
    STURDY_DECL bool claim(const key& k);

    /// Claims every key of `keys` in one statement (one round trip): `claimed[i]` is set when
    /// this call marked `keys[i]`. A key given twice is claimed by its first occurrence.
    STURDY_DECL void claim_all(std::span<const key> keys, std::vector<bool>& claimed);

    /// Every failure record, quarantined or not, ordered by key (integers first, by value).
    [[nodiscard]] STURDY_DECL std::vector<failure_info> failures() const;

    /// One more failed run for `k`; quarantined once runs >= quarantine_after.
    STURDY_DECL failure_info record_failure(const key& k, std::string_view reason, int quarantine_after);

    /// Forgets `k`'s failures (after a success).
    STURDY_DECL void clear_failure(const key& k);

    /// Gives `k` a fresh start (runs 0, not quarantined); false if it has no failure record.
    STURDY_DECL bool requeue(const key& k);

    /// SQL true when the key whose text `key_sql` gives is done (for `claim_rows`); `name_sql`
    /// is the parameter holding name().
    [[nodiscard]] static std::string done_sql(const std::string& key_sql, const std::string& name_sql)
    {
        return "EXISTS (SELECT 1 FROM sturdy_ledger AS sturdy_l WHERE sturdy_l.namespace = " + name_sql +
               " AND sturdy_l.item_key = " + key_sql + " OFFSET 0)";
    }
    /// Retention: forgets the done marks written before `cutoff` and returns how many it
    /// forgot. A mark's time is `marked_at`, the Unix second `mark`, `claim` or `claim_all`
    /// wrote it in (this process's clock); a mark of the second `cutoff` falls in stays.
    /// Failure records (retries, quarantine) stay.
    ///
    /// The rule that makes it safe: forget only keys the input can no longer produce. A
    /// forgotten key is no longer done, so if the input yields it again its effect runs again;
    /// `claim_rows` claims its row again too (it leaves out keys the ledger holds), and `totals`
    /// counts it no more. Safe when the keys carry what makes them unique in time and the input
    /// has moved past them: a period or version in the key (`(subscription, "2024-05")`,
    /// `(contact, write_date)`) that the input reads no more, because its query or its watermark
    /// has passed it. Not safe for a ledger whose keys the input keeps producing (a plain id
    /// over a whole table): there the mark is all that stops the work being done again.
    ///
    /// Batches: each batch forgets at most `batch` marks (the next ones in key order, older
    /// than `cutoff`). Outside a transaction each batch is a transaction of its own, so its row
    /// locks are held for one batch; inside your transaction every batch runs in it, and
    /// commits or rolls back with it. If a batch fails, the batches committed before it stay
    /// forgotten: call again. `batch` must be at least 1 (`usage_error`).
    /// Cost: two statements per batch; together they read the namespace's marks once, in key
    /// order through the primary key (each batch starts after the last key of the one before;
    /// there is no index on `marked_at`, which would slow down every mark and claim). The space
    /// goes back to PostgreSQL after (auto)vacuum, to the file system only with VACUUM FULL.
    STURDY_DECL std::size_t forget_marked_before(std::chrono::system_clock::time_point cutoff,
                                                 std::size_t batch = 10'000);

private:
    friend class database;
    STURDY_DECL ledger(database& db, std::string name);
};

inline postgres::ledger database::ledger(std::string name)
{
    ensure_schema();
    return {*this, std::move(name)};
}

/// The unique-key form of a ledger kept by the effect's own table (sturdy/store/effect_ledger.hpp),
/// made by `db.ledger(sturdy::unique_key{...})`. Models `sturdy::confirming_ledger` and
/// `sturdy::failure_ledger` (its failure records are in `sturdy_failure`); `claim_rows` leaves
/// out the rows whose key it holds. `contains`, `mark`, `claim`, `claim_all` and `confirm_all`
/// look their keys up in one statement (store_detail::unique_key_ledger_base: what the SQL
/// stores share). Copyable; must not outlive its database.
class unique_key_ledger : public store_detail::unique_key_ledger_base<unique_key_ledger, postgres::ledger> {
public:
    /// Whether an effect's failure is a unique violation (23505) of this ledger's index.
    [[nodiscard]] STURDY_DECL bool done_elsewhere(const std::error_code& code, std::string_view message) const;
    /// SQL true when the key whose text `key_sql` gives has its row (for `claim_rows`).
    [[nodiscard]] STURDY_DECL std::string done_sql(const std::string& key_sql, const std::string& name_sql) const;

private:
    friend class database;
    friend class store_detail::unique_key_ledger_base<unique_key_ledger, postgres::ledger>;
    unique_key_ledger(database& db, postgres::ledger failures) : unique_key_ledger_base(std::move(failures)), db_(&db)
    {
    }
    /// found[i]: keys[i] has its row.
    STURDY_DECL void lookup(std::span<const key> keys, std::vector<bool>& found) const;

    database* db_;
    std::vector<std::string> types_; ///< each column's type, for the casts
    std::string index_;              ///< the unique index's name, as a violation names it
    std::string lookup_sql_;
};

/// The marker form of a ledger kept by the items' own table (sturdy/store/effect_ledger.hpp),
/// made by `db.ledger(sturdy::marker{...})`. Models `sturdy::confirming_ledger` and
/// `sturdy::failure_ledger`; `claim_rows` leaves out the rows it holds. `contains`, `mark`,
/// `claim`, `confirm_all` (no statement: the keys the last claim found no row for) are
/// store_detail::marker_ledger_base's. Copyable; must not outlive its database.
class marker_ledger : public store_detail::marker_ledger_base<marker_ledger, postgres::ledger> {
public:
    /// One statement writes the markers not yet there (a row another worker's chunk is marking
    /// waits for that chunk's end); a second reads which rows exist only when some were not written.
    STURDY_DECL void claim_all(std::span<const key> keys, std::vector<bool>& claimed);
    /// SQL true when the key whose text `key_sql` gives has its marker (for `claim_rows`).
    [[nodiscard]] STURDY_DECL std::string done_sql(const std::string& key_sql, const std::string& name_sql) const;

private:
    friend class database;
    friend class store_detail::marker_ledger_base<marker_ledger, postgres::ledger>;
    marker_ledger(database& db, postgres::ledger failures) : marker_ledger_base(std::move(failures)), db_(&db) {}
    /// found[i]: keys[i]'s row exists (`done` false) or has its marker (`done` true).
    STURDY_DECL void lookup(std::span<const key> keys, std::vector<bool>& found, bool done) const;
    /// The keys' texts as an array literal, each checked to have its parts.
    [[nodiscard]] std::string keys_array(std::span<const key> keys) const;

    database* db_;
    std::string id_type_;
    std::string marker_type_;
    std::string claim_sql_;
    std::string exists_sql_;
    std::string done_lookup_sql_;
};

static_assert(sturdy::confirming_ledger<unique_key_ledger> && sturdy::failure_ledger<unique_key_ledger>);
static_assert(sturdy::confirming_ledger<marker_ledger> && sturdy::failure_ledger<marker_ledger>);

static_assert(sturdy::transaction<database>);
static_assert(sturdy::failure_ledger<ledger>);
static_assert(sturdy::claiming_ledger<ledger>);
static_assert(sturdy::batch_claiming_ledger<ledger>);

} // namespace sturdy::postgres

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/store/impl/postgres.ipp>
#endif
