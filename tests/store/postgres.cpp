// The PostgreSQL store's own cases, on the server scripts/with-postgres starts (see
// tests/store/meson.build); what every store shares is in tests/store/suite.cpp.
#include "fixtures.hpp"

#include <sturdy/store/postgres.hpp>
#include <sturdy/store/postgres_claim.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
namespace pg = sturdy::postgres;

namespace {

template <class Fn> sturdy::failure_error failure_of(Fn&& fn)
{
    try {
        fn();
    } catch (const sturdy::failure_error& e) {
        return e;
    }
    FAIL("expected a sturdy::failure_error");
    throw std::logic_error("unreachable");
}

bool contains_text(const std::string& haystack, std::string_view needle)
{
    return haystack.find(needle) != std::string::npos;
}

std::string state_of(const sturdy::failure_error& e) { return pg::sqlstate(e.code()); }

/// A fresh schema with the fixture's tables, and a database connected into it.
struct fresh {
    test::postgres_store store;
    pg::database& db = store.db;

    fresh() = default;
    explicit fresh(pg::options opts) : store(std::move(opts)) {}
};

/// Refuses new connections to the database `db` is connected to while it lives (ALTER DATABASE
/// ... ALLOW_CONNECTIONS false, from the `postgres` database: the server will not do it from
/// the database itself); connections already open stay. `allow()` ends it early.
struct connections_refused {
    std::string name;
    pg::database admin{"dbname=postgres"}; // host, port and user: scripts/with-postgres's PG* variables
    bool refused = false;

    explicit connections_refused(pg::database& db) : name(*db.query_one<std::string>("SELECT current_database()"))
    {
        admin.exec("ALTER DATABASE " + name + " ALLOW_CONNECTIONS false");
        refused = true;
    }
    connections_refused(const connections_refused&) = delete;
    connections_refused& operator=(const connections_refused&) = delete;
    void allow()
    {
        if (std::exchange(refused, false)) {
            admin.exec("ALTER DATABASE " + name + " ALLOW_CONNECTIONS true");
        }
    }
    ~connections_refused()
    {
        try {
            allow();
        } catch (...) { // NOLINT(bugprone-empty-catch): the test has failed already
        }
    }
};

/// A second connection into the same schema.
pg::database other_connection(const fresh& f) { return pg::database(f.store.schema.conninfo); }

/// A TCP port on 127.0.0.1 that accepts connections and never answers (a hung server).
struct silent_listener {
    int fd = -1;
    int port = 0;
    silent_listener()
    {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(fd, 4) == 0);
        socklen_t len = sizeof addr;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        port = ntohs(addr.sin_port);
    }
    silent_listener(const silent_listener&) = delete;
    silent_listener& operator=(const silent_listener&) = delete;
    ~silent_listener() { ::close(fd); }
};

} // namespace

TEST_CASE("postgres: statements are prepared once per text and parameter types; parameters are typed")
{
    fresh f;
    auto& db = f.db;
    db.exec("CREATE TABLE v(i bigint, r double precision, b boolean, s text, d date, o text)");
    const auto before = db.prepared_statements();
    const std::string sql = "INSERT INTO v VALUES($1, $2, $3, $4, $5, $6)";
    const std::optional<std::string> none;
    const std::optional<std::string> some = "o";
    CHECK(db.execute(sql, 1, 1.5, true, "c-string", "2024-05-31", none) == 1);
    CHECK(db.execute(sql, std::int64_t{2}, 2.5f, false, std::string_view("view"), std::string("2024-06-01"), some) ==
          1);
    CHECK(db.prepared_statements() == before + 2); // the second call's $6 is a text, the first's an unknown NULL
    db.execute(sql, sturdy::key(3), nullptr, true, sturdy::key("key"), nullptr, std::nullopt);
    db.execute(sql, sturdy::key(4), nullptr, true, sturdy::key("key"), nullptr, std::nullopt);
    CHECK(db.prepared_statements() == before + 3);

    using row = std::tuple<int, std::optional<double>, bool, std::string, std::optional<std::string>,
                           std::optional<std::string>>;
    const auto rows = db.query<row>("SELECT i, r, b, s, d::text, o FROM v ORDER BY i");
    REQUIRE(rows.size() == 4);
    CHECK(rows[0] == row{1, 1.5, true, "c-string", "2024-05-31", std::nullopt});
    CHECK(rows[1] == row{2, 2.5, false, "view", "2024-06-01", "o"});
    CHECK(rows[2] == row{3, std::nullopt, true, "key", std::nullopt, std::nullopt});
    CHECK(db.execute("UPDATE v SET s = 'x' WHERE i >= $1", 2) == 3);
    CHECK(db.query_one<sturdy::key>("SELECT i FROM v WHERE i = 1") == sturdy::key(1)); // int8 reads as an integer key
    CHECK(db.query_one<sturdy::key>("SELECT s FROM v WHERE i = 1") == sturdy::key("c-string"));
    CHECK_FALSE(db.query_one<int>("SELECT i FROM v WHERE i > 100"));

    const auto null_read = failure_of([&] { db.query<double>("SELECT r FROM v WHERE i = 3"); });
    CHECK(contains_text(null_read.message(), "is NULL; read it as a std::optional"));
    const auto bad = failure_of([&] { db.query<int>("SELECT s FROM v WHERE i = 1"); });
    CHECK(contains_text(bad.message(), "holds 'c-string', not an integer"));
    using two_columns = std::tuple<int, int>;
    CHECK_THROWS_AS(db.query<two_columns>("SELECT i FROM v"), sturdy::usage_error);
}

