// The library's own overhead: the full pipeline against the loop a careful user would write by
// hand doing the same work (ledger claim per item, a savepoint per chunk with a per-item fallback,
// a commit per chunk), both on the memory store.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace {
constexpr std::size_t chunk = 1000;

/// Items per iteration: STURDY_BENCH_ITEMS (default 100000; scripts/bench --quick lowers it).
std::int64_t items_per_iteration()
{
    static const std::int64_t n = [] {
        const char* env = std::getenv("STURDY_BENCH_ITEMS");
        return env != nullptr ? std::max<std::int64_t>(10, std::stoll(env)) : std::int64_t{100'000};
    }();
    return n;
}

std::vector<std::int64_t> input()
{
    std::vector<std::int64_t> v(static_cast<std::size_t>(items_per_iteration()));
    std::iota(v.begin(), v.end(), 0);
    return v;
}

void effect(sturdy::memory::table& out, std::int64_t v) { out.put(v, {}); }

} // namespace

// The timed bodies, out of line so that scripts/bench --callgrind can count their instructions
// alone (callgrind --toggle-collect='bench::*').
namespace bench {
[[gnu::noinline]] std::size_t hand_loop(sturdy::memory::database& db, sturdy::memory::table& out,
                                        sturdy::memory::ledger& ledger, const std::vector<std::int64_t>& data)
{
    std::size_t done = 0;
    for (std::size_t start = 0; start < data.size(); start += chunk) {
        const std::size_t end = std::min(data.size(), start + chunk);
        db.begin();
        auto sp = db.savepoint();
        for (std::size_t i = start; i < end; ++i) {
            // The ledger step the pipeline takes: claim (check and mark in one step) inside the
            // chunk's savepoint, before the effect, so a failure's rollback would take it back.
            const sturdy::key k(data[i]);
            if (!ledger.claim(k)) {
                continue;
            }
            try {
                effect(out, data[i]);
                ++done;
            } catch (...) {
                // A real loop would roll back and isolate here; nothing fails in this benchmark.
                throw;
            }
        }
        sp.release();
        db.commit();
    }
    return done;
}

[[gnu::noinline]] std::size_t pipeline(sturdy::memory::database& db, sturdy::memory::table& out,
                                       sturdy::memory::ledger& ledger, const std::vector<std::int64_t>& data)
{
    auto r = data | sturdy::idempotent_by(ledger, [](std::int64_t v) { return v; }) | sturdy::chunked(db, chunk) |
             sturdy::guarded([&](std::int64_t v) { effect(out, v); }) |
             sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::logged_every(10'000, sturdy::discard_sink{}) |
             sturdy::drain;
    return r.done;
}
} // namespace bench

namespace {
template <class Body> void measure(benchmark::State& state, Body body)
{
    const auto data = input();
    for (auto _ : state) {
        state.PauseTiming();
        auto holder = std::make_unique<sturdy::memory::database>();
        auto& out = holder->table("out");
        auto ledger = holder->ledger("bench");
        state.ResumeTiming();
        const std::size_t done = body(*holder, out, ledger, data);
        benchmark::DoNotOptimize(done);
        state.PauseTiming(); // the store's destruction is not the loop's cost
        if (done != data.size()) {
            state.SkipWithError("not every item was done");
        }
        holder.reset();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * items_per_iteration());
    state.counters["items"] = static_cast<double>(items_per_iteration());
}

void BM_memory_hand_loop(benchmark::State& state) { measure(state, bench::hand_loop); }
void BM_memory_pipeline(benchmark::State& state) { measure(state, bench::pipeline); }
} // namespace

// Repetitions and interleaving are chosen by scripts/bench.
BENCHMARK(BM_memory_hand_loop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_memory_pipeline)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
