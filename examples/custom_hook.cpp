// A stage of your own, written as a hook (sturdy/hook.hpp): a rate limiter that paces a job at
// a number of items per second, for a remote service with a quota. It handles one event,
// before_chunk, and waits through the job's clock until the items read so far are within the
// rate; the chunk it lets start then runs at full speed, so a run can go over the rate by up to
// one chunk (below: 270 items/s against 250). Here the clock is sturdy::manual_clock, so the program runs instantly and
// checks what the limiter did; a real job passes nothing to with_clock (or sturdy::steady_clock) and waits.
#include <sturdy/clock.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <fmt/format.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

/// Each chunk starts only when the items read before it are within `per_second` items per
/// second, on average since the run started. The limit applies at chunk boundaries, so a
/// chunk's items run at full speed and the run can exceed the rate by up to one chunk: keep
/// chunks a fraction of a second's quota.
template <sturdy::clock Clock> class rate_limit {
public:
    rate_limit(Clock& clock, double per_second) : clock_(&clock), per_second_(per_second)
    {
        if (!(per_second > 0.0)) {
            throw std::invalid_argument("rate_limit: items per second must be positive");
        }
    }

    void before_chunk(const sturdy::chunk_starting& e)
    {
        const auto due = e.run_start + std::chrono::duration_cast<sturdy::duration>(std::chrono::duration<double>(
                                           static_cast<double>(e.so_far.seen) / per_second_));
        if (e.now < due) {
            clock_->sleep_for(due - e.now);
            ++waits_;
        }
    }

    [[nodiscard]] int waits() const { return waits_; }

private:
    Clock* clock_;
    double per_second_;
    int waits_ = 0;
};

} // namespace

int main()
{
    using namespace std::chrono_literals;
    sturdy::memory::database db;
    auto ledger = db.ledger("push");
    auto& pushed = db.table("pushed");
    sturdy::manual_clock clock;
    std::vector<int> contacts(1000);
    for (int i = 0; i < 1000; ++i) {
        contacts[static_cast<std::size_t>(i)] = i;
    }

    rate_limit limit(clock, 250.0); // the remote's quota: 250 items/s
    const auto r = contacts | sturdy::idempotent_by(ledger, [](int id) { return id; }) | sturdy::chunked(db, 100) |
                   sturdy::guarded([&](int id) {
                       clock.advance(1ms); // the push itself takes 1 ms
                       pushed.put(id, "sent");
                   }) |
                   sturdy::hook(limit) | sturdy::with_clock(clock) | sturdy::drain;

    const double rate = static_cast<double>(r.done) / std::chrono::duration<double>(r.elapsed).count();
    fmt::print("{}\nwaited {} times, {:.0f} items/s\n", r, limit.waits(), rate);
    // 10 chunks of 100 items, 100 ms each: before each chunk after the first, the limiter waits
    // 300 ms, so that chunk k starts at 0.4 k s. The run ends at 9 * 0.4 s + 0.1 s = 3.7 s.
    const bool limited = limit.waits() == 9 && clock.sleeps == std::vector<sturdy::duration>(9, 300ms) &&
                         r.elapsed == 3700ms && rate <= 300.0;
    return r.done == 1000 && pushed.size() == 1000 && limited ? 0 : 1;
}