TEST_CASE("postgres: SQL written with ? placeholders is refused with the fix; PostgreSQL's ? operators still work")
{
    fresh f;
    auto& db = f.db;
    db.exec("CREATE TABLE q(id bigint PRIMARY KEY, doc jsonb NOT NULL, note text NOT NULL DEFAULT '')");
    const auto refused = [](auto&& call) {
        try {
            call();
        } catch (const sturdy::usage_error& e) {
            return std::string(e.what());
        }
        FAIL("expected a sturdy::usage_error");
        return std::string();
    };
    // A statement written for another store: refused before it reaches the server (which would
    // say "syntax error at or near ?"), with the fix.
    const auto message = refused([&] { db.execute("INSERT INTO q(id, doc) VALUES(?, ?::jsonb)", 1, "{}"); });
    CHECK(contains_text(message, "given 2 argument(s) but numbers none"));
    CHECK(contains_text(message, "'?' at offset 30"));
    CHECK(contains_text(message, "write $1, $2 ... instead, which the SQLite store accepts too"));
    CHECK(contains_text(message, "(in: INSERT INTO q(id, doc) VALUES(?, ?::jsonb))"));
    CHECK(contains_text(refused([&] { (void)db.query_one<int>("SELECT 1 FROM q WHERE id = ?", 1); }), "numbers none"));
    CHECK(contains_text(refused([&] { (void)db.query<int>("SELECT 1 FROM q WHERE id = $1 OR id = ?", 1, 2); }),
                        "numbers only $1 to $1"));
    CHECK(contains_text(refused([&] {
                            for (const auto& row : db.rows<std::int64_t>("SELECT id FROM q WHERE id > ?", 0)) {
                                (void)row;
                            }
                        }),
                        "numbers none"));
    CHECK(contains_text(refused([&] {
                            auto ledger = db.ledger("job");
                            (void)pg::claim_rows<std::int64_t>(
                                db, ledger,
                                {.select = "q.id", .from = "q", .where = "q.id > ?", .key = "q.id", .lock = "q"}, 0);
                        }),
                        "given 1 argument(s) but numbers none"));
    CHECK(db.execute("SELECT 1") == 1); // the connection is fine

    // Valid PostgreSQL: jsonb's ?, ?| and ?& operators, and ? in literals, identifiers,
    // comments and dollar-quoted strings, with $n parameters.
    db.execute("INSERT INTO q(id, doc, note) VALUES($1, $2::jsonb, '?')", 1, R"({"a": 1, "b": 2})");
    CHECK(db.query_one<bool>("SELECT doc ? 'a' FROM q WHERE id = $1", 1) == true);
    CHECK(db.query_one<bool>("SELECT doc ?| array['x', $2] FROM q WHERE id = $1", 1, "b") == true);
    CHECK(db.query_one<bool>("SELECT doc ?& array['a', $2] FROM q WHERE id = $1", 1, "x") == false);
    CHECK(db.query_one<bool>("SELECT doc ? 'a' FROM q") == true); // no arguments: nothing to check
    CHECK(db.query_one<std::string>("SELECT '?' || $1 || E'\\'?' || $$?$$ || $tag$ ' ? $tag$ AS \"?\" -- ?\n"
                                    "/* ? /* nested ? */ ? */",
                                    "x") == "?x'?? ' ? ");
    CHECK(db.query<std::int64_t>("SELECT id FROM q WHERE note = '?' AND id = $1", 1) == std::vector<std::int64_t>{1});

    // What the check reads: the ? outside literals, identifiers, comments and dollar quotes, and
    // the highest $n.
    const auto scan = [](std::string_view sql) {
        const auto p = pg::detail::scan_placeholders(sql);
        return std::tuple(p.question_marks, p.highest);
    };
    CHECK(scan("SELECT ?, ?") == std::tuple(2U, 0));
    CHECK(scan("SELECT $2, $10, ?") == std::tuple(1U, 10));
    CHECK(scan("SELECT '?''?', E'\\'?', \"?\"\"?\", $$?$$, $a$?$b$?$a$, ? -- ?\n ? /* ? */") == std::tuple(2U, 0));
    CHECK(scan("SELECT a$1, $1") == std::tuple(0U, 1)); // a$1 is an identifier
    CHECK(scan("SELECT x ?| $3") == std::tuple(1U, 3));
    CHECK(scan("SELECT 'unterminated ?") == std::tuple(0U, 0));
}

