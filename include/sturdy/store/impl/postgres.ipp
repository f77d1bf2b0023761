#pragma once
/// sturdy/store/impl/postgres.ipp — definitions for sturdy/store/postgres.hpp (see sturdy/config.hpp).

#include <sturdy/store/postgres.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sturdy::postgres {

// --- errors ------------------------------------------------------------------------------

namespace detail {
// A SQLSTATE is five characters of [0-9A-Z]: read as a base-36 number, it fits an int.
inline int encode_sqlstate(std::string_view s) noexcept
{
    int v = 0;
    for (std::size_t i = 0; i < 5; ++i) {
        const char c = i < s.size() ? s[i] : '0';
        const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 0;
        v = v * 36 + digit;
    }
    return v;
}

inline std::string decode_sqlstate(int v)
{
    std::string s(5, '0');
    for (std::size_t i = 5; i-- > 0;) {
        const int digit = v % 36;
        s[i] = static_cast<char>(digit < 10 ? '0' + digit : 'A' + digit - 10);
        v /= 36;
    }
    return s;
}

class sqlstate_category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "postgres"; }
    [[nodiscard]] std::string message(int v) const override { return "SQLSTATE " + decode_sqlstate(v); }
    [[nodiscard]] std::error_condition default_error_condition(int v) const noexcept override
    {
        std::string s;
        try {
            s = decode_sqlstate(v);
        } catch (...) {
            return sturdy::make_error_code(errc::permanent).default_error_condition();
        }
        const std::string_view cls = std::string_view(s).substr(0, 2);
        // Worth retrying: the transaction lost a race (serialization, deadlock), waited too long
        // (lock_timeout, statement_timeout), or the connection or server went away.
        if (s == "40001" || s == "40P01" || s == "55P03" || s == "57014" || s == "57P01" || s == "57P02" ||
            s == "57P03" || cls == "08") {
            return transient_condition();
        }
        // No item can succeed: the schema or the grants are wrong, the server is read-only or
        // its disk is full, the database or the login is gone.
        if (s == "42P01" || s == "42703" || s == "42501" || s == "25006" || s == "53100" || s == "3D000" ||
            cls == "28") {
            return fatal_condition();
        }
        return sturdy::make_error_code(errc::permanent).default_error_condition();
    }
};

inline std::string trimmed(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

/// The connection string with any password replaced by ***, for messages.
inline std::string masked(std::string_view conninfo)
{
    std::string out(conninfo);
    // URI: scheme://user:password@host...
    if (const auto scheme = out.find("://"); scheme != std::string::npos) {
        const auto authority_end = out.find_first_of("/?", scheme + 3);
        const auto at = out.rfind('@', authority_end);
        if (at != std::string::npos && at > scheme) {
            const auto colon = out.find(':', scheme + 3);
            if (colon != std::string::npos && colon < at) {
                out.replace(colon + 1, at - colon - 1, "***");
            }
        }
    }
    // key=value pairs, and a URI's ?password=...
    for (std::size_t pos = 0; (pos = out.find("password", pos)) != std::string::npos;) {
        std::size_t v = pos + 8;
        while (v < out.size() && out[v] == ' ') {
            ++v;
        }
        if (v >= out.size() || out[v] != '=') {
            pos = v;
            continue;
        }
        ++v;
        while (v < out.size() && out[v] == ' ') {
            ++v;
        }
        std::size_t end = v;
        if (end < out.size() && out[end] == '\'') {
            ++end;
            while (end < out.size() && out[end] != '\'') {
                end += out[end] == '\\' ? 2 : 1;
            }
            end = std::min(out.size(), end + 1);
        } else {
            while (end < out.size() && out[end] != ' ' && out[end] != '&') {
                ++end;
            }
        }
        out.replace(v, end - v, "***");
        pos = v + 3;
    }
    return out;
}

/// What to do about a failed connection, from libpq's message.
inline std::string connect_fix(const std::string& why, std::chrono::seconds timeout)
{
    auto has = [&](std::string_view s) { return why.find(s) != std::string::npos; };
    if (has("database") && has("does not exist")) {
        return "create the database (createdb NAME) or name an existing one (dbname=... or the URI's path)";
    }
    if (has("password authentication failed") || has("no password supplied") || has("authentication failed") ||
        (has("role") && has("does not exist")) || has("pg_hba.conf")) {
        return "check the user name and password (in the connection string, PGPASSWORD or ~/.pgpass) and the "
               "server's pg_hba.conf";
    }
    if (has("could not translate host name") || has("Name or service not known")) {
        return "check the host name (host=... or the URI's host)";
    }
    if (has("timeout expired")) {
        return "the server did not answer within connect_timeout=" + std::to_string(timeout.count()) +
               " s: check the host, the port and any firewall, or raise connect_timeout";
    }
    if (has("Connection refused") || has("No such file or directory") || has("could not connect")) {
        return "check that the server is running and listens on that host and port (or socket directory)";
    }
    return "check the connection string and that the server accepts connections";
}
} // namespace detail

STURDY_DECL const std::error_category& postgres_category() noexcept
{
    static const detail::sqlstate_category category;
    return category;
}

STURDY_DECL std::error_code make_error_code(std::string_view sqlstate) noexcept
{
    return {detail::encode_sqlstate(sqlstate), postgres_category()};
}

STURDY_DECL std::string sqlstate(const std::error_code& code)
{
    return code.category() == postgres_category() ? detail::decode_sqlstate(code.value()) : std::string();
}

