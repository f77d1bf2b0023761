// A second file of each separate-compilation test program (tests/separate/meson.build). It
// includes every public header, as the test's own file does: a header that defines a function
// that is not inline makes the link fail with a multiple definition. Its test runs a pipeline
// from this file, against the same definitions (compiled once, in the libraries built from src/).
#include <sturdy/hook/prometheus.hpp>
#include <sturdy/sink/json_lines.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/store/postgres.hpp>
#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

TEST_CASE("separate compilation: a second file of the program runs a pipeline")
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    auto ledger = db.ledger("other_file");
    const std::vector<int> input{1, 2, 3};
    const sturdy::report r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
                             sturdy::guarded([&](int v) {
                                 if (v == 2) {
                                     throw sturdy::transient_error("busy");
                                 }
                                 out.put(v, "x");
                             }) |
                             sturdy::retry_bounded(2, sturdy::backoff::none()) | sturdy::drain;
    CHECK(r.done == 2);
    CHECK(r.failed == 1);
    CHECK(r.retried == 1);
    CHECK(out.size() == 2);
    CHECK(r.json().find(
              R"("failure_reasons":[{"reason":"busy","count":1,"keys":["2"],"max_attempts":2,"transient":true}])") !=
          std::string::npos);
    // One category object for the whole program, whichever file asks.
    CHECK(&sturdy::make_error_code(sturdy::errc::transient).category() == &sturdy::sturdy_category());
    CHECK(std::string(sturdy::sqlite::sqlite_category().name()) == "sqlite");
}