TEST_CASE("postgres: the lazy rows range reads in batches through a cursor while chunks commit")
{
    fresh f;
    auto& db = f.db;
    db.exec("CREATE TABLE src(id bigint PRIMARY KEY, name text NOT NULL);"
            "INSERT INTO src SELECT g, 'n' || g FROM generate_series(1, 2500) g");
    auto ledger = db.ledger("copy");
    struct src_row {
        std::int64_t id;
        std::string name;
    };
    // Outside a transaction: on the second connection, with a snapshot of its own; the loop's
    // writes to the table being read are not seen.
    const auto r = db.rows<src_row>("SELECT id, name FROM src WHERE id > $1 ORDER BY id", 0) |
                   sturdy::idempotent_by(ledger, [](const src_row& s) { return s.id; }) | sturdy::chunked(db, 300) |
                   sturdy::guarded([&](const src_row& s) {
                       f.store.write(s.id, 1);
                       db.execute("INSERT INTO src VALUES($1, $2)", s.id + 10000, s.name);
                   }) |
                   sturdy::drain;
    CHECK(r.seen == 2500);
    CHECK(r.done == 2500);
    CHECK(f.store.count() == 2500);
    CHECK(*db.query_one<std::int64_t>("SELECT count(*) FROM src") == 5000);

    SECTION("inside a transaction it reads on the main connection and sees its uncommitted rows")
    {
        db.begin();
        db.execute("INSERT INTO src VALUES(-1, 'uncommitted')");
        std::vector<std::string> names;
        for (const auto& [id, name] : db.rows<std::tuple<int, std::string>>("SELECT id, name FROM src WHERE id < 3 "
                                                                            "ORDER BY id")) {
            names.push_back(name);
        }
        CHECK(names == std::vector<std::string>{"uncommitted", "n1", "n2"});
        db.rollback();
    }
    SECTION("single-pass: a second walk finds it consumed")
    {
        auto range = db.rows<int>("SELECT id FROM src WHERE id > $1 ORDER BY id", std::string("2498"));
        std::vector<int> ids;
        for (const int id : range) {
            ids.push_back(id);
            if (ids.size() == 2) {
                break;
            }
        }
        CHECK(ids == std::vector<int>{2499, 2500});
    }
}

TEST_CASE("postgres: bad connection strings fail with what was tried and what to fix, within connect_timeout")
{
    const std::string base = test::postgres_conninfo();
    auto message_of = [](const std::string& conninfo, pg::options opts = {}) {
        const auto e = failure_of([&] { pg::database db(conninfo, opts); });
        CHECK(e.code() == sturdy::errc::store_unavailable);
        CHECK(sturdy::is_fatal(e.code()));
        return e.message();
    };
    SECTION("not a connection string")
    {
        const auto m = message_of("host='unterminated password=hunter2");
        CHECK(contains_text(m, "invalid PostgreSQL connection string"));
        CHECK(contains_text(m, "write a libpq URI"));
        CHECK_FALSE(contains_text(m, "hunter2"));
    }
    SECTION("unknown host")
    {
        const auto m = message_of("postgresql://someone:hunter2@no-such-host.invalid/db");
        CHECK(contains_text(m, "tried host=no-such-host.invalid"));
        CHECK(contains_text(m, "check the host name"));
        CHECK(contains_text(m, "someone:***@"));
        CHECK_FALSE(contains_text(m, "hunter2"));
    }
    SECTION("nothing listening")
    {
        const auto m = message_of("host=127.0.0.1 port=1 dbname=x password=hunter2");
        CHECK(contains_text(m, "port=1"));
        CHECK(contains_text(m, "check that the server is running"));
        CHECK(contains_text(m, "password=***"));
        CHECK_FALSE(contains_text(m, "hunter2"));
    }
    SECTION("missing database")
    {
        pg::database admin(base);
        const auto host = *admin.query_one<std::string>("SELECT current_setting('unix_socket_directories')");
        const auto port = *admin.query_one<std::string>("SELECT current_setting('port')");
        const auto m = message_of("host=" + host + " port=" + port + " dbname=no_such_db");
        CHECK(contains_text(m, "dbname=no_such_db"));
        CHECK(contains_text(m, "create the database"));
    }
    SECTION("refused authentication: an unknown role")
    {
        pg::database admin(base);
        const auto host = *admin.query_one<std::string>("SELECT current_setting('unix_socket_directories')");
        const auto port = *admin.query_one<std::string>("SELECT current_setting('port')");
        const auto m = message_of("host=" + host + " port=" + port + " user=no_such_role dbname=postgres");
        CHECK(contains_text(m, "user=no_such_role"));
        CHECK(contains_text(m, "check the user name and password"));
    }
    SECTION("a server that never answers: connect_timeout, not a hang")
    {
        silent_listener silent;
        pg::options opts;
        opts.connect_timeout = 2s;
        const auto start = std::chrono::steady_clock::now();
        const auto m = message_of("host=127.0.0.1 port=" + std::to_string(silent.port) + " dbname=x", opts);
        CHECK(std::chrono::steady_clock::now() - start < 30s); // a bound, not a measurement
        CHECK(contains_text(m, "connect_timeout=2 s"));
    }
}

