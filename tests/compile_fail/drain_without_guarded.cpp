// drain on a pipeline that has no effect to run.
// expect: sturdy::drain: the pipeline has no effect to run; add | sturdy::guarded(fn)
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <vector>

int main()
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    std::vector<int> input{1, 2, 3};
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
             sturdy::guarded([](int) {}) | sturdy::drain;
#else
    auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) | sturdy::drain;
#endif
    return r.ok() ? 0 : 1;
}
