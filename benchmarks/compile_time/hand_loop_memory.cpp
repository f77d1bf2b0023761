// Compile-time reference point (scripts/compile-time): the loop a careful user writes by hand on
// the memory store (ledger claim, effect, a transaction per chunk), with no adaptor. The same
// store calls as the pipeline's fast path, inlined the same way: what the pipeline would cost if
// the adaptors were free to compile too.
#include <sturdy/store/memory.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

std::size_t run(sturdy::memory::database& db, const std::vector<std::int64_t>& input)
{
    auto& out = db.table("out");
    auto ledger = db.ledger("job");
    std::size_t done = 0;
    for (std::size_t start = 0; start < input.size(); start += 200) {
        const std::size_t end = std::min(input.size(), start + 200);
        db.begin();
        for (std::size_t i = start; i < end; ++i) {
            if (ledger.claim(sturdy::key(input[i]))) {
                out.put(input[i], "x");
                ++done;
            }
        }
        db.commit();
    }
    return done;
}
