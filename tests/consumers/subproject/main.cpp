// A consumer of an installed (or plain-included) sturdy: builds a real pipeline on the memory
// store and checks its report. Returns non-zero if sturdy does not behave.
// Built by .ci/run as a Meson project that gets sturdy from subprojects/sturdy.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

int main()
{
    sturdy::memory::database db;
    auto& out = db.table("out");
    auto ledger = db.ledger("consumer");
    std::vector<int> input{1, 2, 3, 4, 5};

    auto run = [&] {
        return input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
               sturdy::guarded([&](int v) {
                   if (v == 3) {
                       throw std::runtime_error("three fails");
                   }
                   out.put(v, std::to_string(v * v));
               }) |
               sturdy::drain;
    };

    const sturdy::report first = run();
    const sturdy::report second = run();
    const bool ok = first.seen == 5 && first.done == 4 && first.failed == 1 && first.chunks == 3 &&
                    out.size() == 4 && second.skipped == 4 && second.done == 0 && second.failed == 1;
    std::printf("%s\n%s\n", first.json().c_str(), second.json().c_str());
    if (!ok) {
        std::fprintf(stderr, "sturdy consumer: unexpected report\n");
        return 1;
    }
    std::printf("sturdy consumer: ok\n");
    return 0;
}
