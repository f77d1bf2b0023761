#include <sturdy/policy/classify.hpp>
#include <sturdy/store/memory.hpp>

#include <catch2/catch.hpp>

TEST_CASE("memory store: commit keeps, rollback undoes")
{
    sturdy::memory::database db;
    auto& t = db.table("t");
    db.begin();
    t.put(1, "a");
    db.commit();
    db.begin();
    t.put(1, "changed");
    t.put(2, "b");
    t.erase(1);
    db.rollback();
    CHECK(t.size() == 1);
    CHECK(t.get(1) == "a");
}

TEST_CASE("memory store: nested savepoints undo only their own writes")
{
    sturdy::memory::database db;
    auto& t = db.table("t");
    db.begin();
    t.put(1, "outer");
    {
        auto sp1 = db.savepoint();
        t.put(2, "inner");
        {
            auto sp2 = db.savepoint();
            t.put(3, "innermost");
            t.put(1, "overwritten");
        } // destroyed without release: rolled back
        CHECK_FALSE(t.contains(3));
        CHECK(t.get(1) == "outer");
        sp1.release();
    }
    CHECK(t.contains(2));
    {
        auto sp = db.savepoint();
        t.erase(2);
        sp.rollback();
    }
    CHECK(t.contains(2));
    db.commit();
    CHECK(t.size() == 2);
}

TEST_CASE("memory store: a savepoint outside a transaction starts one, and its release commits")
{
    sturdy::memory::database db;
    auto& t = db.table("t");
    {
        auto sp = db.savepoint();
        CHECK(db.in_transaction());
        t.put(1, "x");
        sp.release();
    }
    CHECK_FALSE(db.in_transaction());
    CHECK(db.commits() == 1);
    {
        auto sp = db.savepoint();
        t.put(2, "y");
    }
    CHECK_FALSE(db.in_transaction());
    CHECK_FALSE(t.contains(2));
}

TEST_CASE("memory store: unique inserts and clear usage errors")
{
    sturdy::memory::database db;
    auto& t = db.table("t");
    t.insert(1, "x");
    CHECK_THROWS_WITH(t.insert(1, "y"), Catch::Contains("unique constraint failed: t already holds key 1"));
    CHECK_FALSE(t.try_insert(1, "y")); // ON CONFLICT DO NOTHING: the row keeps its value
    CHECK(*t.get(1) == "x");
    db.begin();
    CHECK(t.try_insert(2, "z"));
    db.rollback();
    CHECK_FALSE(t.contains(2));
    CHECK_THROWS_WITH(db.commit(), Catch::Contains("no transaction is open"));
    db.begin();
    CHECK_THROWS_WITH(db.begin(), Catch::Contains("already open"));
}

TEST_CASE("memory store: checkpoints are transactional")
{
    sturdy::memory::database db;
    CHECK_FALSE(db.checkpoint("sync"));
    db.begin();
    db.set_checkpoint("sync", "41");
    db.rollback();
    CHECK_FALSE(db.checkpoint("sync"));
    db.set_checkpoint("sync", "42");
    CHECK(db.checkpoint("sync") == "42");
}

TEST_CASE("memory store: none of its own errors is fatal")
{
    sturdy::memory::database db;
    auto& t = db.table("t");
    auto kind_thrown_by = [](auto&& fn) {
        try {
            fn();
        } catch (const sturdy::failure_error& e) {
            return sturdy::kind_of(e.code());
        }
        FAIL("expected a sturdy::failure_error");
        return sturdy::failure_kind::fatal;
    };
    t.insert(1, "a");
    CHECK(kind_thrown_by([&] { t.insert(1, "again"); }) == sturdy::failure_kind::permanent);
    db.fail_next_commits(1);
    db.begin();
    CHECK(kind_thrown_by([&] { db.commit(); }) == sturdy::failure_kind::transient);
    db.rollback();
    CHECK_THROWS_AS(db.rollback(), sturdy::usage_error);
}
