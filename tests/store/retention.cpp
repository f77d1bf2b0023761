// Retention: `ledger.forget_marked_before(cutoff, batch)` on every store (memory, SQLite,
// PostgreSQL). Marks are made old by writing their time directly (no test sleeps): the memory
// ledger's row value, `sturdy_ledger.marked_at` in SQL. Runs under scripts/with-postgres.
#include "../support.hpp"
#include "fixtures.hpp"

#include <sturdy/sturdy.hpp>

#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <ranges>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

#define STORES test::memory_store, test::sqlite_store, test::postgres_store

namespace {

using sys_clock = std::chrono::system_clock;

/// 2001-09-09T01:46:40Z: long before any test runs.
constexpr std::int64_t long_ago = 1'000'000'000;

sys_clock::time_point at(std::int64_t unix_seconds)
{
    return sys_clock::time_point(std::chrono::seconds(unix_seconds));
}

/// Sets when `k` was marked in ledger `ns`.
void set_marked_at(test::memory_store& s, const std::string& ns, const sturdy::key& k, std::int64_t t)
{
    auto& done = s.db.table("sturdy_ledger:" + ns);
    REQUIRE(done.contains(k));
    done.put(k, std::to_string(t));
}
void set_marked_at(test::sqlite_store& s, const std::string& ns, const sturdy::key& k, std::int64_t t)
{
    REQUIRE(s.db.execute("UPDATE sturdy_ledger SET marked_at = ?1 WHERE namespace = ?2 AND item_key = ?3", t, ns, k) ==
            1);
}
void set_marked_at(test::postgres_store& s, const std::string& ns, const sturdy::key& k, std::int64_t t)
{
    REQUIRE(s.db.execute("UPDATE sturdy_ledger SET marked_at = $1 WHERE namespace = $2 AND item_key = $3 AND "
                         "key_is_text = $4",
                         t, ns, k.str(), !k.is_integer()) == 1);
}

/// Counts the transactions the store commits, and (in SQL) the marks each one deleted.
struct commit_counter {
    std::vector<std::int64_t> deleted; ///< per commit, in SQL; empty for memory
    std::size_t commits = 0;
};

template <class Store> class commit_log;

template <> class commit_log<test::memory_store> {
public:
    explicit commit_log(test::memory_store& s) : s_(&s), start_(s.db.commits()) {}
    commit_counter read() const { return {{}, s_->db.commits() - start_}; }

private:
    test::memory_store* s_;
    std::size_t start_;
};

/// SQLite: a commit hook notes the rows changed since the commit before.
template <> class commit_log<test::sqlite_store> {
public:
    explicit commit_log(test::sqlite_store& s) : db_(s.db.handle()), last_(sqlite3_total_changes64(db_))
    {
        sqlite3_commit_hook(db_, &commit_log::on_commit, this);
    }
    commit_log(const commit_log&) = delete;
    commit_log& operator=(const commit_log&) = delete;
    ~commit_log() { sqlite3_commit_hook(db_, nullptr, nullptr); }
    commit_counter read() const { return {deleted_, deleted_.size()}; }

private:
    static int on_commit(void* self)
    {
        auto* log = static_cast<commit_log*>(self);
        const auto total = sqlite3_total_changes64(log->db_);
        log->deleted_.push_back(total - log->last_);
        log->last_ = total;
        return 0; // let it commit
    }
    sqlite3* db_;
    std::int64_t last_;
    std::vector<std::int64_t> deleted_;
};

/// PostgreSQL: a statement trigger logs each DELETE's transaction and row count.
template <> class commit_log<test::postgres_store> {
public:
    explicit commit_log(test::postgres_store& s) : s_(&s)
    {
        s.db.exec(R"sql(
            CREATE TABLE forget_log(id bigserial PRIMARY KEY, tx bigint NOT NULL, n bigint NOT NULL);
            CREATE FUNCTION log_forget() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO forget_log(tx, n) SELECT txid_current(), count(*) FROM gone;
                RETURN NULL;
            END $$;
            CREATE TRIGGER log_forget AFTER DELETE ON sturdy_ledger REFERENCING OLD TABLE AS gone
                FOR EACH STATEMENT EXECUTE FUNCTION log_forget();
        )sql");
    }
    commit_counter read() const
    {
        const auto per_tx =
            s_->db.query<std::int64_t>("SELECT sum(n)::bigint FROM forget_log GROUP BY tx ORDER BY min(id)");
        return {per_tx, per_tx.size()};
    }

private:
    test::postgres_store* s_;
};

/// The failure records as comparable tuples.
template <class Ledger> auto failures_of(Ledger& ledger)
{
    std::vector<std::tuple<std::string, int, std::string, bool, std::int64_t, std::int64_t>> out;
    for (const auto& f : ledger.failures()) {
        out.emplace_back(f.item_key.str(), f.runs, f.last_reason, f.quarantined, f.first_failed, f.last_failed);
    }
    return out;
}

template <class Ledger> std::set<std::int64_t> done_of(Ledger& ledger, std::int64_t up_to)
{
    std::set<std::int64_t> out;
    for (std::int64_t i = 1; i <= up_to; ++i) {
        if (ledger.contains(i)) {
            out.insert(i);
        }
    }
    return out;
}

} // namespace

