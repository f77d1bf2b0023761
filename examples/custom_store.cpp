// A store of your own in one small file. Here: a key-value service with no transactions of its
// own (think of a REST API or a cache). It models sturdy::transaction by buffering writes: a
// savepoint is a position in the buffer, commit sends the buffer. Its ledger keeps done keys in
// the same buffer, so marks commit with the effects they cover.
#include <sturdy/sturdy.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kv {

class service {
public:
    // --- sturdy::transaction ---------------------------------------------------------
    void begin() { open_ = true; }
    void commit()
    {
        for (auto& [k, v] : pending_) {
            data_[k] = std::move(v); // one batched request in a real client
        }
        pending_.clear();
        open_ = false;
    }
    void rollback()
    {
        pending_.clear();
        open_ = false;
    }
    [[nodiscard]] bool in_transaction() const { return open_; }

    class savepoint_guard {
    public:
        savepoint_guard(service& s, std::size_t mark) : s_(&s), mark_(mark) {}
        savepoint_guard(savepoint_guard&& o) noexcept : s_(std::exchange(o.s_, nullptr)), mark_(o.mark_) {}
        ~savepoint_guard()
        {
            if (s_ != nullptr) {
                rollback();
            }
        }
        void release() { s_ = nullptr; }
        void rollback() { std::exchange(s_, nullptr)->pending_.resize(mark_); }

    private:
        service* s_;
        std::size_t mark_;
    };
    savepoint_guard savepoint() { return {*this, pending_.size()}; }

    // --- the store's own API ----------------------------------------------------------
    void put(std::string k, std::string v) { pending_.emplace_back(std::move(k), std::move(v)); }
    [[nodiscard]] bool has(const std::string& k) const
    {
        for (const auto& p : pending_) {
            if (p.first == k) {
                return true;
            }
        }
        return data_.contains(k);
    }
    [[nodiscard]] std::size_t size() const { return data_.size(); }

private:
    std::map<std::string, std::string> data_;
    std::vector<std::pair<std::string, std::string>> pending_;
    bool open_ = false;
};

// --- sturdy::ledger: done keys live in the same store, under a prefix -------------------
struct ledger {
    service* s;
    [[nodiscard]] bool contains(const sturdy::key& k) const { return s->has("done/" + k.str()); }
    void mark(const sturdy::key& k) { s->put("done/" + k.str(), "1"); }
};

static_assert(sturdy::transaction<service>);
static_assert(sturdy::ledger<ledger>);

} // namespace kv

int main()
{
    kv::service store;
    kv::ledger done{&store};
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
