// The same adaptor given twice in one pipeline.
// expect: sturdy: this adaptor is already in the pipeline; each adaptor may be given once
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <vector>

int main()
{
    sturdy::memory::database db;
    std::vector<int> input{1, 2, 3};
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto r = input | sturdy::chunked(db, 2) | sturdy::guarded([](int) {}) | sturdy::drain;
#else
    auto r = input | sturdy::chunked(db, 2) | sturdy::guarded([](int) {}) | sturdy::chunked(db, 3) | sturdy::drain;
#endif
    return r.ok() ? 0 : 1;
}