TEST_CASE("postgres: SQLSTATEs map onto transient, permanent and fatal")
{
    using sturdy::failure_kind;
    CHECK(sturdy::kind_of(pg::make_error_code("40001")) == failure_kind::transient);
    CHECK(sturdy::kind_of(pg::make_error_code("40P01")) == failure_kind::transient);
    CHECK(sturdy::kind_of(pg::make_error_code("55P03")) == failure_kind::transient);
    CHECK(sturdy::kind_of(pg::make_error_code("57014")) == failure_kind::transient);
    CHECK(sturdy::kind_of(pg::make_error_code("57P01")) == failure_kind::transient);
    CHECK(sturdy::kind_of(pg::make_error_code("08006")) == failure_kind::transient);
    CHECK(sturdy::kind_of(pg::make_error_code("08001")) == failure_kind::transient);
    CHECK(sturdy::kind_of(pg::make_error_code("23505")) == failure_kind::permanent);
    CHECK(sturdy::kind_of(pg::make_error_code("22012")) == failure_kind::permanent);
    CHECK(sturdy::kind_of(pg::make_error_code("42P01")) == failure_kind::fatal);
    CHECK(sturdy::kind_of(pg::make_error_code("42703")) == failure_kind::fatal);
    CHECK(sturdy::kind_of(pg::make_error_code("42501")) == failure_kind::fatal);
    CHECK(pg::sqlstate(pg::make_error_code("40P01")) == "40P01");
    CHECK(pg::make_error_code("40P01").message() == "SQLSTATE 40P01");

    fresh f;
    auto& db = f.db;
    db.exec("CREATE TABLE r(id bigint PRIMARY KEY, v bigint NOT NULL)");
    db.execute("INSERT INTO r VALUES(1, 1), (2, 2)");
    auto kind = [](const sturdy::failure_error& e) { return sturdy::kind_of(e.code()); };

    SECTION("integrity and data errors: permanent")
    {
        const auto dup = failure_of([&] { db.execute("INSERT INTO r VALUES(1, 0)"); });
        CHECK(state_of(dup) == "23505");
        CHECK(kind(dup) == failure_kind::permanent);
        CHECK(contains_text(dup.message(), "duplicate key value"));
        CHECK(contains_text(dup.message(), "(in: INSERT INTO r VALUES(1, 0))"));
        const auto div = failure_of([&] { db.query_one<int>("SELECT 1 / (v - 1) FROM r WHERE id = 1"); });
        CHECK(state_of(div) == "22012");
        CHECK(kind(div) == failure_kind::permanent);
    }
    SECTION("a missing table or column, permission denied: fatal")
    {
        const auto table = failure_of([&] { db.execute("INSERT INTO no_such_table VALUES(1)"); });
        CHECK(state_of(table) == "42P01");
        CHECK(kind(table) == failure_kind::fatal);
        const auto column = failure_of([&] { db.execute("UPDATE r SET no_such_column = 1"); });
        CHECK(state_of(column) == "42703");
        CHECK(kind(column) == failure_kind::fatal);
        db.exec("DROP ROLE IF EXISTS sturdy_nobody; CREATE ROLE sturdy_nobody; GRANT USAGE ON SCHEMA " +
                f.store.schema.name + " TO sturdy_nobody");
        db.begin();
        db.exec("SET LOCAL ROLE sturdy_nobody");
        const auto denied = failure_of([&] { db.execute("UPDATE r SET v = 0"); });
        db.rollback();
        db.exec("DROP OWNED BY sturdy_nobody; DROP ROLE sturdy_nobody");
        CHECK(state_of(denied) == "42501");
        CHECK(kind(denied) == failure_kind::fatal);
    }
    SECTION("statement timeout and lock timeout: transient")
    {
        db.exec("SET statement_timeout = '50ms'");
        const auto slow = failure_of([&] { db.query_one<std::string>("SELECT pg_sleep(5)::text"); });
        CHECK(state_of(slow) == "57014");
        CHECK(kind(slow) == failure_kind::transient);
        db.exec("SET statement_timeout = 0");

        auto holder = other_connection(f);
        holder.begin();
        holder.execute("UPDATE r SET v = 10 WHERE id = 1");
        db.exec("SET lock_timeout = '50ms'");
        const auto locked = failure_of([&] { db.execute("UPDATE r SET v = 11 WHERE id = 1"); });
        CHECK(state_of(locked) == "55P03");
        CHECK(kind(locked) == failure_kind::transient);
        holder.rollback();
    }
    SECTION("serialization failure between two connections: transient")
    {
        auto other = other_connection(f);
        db.begin();
        db.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
        CHECK(db.query_one<std::int64_t>("SELECT v FROM r WHERE id = 1") == 1); // the snapshot is taken
        other.execute("UPDATE r SET v = 20 WHERE id = 1");                      // and committed
        const auto e = failure_of([&] { db.execute("UPDATE r SET v = 21 WHERE id = 1"); });
        db.rollback();
        CHECK(state_of(e) == "40001");
        CHECK(kind(e) == failure_kind::transient);
    }
    SECTION("deadlock between two connections: transient")
    {
        auto other = other_connection(f);
        other.exec("SET deadlock_timeout = '10s'"); // the store's connection detects it first
        db.exec("SET deadlock_timeout = '20ms'");
        db.begin();
        other.begin();
        db.execute("UPDATE r SET v = 30 WHERE id = 1");
        other.execute("UPDATE r SET v = 31 WHERE id = 2");
        // The other connection waits for row 1 without blocking this thread...
        REQUIRE(PQsendQuery(other.handle(), "UPDATE r SET v = 32 WHERE id = 1") == 1);
        // ...and this one for row 2: a cycle, which the server breaks by failing this statement.
        const auto e = failure_of([&] { db.execute("UPDATE r SET v = 33 WHERE id = 2"); });
        db.rollback();
        while (PGresult* res = PQgetResult(other.handle())) {
            PQclear(res);
        }
        other.rollback();
        CHECK(state_of(e) == "40P01");
        CHECK(kind(e) == failure_kind::transient);
    }
    SECTION("a terminated backend: transient, and the next statement reconnects")
    {
        auto admin = other_connection(f);
        CHECK(db.query_one<int>("SELECT $1 + 1", 1) == 2); // prepared on this connection
        admin.query_one<bool>("SELECT pg_terminate_backend($1, 10000)", db.backend_pid()); // waits until it is gone
        const auto e = failure_of([&] { db.query_one<int>("SELECT 1"); });
        CHECK(kind(e) == failure_kind::transient);
        CHECK((state_of(e) == "57P01" || state_of(e).starts_with("08")));
        CHECK(db.query_one<int>("SELECT 1") == 1);
        CHECK(db.reconnects() == 1);
        CHECK(db.query_one<int>("SELECT $1 + 1", 2) == 3); // prepared again on the new connection
    }
}

