#pragma once
/// sturdy/testing/faulty.hpp — `faulty<Store>`: a store that forwards to yours and asks an
/// `injector` before each operation, so a test can make chosen operations fail or crash.
///
///     sturdy::memory::database db;                      // or an SQLite database, or your own store
///     sturdy::testing::injector faults(7, {sturdy::testing::fail(sturdy::testing::op::claim).at_call(3)});
///     sturdy::testing::faulty store(db, faults);
///     auto ledger = store.ledger("invoice");            // a faulty ledger: claim, mark, failures...
///     items | sturdy::idempotent_by(ledger, key) | sturdy::chunked(store, 100)
///           | sturdy::guarded([&](const item& i) { store.table("invoice").put(i.id, "x"); }) | sturdy::drain;
///
/// It models what the wrapped store models (transaction, ledger, failure ledger, checkpoints),
/// and forwards, each as one `op::read` or `op::write`, the user-facing calls the stores share:
/// `execute`, `exec`, `query`, `query_one`, `rows`, and `table(name)` with a table whose `put`,
/// `insert`, `try_insert`, `erase` are writes and `get`, `contains` reads (memory);
/// `last_insert_rowid` (SQLite) is forwarded uncounted. Anything else: reach the store
/// with `inner()`, and call `operation()` before a write so a crash can strike there too.
/// Write the job as a template over its store (`template <class Db> report job(Db& db)`) and
/// the same code runs on the real store and on the faulty one.

#include <sturdy/concepts.hpp>
#include <sturdy/testing/faults.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace sturdy::testing {

/// A ledger that asks the injector before each call, then forwards to `L`.
template <class L> class faulty_ledger {
public:
    faulty_ledger(L inner, injector& faults) : inner_(std::move(inner)), faults_(&faults) {}

    [[nodiscard]] bool contains(const key& k)
    {
        faults_->operation(op::contains);
        return inner_.contains(k);
    }
    void mark(const key& k)
    {
        faults_->operation(op::mark);
        inner_.mark(k);
    }
    bool claim(const key& k) requires claiming_ledger<L>
    {
        faults_->operation(op::claim);
        return inner_.claim(k);
    }
    /// One operation for the whole batch (sturdy::batch_claiming_ledger), as the store makes one call.
    void claim_all(std::span<const key> keys, std::vector<bool>& claimed) requires batch_claiming_ledger<L>
    {
        faults_->operation(op::claim);
        inner_.claim_all(keys, claimed);
    }
    std::vector<failure_info> failures() requires failure_ledger<L>
    {
        faults_->operation(op::read_failures);
        return inner_.failures();
    }
    failure_info record_failure(const key& k, std::string_view reason, int quarantine_after) requires failure_ledger<L>
    {
        faults_->operation(op::record_failure);
        return inner_.record_failure(k, reason, quarantine_after);
    }
    void clear_failure(const key& k) requires failure_ledger<L>
    {
        faults_->operation(op::clear_failure);
        inner_.clear_failure(k);
    }
    bool requeue(const key& k) requires failure_ledger<L>
    {
        faults_->operation(op::requeue);
        return inner_.requeue(k);
    }
    std::size_t requeue_all() requires failure_ledger<L>
    {
        faults_->operation(op::requeue);
        return inner_.requeue_all();
    }
    /// A ledger kept by the effect's table (sturdy::confirming_ledger): its check that the
    /// effects left their rows is one operation, counted as a read (op::contains).
    [[nodiscard]] std::size_t confirm_all(std::span<const key> keys) requires confirming_ledger<L>
    {
        faults_->operation(op::contains);
        return inner_.confirm_all(keys);
    }
    [[nodiscard]] std::string unconfirmed(const key& k) const requires confirming_ledger<L>
    {
        return inner_.unconfirmed(k);
    }
    [[nodiscard]] bool done_elsewhere(const std::error_code& code,
                                      std::string_view message) const requires confirming_ledger<L>
    {
        return inner_.done_elsewhere(code, message);
    }
    /// The ledger's name (the idempotency key's prefix), when it has one.
    [[nodiscard]] decltype(auto) name() const requires requires(const L& l) { l.name(); }
    {
        return inner_.name();
    }

    [[nodiscard]] L& inner() noexcept { return inner_; }

private:
    L inner_;
    injector* faults_;
};

/// A table (the memory store's) whose writes and reads ask the injector first.
template <class T> class faulty_table {
public:
    faulty_table(T& inner, injector& faults) : inner_(&inner), faults_(&faults) {}

    template <class... A> decltype(auto) put(A&&... a)
    {
        faults_->operation(op::write);
        return inner_->put(std::forward<A>(a)...);
    }
    template <class... A> decltype(auto) insert(A&&... a)
    {
        faults_->operation(op::write);
        return inner_->insert(std::forward<A>(a)...);
    }
    template <class... A> decltype(auto) try_insert(A&&... a)
    {
        faults_->operation(op::write);
        return inner_->try_insert(std::forward<A>(a)...);
    }
    template <class... A> decltype(auto) erase(A&&... a)
    {
        faults_->operation(op::write);
        return inner_->erase(std::forward<A>(a)...);
    }
    template <class... A> decltype(auto) get(A&&... a)
    {
        faults_->operation(op::read);
        return inner_->get(std::forward<A>(a)...);
    }
    template <class... A> decltype(auto) contains(A&&... a)
    {
        faults_->operation(op::read);
        return inner_->contains(std::forward<A>(a)...);
    }
    [[nodiscard]] decltype(auto) size() const { return inner_->size(); }
    [[nodiscard]] decltype(auto) rows() const { return inner_->rows(); }

    [[nodiscard]] T& inner() noexcept { return *inner_; }

private:
    T* inner_;
    injector* faults_;
};