namespace detail {
STURDY_DECL void fail(PGconn* conn, const PGresult* res, std::string_view sql)
{
    const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    if (state == nullptr) {
        if (PQstatus(conn) == CONNECTION_BAD) {
            fail_connection(conn, sql);
        }
        const char* message = res != nullptr ? PQresultErrorMessage(res) : "";
        throw failure_error(make_error_code("XX000"), trimmed(*message != '\0' ? message : PQerrorMessage(conn)) +
                                                          " (in: " + abbreviated(sql) + ")");
    }
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    std::string message = primary != nullptr ? primary : trimmed(PQresultErrorMessage(res));
    if (const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) {
        message += ": ";
        message += detail;
    }
    throw failure_error(make_error_code(state), message + " (in: " + abbreviated(sql) + ")");
}

STURDY_DECL void fail_connection(PGconn* conn, std::string_view sql)
{
    std::string why = trimmed(conn != nullptr ? PQerrorMessage(conn) : "");
    throw failure_error(make_error_code("08006"), "the connection to the PostgreSQL server was lost" +
                                                      (why.empty() ? std::string() : ": " + why) +
                                                      "; the transaction in progress is gone (in: " + abbreviated(sql) +
                                                      ")");
}
} // namespace detail

// --- results -----------------------------------------------------------------------------

STURDY_DECL std::int64_t result::changed() const
{
    const char* n = PQcmdTuples(res_.get());
    std::int64_t v = 0;
    std::from_chars(n, n + std::char_traits<char>::length(n), v);
    return v;
}

STURDY_DECL std::string_view result::raw(int r, int c) const
{
    return {PQgetvalue(res_.get(), r, c), static_cast<std::size_t>(PQgetlength(res_.get(), r, c))};
}

STURDY_DECL bool result::boolean(int r, int c) const
{
    const auto s = raw(r, c);
    if (s == "t" || s == "true") {
        return true;
    }
    if (s == "f" || s == "false") {
        return false;
    }
    return integer(r, c) != 0;
}

STURDY_DECL std::int64_t result::integer(int r, int c) const
{
    const auto s = raw(r, c);
    if (PQftype(res_.get(), c) == detail::bool_oid) {
        return s == "t" ? 1 : 0;
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
        bad_value(r, c, "an integer");
    }
    return v;
}

STURDY_DECL double result::floating(int r, int c) const
{
    const char* s = PQgetvalue(res_.get(), r, c); // NUL-terminated; strtod reads NaN and Infinity
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end == s || *end != '\0') {
        bad_value(r, c, "a number");
    }
    return v;
}

STURDY_DECL key result::key_value(int r, int c) const
{
    const Oid type = PQftype(res_.get(), c);
    if (type == 20 || type == 21 || type == 23) { // int8, int2, int4
        return key(integer(r, c));
    }
    return key(text(r, c));
}

STURDY_DECL std::string result::text(int r, int c) const { return std::string(raw(r, c)); }

STURDY_DECL void result::null_column(int c) const
{
    throw failure_error(sturdy::make_error_code(errc::permanent),
                        "column " + std::to_string(c) + " (" + PQfname(res_.get(), c) +
                            ") is NULL; read it as a std::optional (in: " + detail::abbreviated(sql_) + ")");
}

STURDY_DECL void result::bad_value(int r, int c, const char* wanted) const
{
    throw failure_error(sturdy::make_error_code(errc::permanent),
                        "column " + std::to_string(c) + " (" + PQfname(res_.get(), c) + ") holds '" +
                            std::string(raw(r, c)) + "', not " + wanted +
                            "; read it as another type or cast it in the query (in: " + detail::abbreviated(sql_) +
                            ")");
}

STURDY_DECL void result::expect_column_count(std::size_t fields) const
{
    if (static_cast<std::size_t>(columns()) != fields) {
        throw usage_error("postgres: the statement yields " + std::to_string(columns()) +
                          " columns but the row type has " + std::to_string(fields) +
                          " fields; select one column per field, in order (in: " + detail::abbreviated(sql_) + ")");
    }
}

// --- cursor ------------------------------------------------------------------------------

