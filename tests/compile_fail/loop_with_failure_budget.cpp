// The loop form with failure_budget, which it does not honour: refused, naming drain.
// expect: sturdy: failure_budget is not supported in a for loop
// expect: run the pipeline with | sturdy::drain
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <chrono>
#include <vector>

int main()
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    std::vector<int> input{1, 2, 3};
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto r = input | sturdy::chunked(db, 2) | sturdy::guarded([&](int v) { out.put(v, "x"); }) |
             sturdy::failure_budget(5) | sturdy::drain;
    return r.ok() ? 0 : 1;
#else
    for (int v : input | sturdy::chunked(db, 2) | sturdy::failure_budget(5)) {
        out.put(v, "x");
    }
    return 0;
#endif
}
