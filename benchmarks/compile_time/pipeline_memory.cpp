// Compile-time subject (scripts/compile-time): sturdy's full pipeline on the memory store.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <cstdint>
#include <vector>

std::size_t run(sturdy::memory::database& db, const std::vector<std::int64_t>& input)
{
    auto& out = db.table("out");
    auto ledger = db.ledger("job");
    auto r = input | sturdy::idempotent_by(ledger, [](std::int64_t v) { return v; }) | sturdy::chunked(db, 200) |
             sturdy::guarded([&](std::int64_t v) { out.put(v, "x"); }) |
             sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::logged_every(10'000, sturdy::discard_sink{}) |
             sturdy::drain;
    return r.done;
}
