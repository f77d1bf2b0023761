// A watermark over a claiming input: several workers commit chunks out of order, so a checkpoint
// could pass rows another worker holds and then loses. Refused at compile time.
// expect: watermark: not with a claiming input
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <cstddef>
#include <iterator>
#include <vector>

namespace {
// The smallest claiming input: the numbers it was given, all claimed by the first chunk.
struct claimed_numbers {
    std::vector<int> rows;
    auto begin() { return rows.begin(); }
    auto end() { return rows.end(); }
#ifndef STURDY_COMPILE_FAIL_CONTROL
    void begin_chunk(std::size_t) {}
#endif
};
} // namespace

int main()
{
    sturdy::memory::database db;
    auto ledger = db.ledger("sync");
    claimed_numbers input{{1, 2, 3}};
    auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
             sturdy::watermark(db, "sync", [](int v) { return v; }) | sturdy::guarded([](int) {}) | sturdy::drain;
    return r.ok() ? 0 : 1;
}