namespace detail {
// Used by scan_placeholders only, but inline (not in an unnamed namespace): in header-only mode
// scan_placeholders is an inline function of every translation unit, and its definitions must
// name the same functions everywhere.
inline bool identifier_start(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}
inline bool identifier_char(char c) { return identifier_start(c) || (c >= '0' && c <= '9') || c == '$'; }

STURDY_DECL placeholders scan_placeholders(std::string_view sql)
{
    placeholders out;
    const std::size_t n = sql.size();
    // The character after the closing `quote` of a literal or identifier opened at `i`; a
    // doubled quote stands for itself, and in E'...' so does a backslash-escaped character.
    const auto skip_quoted = [&](std::size_t i, char quote, bool backslashes) {
        ++i;
        while (i < n) {
            if (backslashes && sql[i] == '\\') {
                i += 2;
            } else if (sql[i] == quote) {
                if (i + 1 < n && sql[i + 1] == quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            } else {
                ++i;
            }
        }
        return n;
    };
    std::size_t i = 0;
    while (i < n) {
        const char c = sql[i];
        const bool after_identifier = i > 0 && identifier_char(sql[i - 1]);
        if (c == '\'') {
            // E'...' (or e'...'): E alone before the quote, not the end of a longer word.
            const bool escape =
                i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !identifier_char(sql[i - 2]));
            i = skip_quoted(i, '\'', escape);
        } else if (c == '"') {
            i = skip_quoted(i, '"', false);
        } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
            const auto end = sql.find('\n', i);
            i = end == std::string_view::npos ? n : end + 1;
        } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') { // block comments nest
            int depth = 1;
            i += 2;
            while (i < n && depth > 0) {
                if (sql[i] == '/' && i + 1 < n && sql[i + 1] == '*') {
                    ++depth;
                    i += 2;
                } else if (sql[i] == '*' && i + 1 < n && sql[i + 1] == '/') {
                    --depth;
                    i += 2;
                } else {
                    ++i;
                }
            }
        } else if (c == '$' && !after_identifier) {
            std::size_t j = i + 1;
            if (j < n && sql[j] >= '0' && sql[j] <= '9') { // a parameter, $n
                int number = 0;
                while (j < n && sql[j] >= '0' && sql[j] <= '9') {
                    number = std::min(number * 10 + (sql[j] - '0'), 1 << 20);
                    ++j;
                }
                out.highest = std::max(out.highest, number);
                i = j;
                continue;
            }
            if (j < n && identifier_start(sql[j])) {
                while (j < n && sql[j] != '$' && identifier_char(sql[j])) {
                    ++j;
                }
            }
            if (j < n && sql[j] == '$') { // a dollar-quoted string, $tag$ ... $tag$
                const std::string_view tag = sql.substr(i, j - i + 1);
                const auto end = sql.find(tag, j + 1);
                i = end == std::string_view::npos ? n : end + tag.size();
            } else {
                i = j;
            }
        } else if (c == '?') {
            if (out.question_marks++ == 0) {
                out.first_question = i;
            }
            ++i;
        } else {
            ++i;
        }
    }
    return out;
}

STURDY_DECL void check_placeholders(std::string_view sql, int arguments)
{
    if (arguments == 0 || sql.find('?') == std::string_view::npos) {
        return;
    }
    const auto found = scan_placeholders(sql);
    if (found.question_marks == 0 || arguments <= found.highest) {
        return;
    }
    throw usage_error("postgres: the statement is given " + std::to_string(arguments) + " argument(s) but " +
                      (found.highest == 0 ? std::string("numbers none ($1, $2 ...)")
                                          : "numbers only $1 to $" + std::to_string(found.highest)) +
                      ", and has '?' at offset " + std::to_string(found.first_question) +
                      ": PostgreSQL does not know ? placeholders; write $1, $2 ... instead, which the SQLite store "
                      "accepts too (in: " +
                      abbreviated(sql) + ")");
}

STURDY_DECL cursor::cursor(PGconn* conn, bool own_transaction, std::string name, const std::string& sql, param_view p)
    : conn_(conn), own_transaction_(own_transaction), name_(std::move(name)),
      fetch_sql_("FETCH FORWARD " + std::to_string(batch_rows) + " FROM " + name_), sql_(sql), open_(own_transaction)
{
    if (own_transaction_) {
        // One snapshot for the whole read, which never writes.
        result_ptr begun(PQexec(conn_, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
        if (PQresultStatus(begun.get()) != PGRES_COMMAND_OK) {
            fail(conn_, begun.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        }
    }
    check_placeholders(sql, p.count);
    const std::string declare = "DECLARE " + name_ + " NO SCROLL CURSOR FOR " + sql;
    result_ptr declared(PQexecParams(conn_, declare.c_str(), p.count, p.types, p.values, p.lengths, p.formats, 0));
    if (PQresultStatus(declared.get()) != PGRES_COMMAND_OK) {
        if (own_transaction_) {
            open_ = false;
            PQclear(PQexec(conn_, "ROLLBACK"));
        }
        fail(conn_, declared.get(), sql_);
    }
}

STURDY_DECL cursor::~cursor() { close(); }

STURDY_DECL result cursor::fetch()
{
    result_ptr res(PQexec(conn_, fetch_sql_.c_str()));
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
        fail(conn_, res.get(), sql_);
    }
    return result(std::move(res), sql_);
}

STURDY_DECL void cursor::close() noexcept
{
    // Only the reading connection's cursor is closed here, with its transaction. One on the main
    // connection ends with the transaction it was declared in (a CLOSE could meet a later
    // transaction, or one whose savepoint already closed it, and abort it).
    if (!std::exchange(open_, false) || PQstatus(conn_) != CONNECTION_OK) {
        return;
    }
    PQclear(PQexec(conn_, ("CLOSE " + name_ + "; COMMIT").c_str()));
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
        PQclear(PQexec(conn_, "ROLLBACK"));
    }
}
} // namespace detail

// --- database ----------------------------------------------------------------------------

STURDY_DECL database::database(std::string conninfo, options opts)
    : conninfo_(std::move(conninfo)), described_(detail::masked(conninfo_)), options_(std::move(opts))
{
    if (!conninfo_.empty()) {
        char* error = nullptr;
        PQconninfoOption* parsed = PQconninfoParse(conninfo_.c_str(), &error);
        if (parsed == nullptr) {
            std::string why = error != nullptr ? detail::trimmed(error) : "out of memory";
            PQfreemem(error);
            throw failure_error(sturdy::make_error_code(errc::store_unavailable),
                                "invalid PostgreSQL connection string '" + described_ + "': " + why +
                                    "; write a libpq URI (postgresql://user@host:5432/dbname) or key=value pairs "
                                    "(host=... port=... dbname=... user=...)");
        }
        PQconninfoFree(parsed);
    }
    conn_ = connect(true);
    try {
        const auto found = stored_schema_version();
        if (found && *found > schema_version) {
            throw failure_error(sturdy::make_error_code(errc::schema_mismatch),
                                "PostgreSQL database '" + described_ + "' holds sturdy tables of schema version " +
                                    std::to_string(*found) + ", newer than this sturdy understands (" +
                                    std::to_string(schema_version) +
                                    "): upgrade sturdy, or use another database or schema");
        }
    } catch (...) {
        PQfinish(conn_);
        throw;
    }
}

