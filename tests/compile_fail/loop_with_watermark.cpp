// The loop form with watermark, which it does not honour: refused, naming drain.
// expect: sturdy: watermark is not supported in a for loop
// expect: run the pipeline with | sturdy::drain
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <chrono>
#include <vector>

int main()
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    auto& out = db.table("out");
    std::vector<int> input{1, 2, 3};
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
             sturdy::guarded([&](int v) { out.put(v, "x"); }) | sturdy::watermark(db, "job", [](int v) { return v; }) |
             sturdy::drain;
    return r.ok() ? 0 : 1;
#else
    for (int v : input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
                     sturdy::watermark(db, "job", [](int v) { return v; })) {
        out.put(v, "x");
    }
    return 0;
#endif
}