/// `Store`, with an injector asked before each operation. Models `sturdy::transaction` (and
/// `checkpoint_store` when `Store` does); its `ledger(name)` is a `faulty_ledger`. After a
/// crash, its destructor or `injector::revive()` rolls back what the store left uncommitted.
template <class Store> class faulty {
public:
    faulty(Store& inner, injector& faults) : inner_(&inner), faults_(&faults)
    {
        faults_->register_store(this, [this] { roll_back_what_a_dead_process_loses(); });
    }
    faulty(const faulty&) = delete;
    faulty& operator=(const faulty&) = delete;
    ~faulty()
    {
        if (faults_->crashed()) {
            roll_back_what_a_dead_process_loses();
        }
        faults_->unregister_store(this);
    }

    // --- transaction --------------------------------------------------------------------
    void begin()
    {
        faults_->operation(op::begin);
        inner_->begin();
    }
    void commit()
    {
        faults_->operation(op::commit);
        inner_->commit();
    }
    /// Not an operation the injector sees (see `op`).
    void rollback() { inner_->rollback(); }
    [[nodiscard]] bool in_transaction() const { return inner_->in_transaction(); }

    /// The wrapped store's savepoint; `release` and `rollback` ask the injector first. Its
    /// destructor (an abandoned savepoint) rolls back untouched, as the wrapped one does.
    class savepoint_guard {
    public:
        using inner_type = decltype(std::declval<Store&>().savepoint());
        savepoint_guard(inner_type inner, injector& faults) : inner_(std::move(inner)), faults_(&faults) {}
        void release()
        {
            faults_->operation(op::release);
            inner_.release();
        }
        void rollback()
        {
            faults_->operation(op::rollback_to);
            inner_.rollback();
        }

    private:
        inner_type inner_;
        injector* faults_;
    };
    savepoint_guard savepoint()
    {
        faults_->operation(op::savepoint);
        return savepoint_guard(inner_->savepoint(), *faults_);
    }

    // --- ledger and checkpoints ---------------------------------------------------------
    template <class... A> auto ledger(A&&... a) requires requires(Store& s) { s.ledger(std::forward<A>(a)...); }
    {
        using L = decltype(inner_->ledger(std::forward<A>(a)...));
        return faulty_ledger<L>(inner_->ledger(std::forward<A>(a)...), *faults_);
    }
    template <class N> std::optional<std::string> checkpoint(const N& name) requires requires(Store& s)
    {
        s.checkpoint(name);
    }
    {
        faults_->operation(op::checkpoint);
        return inner_->checkpoint(name);
    }
    template <class N, class V> void set_checkpoint(const N& name, const V& value) requires requires(Store& s)
    {
        s.set_checkpoint(name, value);
    }
    {
        faults_->operation(op::set_checkpoint);
        inner_->set_checkpoint(name, value);
    }

    // --- the user's own reads and writes --------------------------------------------------
    template <class... A> decltype(auto) execute(A&&... a) requires requires(Store& s)
    {
        s.execute(std::forward<A>(a)...);
    }
    {
        faults_->operation(op::write);
        return inner_->execute(std::forward<A>(a)...);
    }
    template <class... A> decltype(auto) exec(A&&... a) requires requires(Store& s) { s.exec(std::forward<A>(a)...); }
    {
        faults_->operation(op::write);
        return inner_->exec(std::forward<A>(a)...);
    }
    template <class Row, class... A> decltype(auto) query(A&&... a) requires requires(Store& s)
    {
        s.template query<Row>(std::forward<A>(a)...);
    }
    {
        faults_->operation(op::read);
        return inner_->template query<Row>(std::forward<A>(a)...);
    }
    template <class Row, class... A> decltype(auto) query_one(A&&... a) requires requires(Store& s)
    {
        s.template query_one<Row>(std::forward<A>(a)...);
    }
    {
        faults_->operation(op::read);
        return inner_->template query_one<Row>(std::forward<A>(a)...);
    }
    /// The input: one read when the range is made (its rows are read by the store's cursor).
    template <class Row, class... A> decltype(auto) rows(A&&... a) requires requires(Store& s)
    {
        s.template rows<Row>(std::forward<A>(a)...);
    }
    {
        faults_->operation(op::read);
        return inner_->template rows<Row>(std::forward<A>(a)...);
    }
    template <class N> auto table(const N& name) requires requires(Store& s) { s.table(name); }
    {
        using T = std::remove_reference_t<decltype(inner_->table(name))>;
        return faulty_table<T>(inner_->table(name), *faults_);
    }

    /// The last row id (SQLite): not an operation, it reads the connection's state.
    [[nodiscard]] decltype(auto) last_insert_rowid() requires requires(Store& s) { s.last_insert_rowid(); }
    {
        return inner_->last_insert_rowid();
    }

    /// One operation of yours on `inner()`, counted (a crash point) and perhaps failed.
    void operation(op o = op::write) { faults_->operation(o); }

    [[nodiscard]] Store& inner() noexcept { return *inner_; }
    [[nodiscard]] injector& faults() noexcept { return *faults_; }

private:
    void roll_back_what_a_dead_process_loses()
    {
        if (inner_->in_transaction()) {
            inner_->rollback();
        }
    }

    Store* inner_;
    injector* faults_;
};

template <class Store> faulty(Store&, injector&) -> faulty<Store>;

} // namespace sturdy::testing
