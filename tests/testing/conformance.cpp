// sturdy/testing/conformance.hpp: check_store passes a correct store, runs only the cases the
// store's concepts allow, and catches broken stores, naming the check, what was expected and
// what happened. (sturdy's own stores run it in tests/store/suite.cpp.)
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>
#include <sturdy/testing/conformance.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using sturdy::testing::check_store;
using sturdy::testing::store_check_report;

/// Rows in a memory table "t"; the store is `Store`, wrapping the fixture's memory database.
template <class Store> struct memory_fixture {
    sturdy::memory::database db;
    Store wrapped{db};

    Store& store() { return wrapped; }
    void write(std::int64_t id) { db.table("t").insert(id, ""); }
    bool has(std::int64_t id) { return db.table("t").contains(id); }
    std::int64_t count() { return static_cast<std::int64_t>(db.table("t").size()); }
    auto ledger(const std::string& name) { return db.ledger(name); }
};

/// The memory store, forwarded as is; `Broken` says what it does wrong.
enum class broken { nothing, rollback_commits, release_rolls_back, no_usage_errors };

template <broken Broken> struct wrapper {
    sturdy::memory::database* db;
    explicit wrapper(sturdy::memory::database& d) : db(&d) {}

    void begin()
    {
        if (Broken == broken::no_usage_errors && db->in_transaction()) {
            return;
        }
        db->begin();
    }
    void commit()
    {
        if (Broken == broken::no_usage_errors && !db->in_transaction()) {
            return;
        }
        db->commit();
    }
    void rollback()
    {
        if (Broken == broken::no_usage_errors && !db->in_transaction()) {
            return;
        }
        if (Broken == broken::rollback_commits) {
            db->commit();
        } else {
            db->rollback();
        }
    }
    [[nodiscard]] bool in_transaction() const { return db->in_transaction(); }

    struct guard {
        sturdy::memory::database::savepoint_guard inner;
        void release()
        {
            if (Broken == broken::release_rolls_back) {
                inner.rollback();
            } else {
                inner.release();
            }
        }
        void rollback() { inner.rollback(); }
    };
    guard savepoint() { return guard{db->savepoint()}; }
};
static_assert(sturdy::transaction<wrapper<broken::nothing>>);

/// A ledger that keeps its marks outside the store: a rollback does not take them back.
struct detached_ledger {
    std::shared_ptr<std::set<sturdy::key>> marks = std::make_shared<std::set<sturdy::key>>();
    [[nodiscard]] bool contains(const sturdy::key& k) const { return marks->contains(k); }
    void mark(const sturdy::key& k) { marks->insert(k); }
};

struct detached_ledger_fixture : memory_fixture<wrapper<broken::nothing>> {
    std::map<std::string, detached_ledger> ledgers;
    detached_ledger ledger(const std::string& name) { return ledgers[name]; }
};

/// No ledger at all, no checkpoints: only the transaction cases run.
struct no_ledger_fixture {
    sturdy::memory::database db;
    wrapper<broken::nothing> wrapped{db};
    wrapper<broken::nothing>& store() { return wrapped; }
    void write(std::int64_t id) { db.table("t").insert(id, ""); }
    bool has(std::int64_t id) { return db.table("t").contains(id); }
    std::int64_t count() { return static_cast<std::int64_t>(db.table("t").size()); }
};

bool failed(const store_check_report& r, std::string_view check_case, std::string_view what, std::string_view expected,
            std::string_view actual)
{
    return std::ranges::any_of(r.failures, [&](const auto& f) {
        return f.check_case.starts_with(check_case) && f.what == what && f.expected == expected && f.actual == actual;
    });
}

} // namespace

TEST_CASE("check_store: a correct store passes every case its concepts allow")
{
    const auto r = check_store([] { return memory_fixture<sturdy::memory::database&>{}; });
    INFO(r.describe());
    CHECK(r.ok());
    CHECK(r.cases_run.size() == 13);
    CHECK(r.cases_skipped == std::vector<std::string>{"claim_all: the ledger does not model "
                                                      "sturdy::batch_claiming_ledger"});
    CHECK(r.describe().starts_with("check_store: 13 cases, " + std::to_string(r.checks) + " checks, 0 failed"));
}

