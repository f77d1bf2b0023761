// The loop form with a user's hook, whose events it does not send: refused, naming drain.
// expect: sturdy: hooks are not supported in a for loop
// expect: run the pipeline with | sturdy::drain
#include <sturdy/hook.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <vector>

namespace {
struct chunk_counter {
    int chunks = 0;
    void after_chunk(const sturdy::chunk_ended& /*unused*/) { ++chunks; }
};
} // namespace

int main()
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    std::vector<int> input{1, 2, 3};
    chunk_counter counter;
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto r = input | sturdy::chunked(db, 2) | sturdy::guarded([&](int v) { out.put(v, "x"); }) | sturdy::hook(counter) |
             sturdy::drain;
    return r.ok() && counter.chunks == 2 ? 0 : 1;
#else
    for (int v : input | sturdy::chunked(db, 2) | sturdy::hook(counter)) {
        out.put(v, "x");
    }
    return 0;
#endif
}