STURDY_DECL database::~database()
{
    PQfinish(reader_);
    PQfinish(conn_); // an open transaction is rolled back by the server
}

STURDY_DECL PGconn* database::connect(bool first)
{
    const std::string timeout = std::to_string(options_.connect_timeout.count());
    // Earlier keywords are defaults: the connection string (expanded in place of dbname) overrides them.
    const char* keywords[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), options_.application_name.c_str(), conninfo_.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keywords, values, 1);
    if (conn != nullptr && PQstatus(conn) == CONNECTION_OK) {
        // Notices ("table ... does not exist, skipping") are not errors: no stderr noise.
        PQsetNoticeProcessor(
            conn, [](void* /*unused*/, const char* /*unused*/) {}, nullptr);
        return conn;
    }
    std::string why = conn != nullptr ? detail::trimmed(PQerrorMessage(conn)) : "out of memory";
    std::string tried;
    if (conn != nullptr) {
        auto add = [&](const char* name, const char* value) {
            if (value != nullptr && *value != '\0') {
                tried += (tried.empty() ? "" : " ") + std::string(name) + "=" + value;
            }
        };
        add("host", PQhost(conn));
        add("port", PQport(conn));
        add("dbname", PQdb(conn));
        add("user", PQuser(conn));
        if (PQpass(conn) != nullptr && *PQpass(conn) != '\0') {
            tried += " password=***";
        }
    }
    PQfinish(conn);
    const std::string fix = detail::connect_fix(why, options_.connect_timeout);
    throw failure_error(sturdy::make_error_code(errc::store_unavailable),
                        std::string(first ? "cannot connect" : "cannot reconnect") + " to PostgreSQL (tried " + tried +
                            ", from connection string '" + described_ + "'): " + why + "; " + fix);
}

STURDY_DECL void database::reconnect()
{
    PQfinish(std::exchange(conn_, nullptr));
    auto delay = options_.reconnect_delay;
    std::string last;
    for (int attempt = 1; attempt <= std::max(1, options_.reconnect_attempts); ++attempt) {
        if (attempt > 1) {
            if (options_.sleep) {
                options_.sleep(delay);
            } else {
                std::this_thread::sleep_for(delay);
            }
            delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(5));
        }
        try {
            conn_ = connect(false);
            ++connection_number_; // every statement is prepared again on first use
            ++reconnects_;
            tx_open_ = false;
            book_.began(); // no transaction is open: its savepoint guards are inert
            return;
        } catch (const failure_error& e) {
            last = e.message();
        }
    }
    throw failure_error(sturdy::make_error_code(errc::store_unavailable),
                        "lost the connection to PostgreSQL and " + std::to_string(options_.reconnect_attempts) +
                            " attempts to reconnect failed; the last: " + last);
}

STURDY_DECL void database::check_connection(std::string_view sql)
{
    if (conn_ != nullptr && connection_ok()) {
        return;
    }
    if (tx_open_) {
        detail::fail_connection(conn_, sql);
    }
    reconnect();
}

STURDY_DECL statement& database::prepare(std::string_view sql, detail::param_view p)
{
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
        detail::check_placeholders(sql, p.count); // once per text
        it = statements_.emplace(std::string(sql), std::vector<std::unique_ptr<statement>>{}).first;
    }
    const std::span<const Oid> types(p.types, static_cast<std::size_t>(p.count));
    for (auto& s : it->second) {
        if (std::ranges::equal(s->types(), types)) {
            return *s;
        }
    }
    auto& s = it->second.emplace_back(std::make_unique<statement>(
        std::string(sql), std::vector<Oid>(types.begin(), types.end()), "sturdy_" + std::to_string(++prepared_count_)));
    return *s;
}

STURDY_DECL result database::run(std::string_view sql, detail::param_view p) { return run(prepare(sql, p), p); }

STURDY_DECL result database::run(statement& s, detail::param_view p)
{
    check_connection(s.sql());
    if (s.prepared_on_ != connection_number_) {
        detail::result_ptr prepared(PQprepare(conn_, s.name().c_str(), s.sql().c_str(), p.count, p.types));
        if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
            detail::fail(conn_, prepared.get(), s.sql());
        }
        s.prepared_on_ = connection_number_;
    }
    detail::result_ptr res(PQexecPrepared(conn_, s.name().c_str(), p.count, p.values, p.lengths, p.formats, 0));
    const auto status = PQresultStatus(res.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        detail::fail(conn_, res.get(), s.sql());
    }
    return result(std::move(res), s.sql());
}

STURDY_DECL void database::exec(const std::string& sql)
{
    check_connection(sql);
    detail::result_ptr res(PQexec(conn_, sql.c_str()));
    if (tx_open_ && PQtransactionStatus(conn_) == PQTRANS_IDLE) {
        end_transaction(false); // the script ended the transaction itself (COMMIT or ROLLBACK)
    }
    const auto status = PQresultStatus(res.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
        detail::fail(conn_, res.get(), sql);
    }
}

STURDY_DECL void database::simple(const char* sql)
{
    detail::result_ptr res(PQexec(conn_, sql));
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
        detail::fail(conn_, res.get(), sql);
    }
}

