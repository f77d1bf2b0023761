// The fast path and the failure path commit the same thing. On the SQLite store, the same input
// and the same failures are run once with the default isolation (`per_chunk`: successful items
// share a savepoint; a failure rolls it back, re-runs the items before it and isolates the bad
// one) and once with `per_item` (a savepoint per item, nothing re-run); the user tables,
// `sturdy_ledger` and `sturdy_failure` are dumped and must be identical, run after run.
#include "../support.hpp"

#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace sqlite = sturdy::sqlite;

namespace {

using test::temp_dir;

/// What fails in one run: `poison` items fail for good (a CHECK constraint, after the item's
/// first row was written), `flaky` items fail transiently on their first attempt of the run.
struct faults {
    std::set<std::int64_t> poison;
    std::set<std::int64_t> flaky;
};

/// One store and the job that runs on it.
class store {
public:
    explicit store(const std::string& file) : db_(file)
    {
        db_.exec("CREATE TABLE IF NOT EXISTS item(id INTEGER PRIMARY KEY, v INTEGER NOT NULL);"
                 "CREATE TABLE IF NOT EXISTS line(item_id INTEGER NOT NULL REFERENCES item(id),"
                 "                                amount INTEGER NOT NULL CHECK (amount >= 0));");
    }

    sturdy::report run(const std::vector<std::int64_t>& input, const faults& f, sturdy::isolation mode,
                       std::size_t chunk)
    {
        auto ledger = db_.ledger("paths");
        std::set<std::int64_t> flaky_left = f.flaky;
        return input |
               sturdy::idempotent_by(
                   ledger, [](std::int64_t i) { return i; }, sturdy::quarantine_after{2}) |
               sturdy::chunked(db_, chunk) |
               sturdy::guarded(
                   [&](std::int64_t i) {
                       db_.execute("INSERT INTO item(id, v) VALUES(?, ?)", i, i * 10);
                       if (flaky_left.erase(i) > 0) {
                           throw sturdy::transient_error("flaky item " + std::to_string(i));
                       }
                       db_.execute("INSERT INTO line(item_id, amount) VALUES(?, ?)", i, f.poison.contains(i) ? -1 : i);
                   },
                   mode) |
               sturdy::retry_bounded(3, sturdy::backoff::none()) | sturdy::drain;
    }

    /// Everything committed, as text lines (timestamps left out: they differ between runs).
    std::vector<std::string> dump()
    {
        std::vector<std::string> out;
        for (const char* sql : {
                 "SELECT 'item|' || id || '|' || v FROM item ORDER BY id",
                 "SELECT 'line|' || item_id || '|' || amount FROM line ORDER BY item_id, amount",
                 "SELECT 'ledger|' || namespace || '|' || typeof(item_key) || '|' || item_key FROM sturdy_ledger "
                 "ORDER BY namespace, item_key",
                 "SELECT 'failure|' || namespace || '|' || typeof(item_key) || '|' || item_key || '|' || runs || '|' "
                 "|| "
                 "quarantined || '|' || last_reason FROM sturdy_failure ORDER BY namespace, item_key",
             }) {
            for (auto& line : db_.query<std::string>(sql)) {
                out.push_back(std::move(line));
            }
        }
        return out;
    }

    sqlite::database& db() { return db_; }

private:
    sqlite::database db_;
};

/// The parts of a report that must not depend on the isolation mode.
std::string summary(const sturdy::report& r)
{
    std::string s = "done " + std::to_string(r.done) + ", skipped " + std::to_string(r.skipped) + ", failed " +
                    std::to_string(r.failed) + ", retried " + std::to_string(r.retried) + ", quarantined " +
                    std::to_string(r.quarantined) + ", awaiting " + std::to_string(r.awaiting_retry) + ", remaining " +
                    std::to_string(r.remaining) + "\n";
    for (const auto& f : r.failures) {
        s += f.item_key.str() + " (" + std::to_string(f.attempts) + " attempts, " +
             (f.kind == sturdy::failure_kind::permanent ? "permanent" : "transient") + "): " + f.reason + "\n";
    }
    return s;
}

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to)
{
    std::vector<std::int64_t> v;
    for (auto i = from; i < to; ++i) {
        v.push_back(i);
    }
    return v;
}

