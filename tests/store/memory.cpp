// The memory store's own cases; those every store shares are in tests/store/suite.cpp.
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