STURDY_DECL bool database::in_transaction() const noexcept
{
    if (tx_open_) {
        return true;
    }
    const auto status = conn_ != nullptr ? PQtransactionStatus(conn_) : PQTRANS_UNKNOWN;
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR;
}

STURDY_DECL void database::begin()
{
    if (in_transaction()) {
        throw usage_error("postgres::database::begin: a transaction is already open on " + described_ +
                          "; commit or roll it back first");
    }
    check_connection("BEGIN");
    simple("BEGIN");
    tx_open_ = true;
    book_.began();
}

STURDY_DECL void database::commit()
{
    require_transaction("commit");
    if (!connection_ok()) {
        end_transaction(false);
        detail::fail_connection(conn_, "COMMIT");
    }
    if (PQtransactionStatus(conn_) == PQTRANS_INERROR) {
        // COMMIT would roll back without an error: say so instead.
        rollback();
        throw failure_error(make_error_code("25P02"),
                            "COMMIT of a transaction that an earlier error aborted: nothing was committed; "
                            "roll back to a savepoint after a failed statement, or run the chunk again");
    }
    try {
        simple("COMMIT");
    } catch (...) {
        end_transaction(false); // a failed COMMIT ends the transaction too
        throw;
    }
    end_transaction(true);
}

STURDY_DECL void database::rollback()
{
    require_transaction("rollback");
    try {
        if (conn_ != nullptr && connection_ok()) {
            simple("ROLLBACK");
        }
    } catch (const failure_error&) {
        if (connection_ok()) {
            end_transaction(false);
            throw;
        }
        // Lost while rolling back: the server discards the transaction anyway.
    }
    end_transaction(false);
}

STURDY_DECL void database::open_savepoint(std::size_t depth)
{
    const std::string sql = "SAVEPOINT sp" + std::to_string(depth);
    check_connection(sql);
    simple(sql.c_str());
}

STURDY_DECL void database::release_savepoint(std::size_t depth)
{
    const std::string sql = "RELEASE sp" + std::to_string(depth);
    check_connection(sql);
    simple(sql.c_str());
}

STURDY_DECL void database::rollback_to_savepoint(std::size_t depth)
{
    // One round trip for both.
    const std::string name = "sp" + std::to_string(depth);
    std::string sql = "ROLLBACK TO ";
    sql += name;
    sql += "; RELEASE ";
    sql += name;
    check_connection(sql);
    simple(sql.c_str());
}

STURDY_DECL void database::ensure_schema()
{
    if (book_.schema_ready) {
        // Created in a transaction that has ended without commit() or rollback() (a ROLLBACK
        // run through exec, say): the tables may be gone.
        if (!book_.schema_created_at || in_transaction()) {
            return;
        }
        book_.schema_undone();
    }
    const auto found = stored_schema_version();
    if (!found) {
        const bool owns = !in_transaction();
        auto sp = savepoint();
        // Two workers starting at once would both run CREATE TABLE IF NOT EXISTS, and the second
        // can still fail (on pg_type's unique index): the first takes this lock, the second
        // waits for its commit, then finds the tables. The number is "sturdy" in ASCII.
        execute("SELECT pg_advisory_xact_lock(495623926393)");
        exec(schema_v1);
        execute("INSERT INTO sturdy_schema(version) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM sturdy_schema)",
                schema_version);
        sp.release();
        if (!owns) {
            book_.schema_created_at = book_.depth;
        }
    } else if (*found < schema_version) {
        // Migrations from older versions go here, each one step, in one savepoint.
    }
    book_.schema_ready = true;
}

STURDY_DECL std::optional<int> database::stored_schema_version()
{
    if (!*query_one<bool>("SELECT to_regclass('sturdy_schema') IS NOT NULL")) {
        return std::nullopt;
    }
    return query_one<std::optional<int>>("SELECT max(version) FROM sturdy_schema").value_or(std::nullopt);
}

STURDY_DECL PGconn* database::reader()
{
    if (reader_ != nullptr && PQstatus(reader_) != CONNECTION_OK) {
        PQfinish(std::exchange(reader_, nullptr));
    }
    if (reader_ == nullptr) {
        reader_ = connect(true);
    }
    return reader_;
}

STURDY_DECL std::unique_ptr<detail::cursor> database::open_cursor(const std::string& sql, detail::param_view p)
{
    const bool inside = in_transaction();
    PGconn* conn = inside ? conn_ : reader();
    if (inside) {
        check_connection(sql);
    }
    return std::make_unique<detail::cursor>(conn, !inside, "sturdy_cursor_" + std::to_string(++cursors_), sql, p);
}

STURDY_DECL void database::require_transaction(const char* what) const
{
    if (!in_transaction()) {
        throw usage_error(std::string("postgres::database::") + what + ": no transaction is open on " + described_ +
                          "; call begin() first");
    }
}

STURDY_DECL void database::end_transaction(bool committed)
{
    tx_open_ = false;
    book_.ended(committed); // savepoint guards of the ended transaction become inert
}

// --- ledger ------------------------------------------------------------------------------