TEMPLATE_TEST_CASE("retention: marks written before the cutoff go, newer ones and failure records stay", "[retention]",
                   STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("job");
    auto other = db.ledger("other");
    for (std::int64_t i = 1; i <= 8; ++i) {
        ledger.mark(i);
    }
    ledger.mark("a/2024-05"); // text keys sort after integers in SQLite, by text in PostgreSQL
    ledger.mark("b/2024-06");
    other.mark(1);
    for (const std::int64_t i : {1, 3, 5, 7}) {
        set_marked_at(s, "job", i, long_ago);
    }
    set_marked_at(s, "job", "a/2024-05", long_ago);
    set_marked_at(s, "other", 1, long_ago);
    ledger.record_failure(3, "failed before it was marked", 1); // quarantined
    ledger.record_failure(20, "still failing", 5);
    const auto failures = failures_of(ledger);
    REQUIRE(failures.size() == 2);

    const auto cutoff = sys_clock::now() - std::chrono::hours(24);
    CHECK(ledger.forget_marked_before(cutoff) == 5);
    CHECK(done_of(ledger, 8) == std::set<std::int64_t>{2, 4, 6, 8});
    CHECK_FALSE(ledger.contains("a/2024-05"));
    CHECK(ledger.contains("b/2024-06"));
    CHECK(ledger.size() == 5);
    CHECK(failures_of(ledger) == failures); // failure records are not marks
    CHECK(other.contains(1));               // nor are other ledgers' marks
    CHECK_FALSE(db.in_transaction());

    CHECK(ledger.forget_marked_before(cutoff) == 0); // nothing older is left
    CHECK(other.forget_marked_before(cutoff) == 1);
    CHECK(other.size() == 0);
}

TEMPLATE_TEST_CASE("retention: the cutoff counts in whole seconds, and a mark of the cutoff's second stays",
                   "[retention]", STORES)
{
    TestType s;
    auto ledger = s.db.ledger("job");
    ledger.mark(1);
    set_marked_at(s, "job", 1, long_ago);
    CHECK(ledger.forget_marked_before(at(long_ago)) == 0);
    CHECK(ledger.forget_marked_before(at(long_ago) + 999ms) == 0);
    CHECK(ledger.contains(1));
    CHECK(ledger.forget_marked_before(at(long_ago + 1)) == 1);
    CHECK_FALSE(ledger.contains(1));
}

