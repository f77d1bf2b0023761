// A store of your own in one small file. Here: a key-value service with no transactions of its
// own (think of a REST API or a cache). It models sturdy::transaction by buffering writes: a
// savepoint is a position in the buffer, commit sends the buffer. Its ledger keeps done keys in
// the same buffer, so marks commit with the effects they cover. sturdy::testing::check_store,
// the conformance suite sturdy's own stores pass, checks it before the job runs on it.
#include <sturdy/sturdy.hpp>
#include <sturdy/testing/conformance.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kv {

class service {
public:
    // --- sturdy::transaction ---------------------------------------------------------
    void begin()
    {
        if (open_) {
            throw sturdy::usage_error("kv::service::begin: a transaction is already open");
        }
        open_ = true;
    }
    void commit()
    {
        end("commit");
        for (auto& [k, v] : pending_) {
            data_[k] = std::move(v); // one batched request in a real client
        }
        pending_.clear();
    }
    void rollback()
    {
        end("rollback");
        pending_.clear();
    }
    [[nodiscard]] bool in_transaction() const { return open_; }

    // A position in the buffer. Taken outside a transaction, it starts one, which its release
    // commits. A guard outlived by its transaction does nothing.
    class savepoint_guard {
    public:
        savepoint_guard(service& s, std::size_t mark, bool owns)
            : s_(&s), mark_(mark), transaction_(s.transaction_), owns_(owns)
        {
        }
        savepoint_guard(savepoint_guard&& o) noexcept
            : s_(std::exchange(o.s_, nullptr)), mark_(o.mark_), transaction_(o.transaction_), owns_(o.owns_)
        {
        }
        ~savepoint_guard()
        {
            if (s_ != nullptr) {
                rollback();
            }
        }
        void release()
        {
            if (auto* s = live(); s != nullptr && owns_) {
                s->commit();
            }
        }
        void rollback()
        {
            if (auto* s = live(); s != nullptr) {
                owns_ ? s->rollback() : s->pending_.resize(mark_);
            }
        }

    private:
        service* live() // the service, or nullptr when released, moved from or outlived
        {
            auto* s = std::exchange(s_, nullptr);
            return s != nullptr && s->open_ && s->transaction_ == transaction_ ? s : nullptr;
        }
        service* s_;
        std::size_t mark_;
        std::size_t transaction_;
        bool owns_;
    };
    savepoint_guard savepoint()
    {
        const bool owns = !open_;
        if (owns) {
            begin();
        }
        return {*this, pending_.size(), owns};
    }

    // --- the store's own API ----------------------------------------------------------
    /// Buffered in a transaction; sent at once outside one (an autocommit).
    void put(std::string k, std::string v)
    {
        if (open_) {
            pending_.emplace_back(std::move(k), std::move(v));
        } else {
            data_[std::move(k)] = std::move(v);
        }
    }
    [[nodiscard]] bool has(const std::string& k) const
    {
        for (const auto& p : pending_) {
            if (p.first == k) {
                return true;
            }
        }
        return data_.contains(k);
    }
    /// Keys starting with `prefix`, pending ones included.
    [[nodiscard]] std::size_t count(const std::string& prefix) const
    {
        std::set<std::string> keys;
        for (const auto& [k, v] : data_) {
            keys.insert(k);
        }
        for (const auto& [k, v] : pending_) {
            keys.insert(k);
        }
        return static_cast<std::size_t>(
            std::ranges::count_if(keys, [&](const std::string& k) { return k.starts_with(prefix); }));
    }
    [[nodiscard]] std::size_t size() const { return data_.size(); }

private:
    void end(const char* what)
    {
        if (!open_) {
            throw sturdy::usage_error(std::string("kv::service::") + what + ": no transaction is open");
        }
        open_ = false;
        ++transaction_;
    }

    std::map<std::string, std::string> data_;
    std::vector<std::pair<std::string, std::string>> pending_;
    bool open_ = false;
    std::size_t transaction_ = 0; ///< which transaction is open: savepoints of an ended one are inert
};

// --- sturdy::ledger: done keys live in the same store, under the ledger's name -----------
struct ledger {
    service* s;
    std::string name;
    [[nodiscard]] bool contains(const sturdy::key& k) const { return s->has(entry(k)); }
    void mark(const sturdy::key& k) { s->put(entry(k), "1"); }
    // The integer 5 and the text "5" are different keys.
    [[nodiscard]] std::string entry(const sturdy::key& k) const
    {
        return "done/" + name + (k.is_integer() ? "/i/" : "/s/") + k.str();
    }
};

static_assert(sturdy::transaction<service>);
static_assert(sturdy::ledger<ledger>);

// --- the conformance suite's fixture: a fresh service, and rows under "t/" ----------------
struct fixture {
    service s;
    service& store() { return s; }
    kv::ledger ledger(const std::string& name) { return {&s, name}; }
    void write(std::int64_t id) { s.put(fmt::format("t/{}", id), "row"); }
    bool has(std::int64_t id) { return s.has(fmt::format("t/{}", id)); }
    std::int64_t count() { return static_cast<std::int64_t>(s.count("t/")); }
};
static_assert(sturdy::testing::store_fixture<fixture>);

} // namespace kv

int main()
{
    // Does the store keep the promises the loop relies on? Each case runs on a fresh fixture.
    const auto check = sturdy::testing::check_store([] { return kv::fixture{}; });
    fmt::print("{}\n", check.describe());
    if (!check.ok()) {
        return 1;
    }

    kv::service store;
    kv::ledger done{&store, "scores"};
    std::vector<int> customers{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

    auto run = [&] {
        return customers | sturdy::idempotent_by(done, [](int id) { return id; }) | sturdy::chunked(store, 4) |
               sturdy::guarded([&](int id) {
                   store.put(fmt::format("customer/{}/score", id), std::to_string(id * 10));
                   if (id == 7) {
                       throw std::runtime_error("customer 7 has no score card");
                   }
               }) |
               sturdy::drain;
    };
    const auto first = run();
    const auto second = run();
    fmt::print("first:  {}\nsecond: {}\nstored keys: {}\n", first, second, store.size());
    // 9 scores and 9 done marks; customer 7's partial write was rolled back both times.
    return first.done == 9 && second.skipped == 9 && store.size() == 18 && !store.has("customer/7/score") ? 0 : 1;
}