TEST_CASE("postgres: a fatal error stops the run at once, and no item is failure-recorded")
{
    fresh f;
    auto& db = f.db;
    auto ledger = db.ledger("job");
    const auto r = std::views::iota(std::int64_t{1}, std::int64_t{50}) |
                   sturdy::idempotent_by(ledger, [](std::int64_t i) { return i; }) | sturdy::chunked(db, 10) |
                   sturdy::guarded([&](std::int64_t i) {
                       if (i == 15) {
                           db.execute("INSERT INTO no_such_table VALUES($1)", i);
                       }
                       f.store.write(i, 1);
                   }) |
                   sturdy::drain;
    CHECK(r.done == 14);
    CHECK(contains_text(r.stopped_early, "no_such_table"));
    CHECK(r.remaining == 35);
    CHECK(ledger.failures().empty());
    CHECK(f.store.count() == 14);
}

TEST_CASE("postgres: a backend terminated mid-run: the chunk is lost, the store reconnects, nothing is lost or done "
          "twice")
{
    fresh f;
    auto& db = f.db;
    auto admin = other_connection(f);
    auto ledger = db.ledger("job");
    sturdy::manual_clock clock;
    bool terminated = false;
    const auto r = std::views::iota(std::int64_t{1}, std::int64_t{201}) |
                   sturdy::idempotent_by(ledger, [](std::int64_t i) { return i; }) | sturdy::chunked(db, 20) |
                   sturdy::guarded([&](std::int64_t i) {
                       if (i == 77 && !std::exchange(terminated, true)) {
                           admin.query_one<bool>("SELECT pg_terminate_backend($1, 10000)",
                                                 db.backend_pid()); // waits until it is gone
                       }
                       f.store.write(i, 1); // a second write of an item would break t's primary key
                   }) |
                   sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::with_clock(clock) |
                   sturdy::drain;
    CHECK(terminated);
    CHECK(r.done == 200);
    CHECK(r.failed == 0);
    CHECK(f.store.count() == 200);
    CHECK(ledger.size() == 200);
    CHECK(db.reconnects() == 1);
    CHECK(*admin.query_one<std::int64_t>("SELECT count(DISTINCT id) FROM line") == 200);
}