namespace detail {
inline key stored_key(const std::string& text, bool is_text)
{
    if (is_text) {
        return key(text);
    }
    std::int64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return key(v);
}

/// A PostgreSQL array literal of texts: {"a","b\"c"}.
inline std::string text_array(std::span<const key> keys)
{
    std::string out = "{";
    for (const auto& k : keys) {
        if (out.size() > 1) {
            out += ',';
        }
        out += '"';
        for (const char c : k.is_integer() ? std::to_string(k.integer()) : k.text()) {
            if (c == '"' || c == '\\') {
                out += '\\';
            }
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

inline std::string bool_array(std::span<const key> keys)
{
    std::string out = "{";
    for (const auto& k : keys) {
        out += out.size() > 1 ? "," : "";
        out += k.is_integer() ? 'f' : 't';
    }
    out += '}';
    return out;
}

using failure_row = std::tuple<std::string, bool, int, std::string, bool, std::int64_t, std::int64_t>;

inline failure_info to_failure(failure_row&& r)
{
    auto& [text, is_text, runs, reason, quarantined, first, last] = r;
    return failure_info{stored_key(text, is_text), runs, std::move(reason), quarantined, first, last};
}
} // namespace detail

STURDY_DECL ledger::ledger(database& db, std::string name) : ledger_members(db, std::move(name)) {}

STURDY_DECL bool ledger::contains(const key& k) const
{
    db_->ensure_schema();
    return db_
        ->query_one<int>("SELECT 1 FROM sturdy_ledger WHERE namespace = $1 AND item_key = $2 AND key_is_text = $3",
                         name_, k.str(), !k.is_integer())
        .has_value();
}

STURDY_DECL void ledger::mark(const key& k)
{
    db_->ensure_schema();
    db_->execute("INSERT INTO sturdy_ledger(namespace, item_key, key_is_text, marked_at) VALUES($1, $2, $3, $4)", name_,
                 k.str(), !k.is_integer(), now());
}

STURDY_DECL bool ledger::claim(const key& k)
{
    db_->ensure_schema();
    return db_->execute("INSERT INTO sturdy_ledger(namespace, item_key, key_is_text, marked_at) "
                        "VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        name_, k.str(), !k.is_integer(), now()) > 0;
}

STURDY_DECL void ledger::claim_all(std::span<const key> keys, std::vector<bool>& claimed)
{
    claimed.assign(keys.size(), false);
    if (keys.empty()) {
        return;
    }
    db_->ensure_schema();
    // ON CONFLICT DO NOTHING also skips a key repeated within the batch: RETURNING names each
    // inserted key once, and its first occurrence takes it.
    const auto inserted = db_->query<std::tuple<std::string, bool>>(
        "INSERT INTO sturdy_ledger(namespace, item_key, key_is_text, marked_at) "
        "SELECT $1, u.k, u.t, $4 FROM unnest($2::text[], $3::boolean[]) AS u(k, t) "
        "ON CONFLICT DO NOTHING RETURNING item_key, key_is_text",
        name_, detail::text_array(keys), detail::bool_array(keys), now());
    if (inserted.size() == keys.size()) {
        claimed.assign(keys.size(), true);
        return;
    }
    std::unordered_map<key, std::size_t> first;
    first.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        first.try_emplace(keys[i], i);
    }
    for (const auto& [text, is_text] : inserted) {
        if (const auto it = first.find(detail::stored_key(text, is_text)); it != first.end()) {
            claimed[it->second] = true;
        }
    }
}

STURDY_DECL std::vector<failure_info> ledger::failures() const
{
    db_->ensure_schema();
    auto rows = db_->query<detail::failure_row>(
        "SELECT item_key, key_is_text, runs, last_reason, quarantined, first_failed, last_failed "
        "FROM sturdy_failure WHERE namespace = $1 "
        "ORDER BY key_is_text, CASE WHEN key_is_text THEN NULL ELSE item_key::bigint END, item_key",
        name_);
    std::vector<failure_info> out;
    out.reserve(rows.size());
    for (auto& r : rows) {
        out.push_back(detail::to_failure(std::move(r)));
    }
    return out;
}

STURDY_DECL failure_info ledger::record_failure(const key& k, std::string_view reason, int quarantine_after)
{
    db_->ensure_schema();
    auto row = db_->query_one<detail::failure_row>(
        "INSERT INTO sturdy_failure AS f(namespace, item_key, key_is_text, runs, first_failed, last_failed, "
        "last_reason, quarantined) VALUES($1, $2, $3, 1, $4, $4, $5, 1 >= $6) "
        "ON CONFLICT(namespace, item_key, key_is_text) DO UPDATE SET runs = f.runs + 1, "
        "last_failed = excluded.last_failed, last_reason = excluded.last_reason, quarantined = (f.runs + 1 >= $6) "
        "RETURNING item_key, key_is_text, runs, last_reason, quarantined, first_failed, last_failed",
        name_, k.str(), !k.is_integer(), now(), reason, quarantine_after);
    return detail::to_failure(std::move(*row));
}

STURDY_DECL void ledger::clear_failure(const key& k)
{
    db_->ensure_schema();
    db_->execute("DELETE FROM sturdy_failure WHERE namespace = $1 AND item_key = $2 AND key_is_text = $3", name_,
                 k.str(), !k.is_integer());
}

STURDY_DECL bool ledger::requeue(const key& k)
{
    db_->ensure_schema();
    return db_->execute("UPDATE sturdy_failure SET runs = 0, quarantined = false "
                        "WHERE namespace = $1 AND item_key = $2 AND key_is_text = $3",
                        name_, k.str(), !k.is_integer()) > 0;
}

// --- ledgers kept by the effect's own table --------------------------------------------------

namespace detail {

/// SQL for part `i` of `n` of the key text `k` (see store_detail::key_values): the whole key,
/// the text before the (i+1)th slash, or what follows the (n-1)th.
inline std::string key_part_sql(const std::string& k, std::size_t i, std::size_t n)
{
    if (n <= 1) {
        return k;
    }
    if (i + 1 < n) {
        return "split_part(" + k + ", '/', " + std::to_string(i + 1) + ")";
    }
    return "regexp_replace(" + k + ", '^([^/]*/){" + std::to_string(n - 1) + "}', '')";
}

/// A PostgreSQL array literal of the keys' texts, each checked to have `n` parts.
inline std::string checked_key_array(std::span<const key> keys, std::size_t n, const std::string& what)
{
    if (n > 1) {
        for (const auto& k : keys) {
            (void)store_detail::key_values(k, n, what);
        }
    }
    return text_array(keys);
}

/// How the checks of a user's table name this database; PostgreSQL's names are case-sensitive.
inline store_detail::catalog_rules catalog_rules() { return {"postgres", {}, "; names are case-sensitive", false}; }

/// The table `name` from pg_catalog (searched as the connection's search_path says): its
/// columns, their types, and its unique indexes.
inline store_detail::user_table read_user_table(database& db, std::string_view name)
{
    store_detail::user_table t{store_detail::split_qualified(name), {}, {}, {}};
    const std::string quoted = store_detail::quote_qualified(t.name);
    const auto oid = db.query_one<std::optional<std::int64_t>>("SELECT to_regclass($1)::oid::bigint", quoted);
    if (!oid || !*oid) {
        throw failure_error(sturdy::make_error_code(errc::schema_mismatch),
                            "postgres: the database has no table " + quoted +
                                " (searched as the connection's search_path says), which the ledger is to be kept "
                                "in: create it before db.ledger(...), or name its schema (\"schema.table\")");
    }
    for (auto& [column, type] : db.query<std::pair<std::string, std::string>>(
             "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute "
             "WHERE attrelid = $1::bigint::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
             **oid)) {
        t.columns.push_back(std::move(column));
        t.types.push_back(std::move(type));
    }
    for (auto& [index, cols] : db.query<std::pair<std::string, std::string>>(
             "SELECT i.relname::text, array_to_string(array(SELECT a.attname::text FROM "
             "unnest((x.indkey::int2[])[0:x.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord) "
             "JOIN pg_attribute AS a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.ord), E'\x1f') "
             "FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid "
             "WHERE x.indrelid = $1::bigint::oid AND x.indisunique AND x.indpred IS NULL AND x.indexprs IS NULL",
             **oid)) {
        std::vector<std::string> list;
        std::size_t from = 0;
        for (std::size_t at = cols.find('\x1f');; at = cols.find('\x1f', from)) {
            list.push_back(cols.substr(from, at == std::string::npos ? std::string::npos : at - from));
            if (at == std::string::npos) {
                break;
            }
            from = at + 1;
        }
        t.unique_indexes.push_back({std::move(index), std::move(list)});
    }
    return t;
}

} // namespace detail

STURDY_DECL unique_key_ledger database::ledger(const unique_key& spec)
{
    store_detail::require_key_columns("postgres", spec);
    const store_detail::catalog_rules rules = detail::catalog_rules();
    const store_detail::user_table t = detail::read_user_table(*this, spec.table);
    store_detail::require_columns(t, spec.columns, rules);
    unique_key_ledger l(*this, ledger(store_detail::failures_name(t, spec.name)));
    l.index_ = store_detail::require_unique_index(t, spec.columns, rules).name;
    l.describe(t, spec);
    for (const auto& c : spec.columns) {
        l.types_.push_back(*store_detail::column_type(t, c, rules));
    }
    l.lookup_sql_ = "SELECT u.i FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i) WHERE " + l.done_sql("u.k", "");
    return l;
}

STURDY_DECL std::string unique_key_ledger::done_sql(const std::string& key_sql, const std::string&) const
{
    std::string sql = "EXISTS (SELECT 1 FROM " + table_ + " AS sturdy_e WHERE ";
    for (std::size_t c = 0; c < columns_.size(); ++c) {
        sql += c == 0 ? "" : " AND ";
        sql +=
            "sturdy_e." + quoted_[c] + " = (" + detail::key_part_sql(key_sql, c, columns_.size()) + ")::" + types_[c];
    }
    sql += " OFFSET 0)";
    return sql;
}

STURDY_DECL void unique_key_ledger::lookup(std::span<const key> keys, std::vector<bool>& found) const
{
    found.assign(keys.size(), false);
    if (keys.empty()) {
        return;
    }
    for (const auto i :
         db_->query<std::int64_t>(lookup_sql_, detail::checked_key_array(keys, columns_.size(), what_))) {
        found[static_cast<std::size_t>(i - 1)] = true;
    }
}

STURDY_DECL bool unique_key_ledger::done_elsewhere(const std::error_code& code, std::string_view message) const
{
    return code.category() == postgres_category() && sqlstate(code) == "23505" &&
           message.find(store_detail::quote_identifier(index_)) != std::string_view::npos;
}

// --- marker ----------------------------------------------------------------------------------

STURDY_DECL marker_ledger database::ledger(const marker& spec)
{
    const store_detail::catalog_rules rules = detail::catalog_rules();
    const store_detail::user_table t = detail::read_user_table(*this, spec.table);
    store_detail::require_marker_columns(t, spec, rules);
    marker_ledger l(*this, ledger(store_detail::failures_name(t, spec.name)));
    l.describe(t, spec);
    l.id_type_ = *store_detail::column_type(t, spec.id_column, rules);
    l.marker_type_ = *store_detail::column_type(t, spec.marker_column, rules);
    const std::size_t parts = l.versioned_ ? 2 : 1;
    const auto id_of = [&](const std::string& k) {
        return "(" + detail::key_part_sql(k, 0, parts) + ")::" + l.id_type_;
    };
    std::string value; // what a claim writes
    std::string not_done;
    if (l.versioned_) {
        value = "(" + detail::key_part_sql("u.k", 1, 2) + ")::" + l.marker_type_;
        not_done = "sturdy_e." + l.marker_ + " IS DISTINCT FROM " + value;
    } else {
        const std::string& type = l.marker_type_;
        value = type.starts_with("timestamp") || type == "date" ? "now()"
                : type == "boolean"                             ? "true"
                                                                : "extract(epoch FROM now())::bigint";
        not_done = "sturdy_e." + l.marker_ + " IS NULL";
    }
    l.claim_sql_ = "UPDATE " + l.table_ + " AS sturdy_e SET " + l.marker_ + " = " + value +
                   " FROM (SELECT DISTINCT ON (" + id_of("v.k") +
                   ") v.k, v.i FROM unnest($1::text[]) WITH "
                   "ORDINALITY AS v(k, i) ORDER BY " +
                   id_of("v.k") + ", v.i) AS u WHERE sturdy_e." + l.id_ + " = " + id_of("u.k") + " AND " + not_done +
                   " RETURNING u.i";
    l.exists_sql_ = "SELECT u.i FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i) WHERE EXISTS (SELECT 1 FROM " +
                    l.table_ + " AS sturdy_e WHERE sturdy_e." + l.id_ + " = " + id_of("u.k") + ")";
    l.done_lookup_sql_ = "SELECT u.i FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i) WHERE " + l.done_sql("u.k", "");
    return l;
}

STURDY_DECL std::string marker_ledger::done_sql(const std::string& key_sql, const std::string&) const
{
    const std::size_t parts = versioned_ ? 2 : 1;
    std::string sql = "EXISTS (SELECT 1 FROM " + table_ + " AS sturdy_e WHERE sturdy_e." + id_ + " = (" +
                      detail::key_part_sql(key_sql, 0, parts) + ")::" + id_type_ + " AND sturdy_e." + marker_;
    sql += versioned_ ? " = (" + detail::key_part_sql(key_sql, 1, 2) + ")::" + marker_type_ : " IS NOT NULL";
    sql += " OFFSET 0)";
    return sql;
}

STURDY_DECL std::string marker_ledger::keys_array(std::span<const key> keys) const
{
    return detail::checked_key_array(keys, versioned_ ? 2 : 1, what_);
}

STURDY_DECL void marker_ledger::lookup(std::span<const key> keys, std::vector<bool>& found, bool done) const
{
    found.assign(keys.size(), false);
    if (keys.empty()) {
        return;
    }
    for (const auto i : db_->query<std::int64_t>(done ? done_lookup_sql_ : exists_sql_, keys_array(keys))) {
        found[static_cast<std::size_t>(i - 1)] = true;
    }
}

STURDY_DECL void marker_ledger::claim_all(std::span<const key> keys, std::vector<bool>& claimed)
{
    missing_.clear();
    claimed.assign(keys.size(), false);
    if (keys.empty()) {
        return;
    }
    const std::string array = keys_array(keys);
    for (const auto i : db_->query<std::int64_t>(claim_sql_, array)) {
        claimed[static_cast<std::size_t>(i - 1)] = true;
    }
    if (std::count(claimed.begin(), claimed.end(), true) == static_cast<std::ptrdiff_t>(keys.size())) {
        return;
    }
    std::vector<bool> exists(keys.size(), false);
    for (const auto i : db_->query<std::int64_t>(exists_sql_, array)) {
        exists[static_cast<std::size_t>(i - 1)] = true;
    }
    claim_missing(keys, exists, claimed); // no row: the item fails, named
}

STURDY_DECL std::size_t ledger::forget_marked_before(std::chrono::system_clock::time_point cutoff, std::size_t batch)
{
    store_detail::require_batch("postgres::ledger", batch);
    db_->ensure_schema();
    const std::int64_t before = std::chrono::floor<std::chrono::seconds>(cutoff).time_since_epoch().count();
    const auto offset = static_cast<std::int64_t>(batch - 1);
    // Key order is the primary key's (namespace, item_key, key_is_text): each batch is a range
    // of it, after the last key of the batch before, so the batches read the namespace once.
    // The first starts after ('', false), before every key: an integer key's text is never empty.
    std::tuple<std::string, bool> after{std::string(), false};
    return store_detail::in_batches(*db_, [&] {
        const auto& [after_key, after_is_text] = after;
        const auto last = db_->query_one<std::tuple<std::string, bool>>(
            "SELECT item_key, key_is_text FROM sturdy_ledger WHERE namespace = $1 AND marked_at < $2 AND "
            "(item_key, key_is_text) > ($3, $4) ORDER BY item_key, key_is_text LIMIT 1 OFFSET $5",
            name_, before, after_key, after_is_text, offset);
        const std::int64_t n =
            last ? db_->execute("DELETE FROM sturdy_ledger WHERE namespace = $1 AND marked_at < $2 AND "
                                "(item_key, key_is_text) > ($3, $4) AND (item_key, key_is_text) <= ($5, $6)",
                                name_, before, after_key, after_is_text, std::get<0>(*last), std::get<1>(*last))
                 : db_->execute("DELETE FROM sturdy_ledger WHERE namespace = $1 AND marked_at < $2 AND "
                                "(item_key, key_is_text) > ($3, $4)", // fewer than a batch left
                                name_, before, after_key, after_is_text);
        if (last) {
            after = *last;
        }
        return std::pair(n, last.has_value());
    });
}

} // namespace sturdy::postgres
