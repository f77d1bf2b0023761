// A claiming input (sturdy::claiming_input in concepts.hpp) is read only inside chunk
// transactions, told when each chunk begins, and told to hold its items again when they run a
// second time. The PostgreSQL claim (store/postgres_claim.hpp) is tested on a real server in
// tests/postgres; this checks the loop's side of the contract on the memory store.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

/// Rows 1..n, claimed `n` at a time like a `LIMIT n FOR UPDATE SKIP LOCKED` query, logging what
/// the loop asks of it and failing the test if a claim happens outside a transaction.
class fake_claims {
public:
    fake_claims(sturdy::memory::database& db, int rows) : db_(&db), rows_(rows) {}

    class iterator {
    public:
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(fake_claims* s) : s_(s) {}
        int operator*() const
        {
            if (s_->pos_ >= s_->batch_.size()) {
                throw std::logic_error("read past the claim");
            }
            return s_->batch_[s_->pos_];
        }
        iterator& operator++()
        {
            ++s_->pos_;
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t) const { return s_->at_end(); }

    private:
        fake_claims* s_ = nullptr;
    };
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() { return {}; }

    void begin_chunk(std::size_t n)
    {
        log.push_back(n > 0 ? "begin " + std::to_string(n) : "hold again " + std::to_string(batch_.size()));
        if (n == 0 && !db_->in_transaction()) {
            log.push_back("ERROR: held again outside a transaction");
        }
        budget_ = n;
    }

    std::vector<std::string> log;

private:
    bool at_end()
    {
        if (pos_ < batch_.size()) {
            return false;
        }
        if (budget_ > 0 && !ended_) {
            claim();
            return pos_ >= batch_.size();
        }
        return true; // the chunk's claim is read
    }
    void claim()
    {
        if (!db_->in_transaction()) {
            log.push_back("ERROR: claim outside a transaction");
        }
        batch_.clear();
        pos_ = 0;
        while (batch_.size() < budget_ && next_ <= rows_) {
            batch_.push_back(next_++);
        }
        ended_ = batch_.size() < budget_;
        budget_ = 0;
        log.push_back("claim " + std::to_string(batch_.size()));
    }

    sturdy::memory::database* db_;
    int rows_;
    int next_ = 1;
    std::vector<int> batch_;
    std::size_t pos_ = 0;
    std::size_t budget_ = 0;
    bool ended_ = false;
};

static_assert(sturdy::claiming_input<fake_claims>);
static_assert(!sturdy::claiming_input<std::vector<int>>);

} // namespace

TEST_CASE("claiming input: each chunk claims inside its transaction; after a short claim, one that finds nothing ends "
          "the run")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    fake_claims input(db, 7);
    std::vector<int> seen;
    const auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 3) |
                   sturdy::guarded([&](int v) { seen.push_back(v); }) | sturdy::drain;
    CHECK(seen == std::vector<int>{1, 2, 3, 4, 5, 6, 7});
    CHECK(input.log ==
          std::vector<std::string>{"begin 3", "claim 3", "begin 3", "claim 3", "begin 3", "claim 1", "begin 3"});
    CHECK(r.done == 7);
    CHECK(r.chunks == 3);
    CHECK(r.remaining == 0);
    CHECK(ledger.size() == 7);
}

TEST_CASE("claiming input: a last claim that finds nothing is no chunk")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    fake_claims input(db, 6);
    const auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 3) |
                   sturdy::guarded([](int) {}) | sturdy::drain;
    CHECK(input.log == std::vector<std::string>{"begin 3", "claim 3", "begin 3", "claim 3", "begin 3", "claim 0"});
    CHECK(r.done == 6);
    CHECK(r.chunks == 2);
}

TEST_CASE("claiming input: a failed fast attempt's items run again in the transaction that claimed them")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    fake_claims input(db, 6);
    std::vector<int> seen;
    const auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 3) |
                   sturdy::guarded([&](int v) {
                       seen.push_back(v);
                       if (v == 2) {
                           throw std::runtime_error("poison");
                       }
                   }) |
                   sturdy::drain;
    // Chunk 1 fails fast at 2 and runs again on the careful path in the same transaction, which
    // still holds the claim (1 again, 2 alone, 3): nothing to hold again. Chunk 2 runs on the
    // careful path while segments grow back, and claims its items inside its own transaction.
    CHECK(input.log == std::vector<std::string>{"begin 3", "claim 3", "begin 3", "claim 3", "begin 3", "claim 0"});
    CHECK(seen == std::vector<int>{1, 2, 1, 3, 4, 5, 6}); // 2's fast failure was its one attempt
    for (const auto& line : input.log) {
        CHECK(!line.starts_with("ERROR"));
    }
    CHECK(r.done == 5);
    CHECK(r.failed == 1);
    CHECK(r.remaining == 0);
}

TEST_CASE("claiming input: per-item isolation claims inside the chunk's transaction too")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    fake_claims input(db, 5);
    const auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 2) |
                   sturdy::guarded([](int) {}, sturdy::isolation::per_item) | sturdy::drain;
    CHECK(input.log ==
          std::vector<std::string>{"begin 2", "claim 2", "begin 2", "claim 2", "begin 2", "claim 1", "begin 2"});
    CHECK(r.done == 5);
}

/// The memory store, whose first `fail_commits` commits fail with a transient error (the
/// transaction is then rolled back, as a server would).
struct flaky_commits {
    sturdy::memory::database& db;
    int fail_commits;
    void begin() { db.begin(); }
    void commit()
    {
        if (fail_commits-- > 0) {
            throw sturdy::transient_error("could not serialize access");
        }
        db.commit();
    }
    void rollback() { db.rollback(); }
    [[nodiscard]] bool in_transaction() const { return db.in_transaction(); }
    auto savepoint() { return db.savepoint(); }
};

TEST_CASE("claiming input: a chunk retried after a transient error holds its items again")
{
    sturdy::memory::database db;
    flaky_commits tx{db, 1};
    auto ledger = db.ledger("job");
    fake_claims input(db, 2);
    std::vector<int> seen;
    const auto r = input | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(tx, 2) |
                   sturdy::guarded([&](int v) { seen.push_back(v); }) |
                   sturdy::retry_bounded(5, sturdy::backoff::none()) | sturdy::drain;
    CHECK(r.done == 2);
    CHECK(seen == std::vector<int>{1, 2, 1, 2});
    CHECK(input.log == std::vector<std::string>{"begin 2", "claim 2", "hold again 2", "begin 2", "claim 0"});
    CHECK(ledger.size() == 2);
}