TEST_CASE("postgres: a server restart mid-run: the store reconnects and finishes")
{
    const char* pg_ctl = std::getenv("STURDY_PG_CTL");
    REQUIRE(pg_ctl != nullptr); // set by scripts/with-postgres
    fresh f;
    auto& db = f.db;
    auto ledger = db.ledger("job");
    sturdy::manual_clock clock;
    bool restarted = false;
    const auto r = std::views::iota(std::int64_t{1}, std::int64_t{101}) |
                   sturdy::idempotent_by(ledger, [](std::int64_t i) { return i; }) | sturdy::chunked(db, 10) |
                   sturdy::guarded([&](std::int64_t i) {
                       if (i == 45 && !std::exchange(restarted, true)) {
                           const std::string cmd = std::string(pg_ctl) + " restart -m fast -w -t 60 >/dev/null";
                           REQUIRE(std::system(cmd.c_str()) == 0);
                       }
                       f.store.write(i, 1);
                   }) |
                   sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::with_clock(clock) |
                   sturdy::drain;
    CHECK(restarted);
    CHECK(r.done == 100);
    CHECK(r.failed == 0);
    CHECK(f.store.count() == 100);
    CHECK(ledger.size() == 100);
    CHECK(db.reconnects() >= 1);
    CHECK(*db.query_one<std::int64_t>("SELECT count(*) FROM line") == 100); // none written twice
}

TEST_CASE("postgres: a lost connection that cannot be re-established at once: bounded backoff through the "
          "injected sleep, then the run goes on")
{
    sturdy::manual_clock clock;
    std::vector<std::chrono::milliseconds> waits; // the store's, apart from the loop's backoff
    std::function<void()> on_wait;
    pg::options opts;
    opts.sleep = [&](std::chrono::milliseconds d) {
        waits.push_back(d);
        clock.sleep_for(d);
        on_wait();
    };
    fresh f(opts);
    auto& db = f.db;
    auto admin = other_connection(f);
    auto ledger = db.ledger("job");

    SECTION("the server accepts connections again after two waits")
    {
        std::optional<connections_refused> refused;
        on_wait = [&] {
            if (waits.size() == 2) {
                refused->allow();
            }
        };
        const auto r = std::views::iota(std::int64_t{1}, std::int64_t{201}) |
                       sturdy::idempotent_by(ledger, [](std::int64_t i) { return i; }) | sturdy::chunked(db, 20) |
                       sturdy::guarded([&](std::int64_t i) {
                           if (i == 77 && !refused) {
                               refused.emplace(admin);
                               admin.query_one<bool>("SELECT pg_terminate_backend($1, 10000)", db.backend_pid());
                           }
                           f.store.write(i, 1); // prepared before the loss, prepared again after it
                       }) |
                       sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::with_clock(clock) |
                       sturdy::drain;
        CHECK(refused.has_value());
        CHECK(waits == std::vector<std::chrono::milliseconds>{100ms, 200ms});
        CHECK(r.done == 200);
        CHECK(r.failed == 0);
        CHECK(db.reconnects() == 1);
        CHECK(f.store.count() == 200);
        CHECK(ledger.size() == 200);
        CHECK(*admin.query_one<std::int64_t>("SELECT count(DISTINCT id) FROM line") == 200);
        CHECK(*admin.query_one<std::int64_t>("SELECT count(*) FROM line") == 200);
    }
    SECTION("it never does: after reconnect_attempts the run stops with the reason, nothing failure-recorded")
    {
        on_wait = [] {};
        std::optional<connections_refused> refused;
        const auto r = std::views::iota(std::int64_t{1}, std::int64_t{201}) |
                       sturdy::idempotent_by(ledger, [](std::int64_t i) { return i; }) | sturdy::chunked(db, 20) |
                       sturdy::guarded([&](std::int64_t i) {
                           if (i == 77 && !refused) {
                               refused.emplace(admin);
                               admin.query_one<bool>("SELECT pg_terminate_backend($1, 10000)", db.backend_pid());
                           }
                           f.store.write(i, 1);
                       }) |
                       sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::with_clock(clock) |
                       sturdy::drain;
        // 6 attempts, 5 waits: 100 ms doubled each time.
        CHECK(waits == std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms, 1600ms});
        CHECK(contains_text(r.stopped_early, "6 attempts to reconnect failed"));
        CHECK(contains_text(r.stopped_early, "not currently accepting connections"));
        CHECK(r.done == 60);
        CHECK(r.failed == 0);
        refused->allow();
        CHECK(ledger.failures().empty());
        CHECK(f.store.count() == 60);
        CHECK(ledger.size() == 60);
    }
}