TEMPLATE_TEST_CASE("retention: marks are forgotten in bounded batches, each its own transaction", "[retention]", STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("job");
    // 10 old marks among 6 new ones, interleaved in key order, and text keys among them.
    std::set<std::int64_t> kept;
    for (std::int64_t i = 1; i <= 14; ++i) {
        ledger.mark(i);
        if (i % 3 == 0) {
            kept.insert(i);
        } else {
            set_marked_at(s, "job", i, long_ago);
        }
    }
    for (const char* k : {"x/1", "y/1"}) {
        ledger.mark(k);
        set_marked_at(s, "job", k, long_ago);
    }
    ledger.mark("z/1");
    ledger.mark("w/1");
    REQUIRE(ledger.size() == 18);

    std::size_t forgotten = 0;
    commit_counter c;
    {
        commit_log<TestType> log(s);
        forgotten = ledger.forget_marked_before(sys_clock::now() - std::chrono::hours(1), 3);
        c = log.read();
    }
    CHECK(forgotten == 12);
    CHECK(done_of(ledger, 14) == kept);
    CHECK(ledger.contains("z/1"));
    CHECK(ledger.contains("w/1"));
    CHECK_FALSE(ledger.contains("x/1"));
    CHECK(ledger.size() == 6);
    // 3 + 3 + 3 + 3, then a batch that finds nothing left.
    CHECK(c.commits >= 4);
    CHECK(c.commits <= 5);
    if (!c.deleted.empty()) {
        std::int64_t sum = 0;
        for (const auto n : c.deleted) {
            CHECK(n <= 3);
            sum += n;
        }
        CHECK(sum == 12);
    }
}

TEMPLATE_TEST_CASE("retention: a batch of one, and fewer marks than a batch", "[retention]", STORES)
{
    TestType s;
    auto ledger = s.db.ledger("job");
    for (std::int64_t i = 1; i <= 5; ++i) {
        ledger.mark(i);
        set_marked_at(s, "job", i, long_ago + i);
    }
    CHECK(ledger.forget_marked_before(at(long_ago + 3), 1) == 2); // marks 1 and 2
    CHECK(done_of(ledger, 5) == std::set<std::int64_t>{3, 4, 5});
    CHECK(ledger.forget_marked_before(at(long_ago + 100)) == 3);
    CHECK(ledger.size() == 0);
    CHECK_THROWS_AS(ledger.forget_marked_before(at(long_ago), 0), sturdy::usage_error);
}

TEMPLATE_TEST_CASE("retention: inside a transaction, every batch runs in it and rolls back with it", "[retention]",
                   STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("job");
    for (std::int64_t i = 1; i <= 7; ++i) {
        ledger.mark(i);
        set_marked_at(s, "job", i, long_ago);
    }
    db.begin();
    CHECK(ledger.forget_marked_before(sys_clock::now(), 2) == 7);
    CHECK(db.in_transaction());
    CHECK(ledger.size() == 0);
    db.rollback();
    CHECK(ledger.size() == 7);
    db.begin();
    CHECK(ledger.forget_marked_before(sys_clock::now(), 2) == 7);
    db.commit();
    CHECK(ledger.size() == 0);
}

TEMPLATE_TEST_CASE("retention: a forgotten key is no longer done, and runs again when the input produces it",
                   "[retention]", STORES)
{
    TestType s;
    auto& db = s.db;
    auto ledger = db.ledger("job");
    std::vector<std::int64_t> ran;
    auto run = [&](std::int64_t from, std::int64_t to) {
        return std::views::iota(from, to + 1) |
               sturdy::idempotent_by(ledger, [](std::int64_t id) { return std::tuple(id, "2024-05"); }) |
               sturdy::chunked(db, 3) | sturdy::guarded([&](std::int64_t id) { ran.push_back(id); }) | sturdy::drain;
    };
    CHECK(run(1, 6).done == 6);
    for (std::int64_t i = 1; i <= 3; ++i) {
        set_marked_at(s, "job", sturdy::key(std::to_string(i) + "/2024-05"), long_ago);
    }
    CHECK(ledger.forget_marked_before(sys_clock::now() - std::chrono::hours(24)) == 3);
    ran.clear();
    const auto again = run(1, 6); // an input that still produces the forgotten keys: they run again
    CHECK(again.done == 3);
    CHECK(again.skipped == 3);
    CHECK(ran == std::vector<std::int64_t>{1, 2, 3});
    // Marks written by the loop just now are newer than any cutoff in the past.
    CHECK(ledger.forget_marked_before(sys_clock::now() - std::chrono::hours(1)) == 0);
    CHECK(ledger.size() == 6);
}