TEST_CASE("check_store: without a ledger, the ledger and pipeline cases are skipped, and say so")
{
    const auto r = check_store([] { return no_ledger_fixture{}; });
    INFO(r.describe());
    CHECK(r.ok());
    CHECK(r.cases_run.size() == 5);
    CHECK(r.cases_skipped ==
          std::vector<std::string>{
              "checkpoints: the store does not model sturdy::checkpoint_store",
              "ledger cases and pipeline cases: neither the fixture nor the store has ledger(name)"});
}

TEST_CASE("check_store: a store whose rollback keeps the writes fails, with what was expected and what happened")
{
    const auto r = check_store([] { return memory_fixture<wrapper<broken::rollback_commits>>{}; });
    INFO(r.describe());
    CHECK_FALSE(r.ok());
    CHECK(failed(r, "transaction: commit keeps, rollback undoes", "has(2) after its rollback", "false", "true"));
    CHECK(
        failed(r, "transaction: commit keeps, rollback undoes", "count() after one commit and one rollback", "1", "2"));
    CHECK(failed(r, "ledger:", "contains(2) after its rollback", "false", "true"));
    CHECK_THAT(r.describe(), Catch::Contains("FAILED [transaction: commit keeps, rollback undoes] has(2) after its "
                                             "rollback: expected false, got true"));
}

TEST_CASE("check_store: a store whose savepoint release rolls back fails")
{
    const auto r = check_store([] { return memory_fixture<wrapper<broken::release_rolls_back>>{}; });
    INFO(r.describe());
    CHECK_FALSE(r.ok());
    CHECK(failed(r, "savepoints: nested savepoints undo only their own writes",
                 "has(5) after its savepoint's release()", "true", "false"));
    CHECK(failed(r, "savepoints: one taken outside a transaction", "has(8): released", "true", "false"));
    CHECK(failed(r, "pipeline: an item failing after its write", "count() after the first run", "24", "10"));
}

TEST_CASE("check_store: a ledger whose marks outlive a rollback fails")
{
    const auto r = check_store([] { return detached_ledger_fixture{}; });
    INFO(r.describe());
    CHECK_FALSE(r.ok());
    CHECK(failed(r, "ledger:", "contains(2) after its rollback", "false", "true"));
    CHECK(failed(r, "ledger:", "contains(3) after its savepoint's rollback", "false", "true"));
    CHECK(failed(r, "pipeline: no_commit", "keys the ledger holds after the caller's rollback", "{}",
                 "{1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}"));
}

TEST_CASE("check_store: usage errors are checked unless the options leave them out")
{
    const auto make = [] { return memory_fixture<wrapper<broken::no_usage_errors>>{}; };
    const auto r = check_store(make);
    CHECK(failed(r, "transaction: begin inside a transaction", "begin() inside a transaction", "sturdy::usage_error",
                 "no exception"));
    CHECK(r.failures.size() == 3);
    const auto relaxed = check_store(make, {.usage_errors = false});
    INFO(relaxed.describe());
    CHECK(relaxed.ok());
    CHECK(std::ranges::count(relaxed.cases_skipped,
                             std::string("usage errors: store_check_options::usage_errors is false")) == 1);
}

TEST_CASE("check_store: an exception leaving a case is recorded, and the next case runs")
{
    int made = 0;
    const auto r = check_store([&made] {
        ++made;
        return no_ledger_fixture{};
    });
    CHECK(made == 5);
    struct throwing_fixture : no_ledger_fixture {
        void write(std::int64_t id)
        {
            if (id == 2) {
                throw std::runtime_error("disk on fire");
            }
            no_ledger_fixture::write(id);
        }
    };
    const auto t = check_store([] { return throwing_fixture{}; });
    CHECK(failed(t, "transaction: commit keeps, rollback undoes", "the case runs to its end", "no exception",
                 "threw: disk on fire"));
    CHECK(t.cases_run.size() == 5);
}
