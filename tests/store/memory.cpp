// The memory store's own cases; those every store shares are in tests/store/suite.cpp.
#include <sturdy/policy/classify.hpp>
#include <sturdy/store/memory.hpp>

#include <catch2/catch.hpp>

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