/// Runs the same sequence of runs on two fresh stores, one per isolation mode, and checks after
/// every run that both committed the same rows, ledger and failure records, and reported the
/// same outcome. Returns the per_chunk store's last dump.
std::vector<std::string> same_on_both_paths(const std::vector<std::int64_t>& input, const std::vector<faults>& runs,
                                            std::size_t chunk)
{
    temp_dir dir;
    store fast(dir.file("per_chunk.db"));
    store careful(dir.file("per_item.db"));
    std::vector<std::string> last;
    for (std::size_t run = 0; run < runs.size(); ++run) {
        INFO("run " << run + 1 << " of " << runs.size() << ", chunk " << chunk);
        const auto a = fast.run(input, runs[run], sturdy::isolation::per_chunk, chunk);
        const auto b = careful.run(input, runs[run], sturdy::isolation::per_item, chunk);
        CHECK(summary(a) == summary(b));
        last = fast.dump();
        REQUIRE(last == careful.dump());
        REQUIRE_FALSE(fast.db().in_transaction());
    }
    return last;
}

std::size_t count_prefix(const std::vector<std::string>& dump, const std::string& prefix)
{
    std::size_t n = 0;
    for (const auto& l : dump) {
        n += l.starts_with(prefix) ? 1 : 0;
    }
    return n;
}

} // namespace

TEST_CASE("sqlite paths: scattered poison items commit the same rows, ledger and failure records")
{
    const auto chunk = GENERATE(std::size_t{1}, std::size_t{7}, std::size_t{100}, std::size_t{1000});
    const faults f{{3, 17, 18, 250, 399, 400, 999}, {}};
    const auto dump = same_on_both_paths(range(0, 1000), {f}, chunk);
    CHECK(count_prefix(dump, "item|") == 993);
    CHECK(count_prefix(dump, "line|") == 993);
    CHECK(count_prefix(dump, "ledger|") == 993);
    CHECK(count_prefix(dump, "failure|") == 7);
    CHECK(count_prefix(dump, "failure|paths|integer|17|1|0|CHECK constraint failed") == 1);
}

TEST_CASE("sqlite paths: poison at chunk edges, in runs, and a whole chunk of poison")
{
    faults f;
    for (std::int64_t i : {0, 99, 100, 199, 500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 510}) {
        f.poison.insert(i);
    }
    for (std::int64_t i = 700; i < 800; ++i) {
        f.poison.insert(i); // chunk 8 (items 700..799) fails entirely
    }
    const auto dump = same_on_both_paths(range(0, 1000), {f}, 100);
    CHECK(count_prefix(dump, "item|") == 1000 - f.poison.size());
    CHECK(count_prefix(dump, "failure|") == f.poison.size());
}

TEST_CASE("sqlite paths: transient failures retried within the run commit the same as in per_item")
{
    faults f;
    f.flaky = {5, 6, 40, 41, 63, 64, 127};
    f.poison = {7, 41, 64, 90};
    const auto dump = same_on_both_paths(range(0, 128), {f}, 32);
    // Flaky items succeed on their second attempt; poison items fail for good.
    CHECK(count_prefix(dump, "item|") == 128 - f.poison.size());
    CHECK(count_prefix(dump, "failure|") == f.poison.size());
}

TEST_CASE("sqlite paths: later runs skip what is done, count failed runs, quarantine and clear records the same way")
{
    const faults first{{10, 11, 12, 55, 56, 200}, {}};
    const faults second{{10, 11, 55, 200}, {}};  // 12 and 56 were fixed: their records are cleared
    const faults third{{10, 11, 55, 200}, {77}}; // the rest are quarantined (2 failed runs) and skipped
    const faults fourth{{}, {}};                 // quarantined items stay quarantined
    const auto dump = same_on_both_paths(range(0, 256), {first, second, third, fourth}, 50);
    CHECK(count_prefix(dump, "item|") == 256 - 4);
    CHECK(count_prefix(dump, "failure|paths|integer|10|2|1|") == 1);
    CHECK(count_prefix(dump, "failure|paths|integer|12|") == 0);
    CHECK(count_prefix(dump, "failure|") == 4);
}

TEST_CASE("sqlite paths: random poison sets with a fixed seed")
{
    std::mt19937_64 rng(20240517);
    for (int round = 0; round < 6; ++round) {
        const std::size_t chunk = std::vector<std::size_t>{1, 3, 16, 64, 250, 2000}[static_cast<std::size_t>(round)];
        faults f;
        std::bernoulli_distribution poison(round % 2 == 0 ? 0.02 : 0.2);
        std::bernoulli_distribution flaky(0.05);
        for (std::int64_t i = 0; i < 600; ++i) {
            if (poison(rng)) {
                f.poison.insert(i);
            } else if (flaky(rng)) {
                f.flaky.insert(i);
            }
        }
        INFO("round " << round << ": " << f.poison.size() << " poison, " << f.flaky.size() << " flaky");
        // The second run has no faults: the failed items succeed and their records are cleared.
        const auto dump = same_on_both_paths(range(0, 600), {f, faults{}}, chunk);
        CHECK(count_prefix(dump, "item|") == 600);
        CHECK(count_prefix(dump, "failure|") == 0);
    }
}