TEST_CASE("postgres: reconnect waits double up to 5 s")
{
    test::postgres_schema schema;
    std::vector<std::chrono::milliseconds> waits;
    pg::options opts;
    opts.reconnect_attempts = 8;
    opts.reconnect_delay = 1s;
    opts.sleep = [&](std::chrono::milliseconds d) { waits.push_back(d); };
    pg::database db(schema.conninfo, opts);
    pg::database admin(schema.conninfo);
    {
        const connections_refused refused(admin);
        admin.query_one<bool>("SELECT pg_terminate_backend($1, 10000)", db.backend_pid());
        const auto lost = failure_of([&] { db.begin(); }); // what finds the connection gone
        CHECK(sturdy::kind_of(lost.code()) == sturdy::failure_kind::transient);
        const auto e = failure_of([&] { db.begin(); }); // reconnects
        CHECK(e.code() == sturdy::errc::store_unavailable);
        CHECK(contains_text(e.message(), "8 attempts to reconnect failed"));
    }
    CHECK(waits == std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 5s, 5s, 5s, 5s});
    db.begin(); // the server accepts connections again: reconnected
    db.rollback();
    CHECK(db.reconnects() == 1);
}

TEST_CASE("postgres: several workers creating the sturdy tables at once all succeed")
{
    test::postgres_schema schema;
    constexpr int workers = 6;
    std::vector<std::string> errors(workers);
    {
        std::vector<std::jthread> threads;
        for (int w = 0; w < workers; ++w) {
            threads.emplace_back([&, w] {
                try {
                    pg::database db(schema.conninfo);
                    auto ledger = db.ledger("job");
                    ledger.mark(w);
                } catch (const std::exception& e) {
                    errors[static_cast<std::size_t>(w)] = e.what();
                }
            });
        }
    }
    for (const auto& e : errors) {
        CHECK(e.empty());
    }
    pg::database db(schema.conninfo);
    CHECK(db.query<int>("SELECT version FROM sturdy_schema") == std::vector<int>{pg::database::schema_version});
    CHECK(db.ledger("job").size() == workers);
}

TEST_CASE("postgres: the sturdy tables carry a schema version; a newer one is refused")
{
    test::postgres_schema schema;
    {
        pg::database db(schema.conninfo);
        db.ledger("x");
        db.execute("UPDATE sturdy_schema SET version = 999");
    }
    const auto e = failure_of([&] { pg::database db(schema.conninfo); });
    CHECK(e.code() == sturdy::errc::schema_mismatch);
    CHECK(contains_text(e.message(), "schema version 999"));
    CHECK(contains_text(e.message(), "upgrade sturdy"));
}

TEST_CASE("postgres: claim_all claims a batch of keys in one statement")
{
    fresh f;
    auto& db = f.db;
    auto ledger = db.ledger("job");
    ledger.mark(2);
    const std::vector<sturdy::key> keys{1, 2, "2", "quote\"back\\slash", 1, "{brace,comma}"};
    std::vector<bool> claimed;
    db.begin();
    ledger.claim_all(keys, claimed);
    CHECK(claimed == std::vector<bool>{true, false, true, true, false, true});
    CHECK(ledger.contains("quote\"back\\slash"));
    CHECK(ledger.contains("{brace,comma}"));
    db.rollback();
    CHECK(ledger.size() == 1);
    ledger.claim_all({}, claimed);
    CHECK(claimed.empty());
}

namespace {
/// The lines of a plan that read `table`, each of which must be a per-row index probe (an
/// Index Scan or Index Only Scan), never a scan of the table's rows of the whole namespace.
void check_index_probes(const std::vector<std::string>& plan, std::string_view table)
{
    const std::string all = std::accumulate(plan.begin(), plan.end(), std::string(),
                                            [](std::string a, const std::string& b) { return a + b + "\n"; });
    INFO(all);
    int probes = 0;
    for (const auto& line : plan) {
        if (contains_text(line, std::string(" on ") + std::string(table))) {
            CHECK(contains_text(line, "Index"));
            CHECK_FALSE(contains_text(line, "Bitmap"));
            ++probes;
        }
    }
    CHECK(probes > 0);
    CHECK_FALSE(contains_text(all, "Materialize"));
    CHECK_FALSE(contains_text(all, "hashed SubPlan"));
}
} // namespace

TEST_CASE("postgres: a claim looks its candidates up in the ledger by index, even when the ledger's statistics are "
          "stale")
{
    fresh f;
    auto& db = f.db;
    auto ledger = db.ledger("job");
    // A job in progress before autovacuum has analyzed the ledger: without statistics the
    // planner guesses that few of its rows are this job's, and would rather read them all once
    // and compare each candidate against them (every done key per claim, growing with the job).
    db.exec("ALTER TABLE sturdy_ledger SET (autovacuum_enabled = false);"
            "ALTER TABLE sturdy_failure SET (autovacuum_enabled = false);"
            "CREATE TABLE w(id bigint PRIMARY KEY, v bigint NOT NULL);"
            "INSERT INTO w SELECT i, i FROM generate_series(1, 20000) AS i;"
            "INSERT INTO sturdy_ledger SELECT 'job', i::text, false, 0 FROM generate_series(1, 15000) AS i;"
            "ANALYZE w");
    auto work = pg::claim_rows<std::tuple<std::int64_t, std::int64_t>>(
        db, ledger, {.select = "w.id, w.v", .from = "w", .key = "w.id", .lock = "w", .resume = "w.id"});
    db.begin();
    check_index_probes(work.explain_claim(200), "sturdy_ledger");
    // A claim, then the next one from where it ended, and the statement that follows each claim.
    work.begin_chunk(200);
    auto it = work.begin();
    REQUIRE(it != work.end()); // claims
    CHECK(std::get<0>(*it) == 15001);
    CHECK(work.claims() == 1);
    check_index_probes(work.explain_claim(200), "sturdy_ledger");
    check_index_probes(
        db.query<std::string>("EXPLAIN " + pg::detail::finished_sql([](const std::string& k, const std::string& n) {
                                  return pg::ledger::done_sql(k, n);
                              }),
                              "1\x1f"
                              "2",
                              "3\x1f"
                              "4",
                              "job", std::int64_t{0}),
        "sturdy_ledger");
    db.rollback();
}

namespace {
using claimed_ids = std::vector<std::int64_t>;
/// One chunk of `n` from `work`, in a transaction of `db` left open: the ids it claimed.
template <class Work> claimed_ids claim_chunk(pg::database& db, Work& work, std::size_t n)
{
    db.begin();
    work.begin_chunk(n);
    claimed_ids ids;
    for (auto it = work.begin(); it != work.end(); ++it) {
        ids.push_back(*it);
    }
    return ids;
}
} // namespace

TEST_CASE("postgres: when several workers end, one goes back to the beginning for released rows, not each")
{
    fresh f;
    auto other = other_connection(f);
    f.db.exec("CREATE TABLE w(id bigint PRIMARY KEY)");
    f.db.execute("INSERT INTO w SELECT generate_series(1, $1)", std::int64_t{10});
    const auto pid = [](pg::database& d) { return *d.query_one<int>("SELECT pg_backend_pid()"); };
    // Which connection has the lower backend pid decides which of two ending workers goes back.
    const bool first_lower = pid(f.db) < pid(other);
    pg::database& low = first_lower ? f.db : other;
    pg::database& high = first_lower ? other : f.db;
    const pg::claim_query q{.select = "w.id", .from = "w", .key = "w.id", .lock = "w", .resume = "w.id"};
    auto low_ledger = low.ledger("job");
    auto high_ledger = high.ledger("job");
    auto low_work = pg::claim_rows<std::int64_t>(low, low_ledger, q);
    auto high_work = pg::claim_rows<std::int64_t>(high, high_ledger, q);

    // A worker reaches the end of its pass (a claim from where it left off finds too few rows)
    // while another one, with a lower pid, is inside a chunk: it ends, leaving the pass from the
    // beginning to that one, which ends after it.
    CHECK(claim_chunk(low, low_work, 4) == claimed_ids{1, 2, 3, 4}); // low's chunk stays open
    CHECK(claim_chunk(high, high_work, 3) == claimed_ids{5, 6, 7});
    high_ledger.mark(5), high_ledger.mark(6), high_ledger.mark(7);
    high.commit();
    CHECK(claim_chunk(high, high_work, 3) == claimed_ids{8, 9, 10});
    high_ledger.mark(8), high_ledger.mark(9), high_ledger.mark(10);
    high.commit();
    CHECK(claim_chunk(high, high_work, 3).empty());
    high.commit();
    CHECK(high_work.claims() == 3);                 // no claim from the beginning
    CHECK(claim_chunk(high, high_work, 3).empty()); // and it stays ended
    high.rollback();
    CHECK(high_work.claims() == 3);

    // The worker with the lower pid does go back at its end, and finds the rows a worker that
    // died released behind it.
    for (const auto id : {1, 2}) {
        low_ledger.mark(id);
    }
    low.commit(); // 3 and 4 left undone: skipped by low from now on (left_out), free for others
    auto dead = pg::claim_rows<std::int64_t>(high, high_ledger, q); // a third worker, in high's session
    high.begin();
    dead.begin_chunk(5);
    claimed_ids held;
    for (auto it = dead.begin(); it != dead.end(); ++it) {
        held.push_back(*it);
    }
    CHECK(held == claimed_ids{3, 4});
    // From 4 on: nothing; then from the beginning, though a worker (with a higher pid) is inside a
    // chunk: 3 and 4 are held.
    CHECK(claim_chunk(low, low_work, 4).empty());
    CHECK(low_work.claims() == 3);
    low.commit();
    high.rollback();                                // the third worker dies: 3 and 4 are free again
    CHECK(claim_chunk(high, high_work, 4).empty()); // high has ended
    high.rollback();
}
