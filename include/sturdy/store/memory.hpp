#pragma once
/// sturdy/store/memory.hpp — an in-process store with real transaction semantics: tables of
/// key -> text, an undo log, nested savepoints, a ledger and failure records. Unit tests run on
/// it and benchmarks use it to measure the library's own overhead.
///
///     sturdy::memory::database db;
///     auto& invoices = db.table("invoice");
///     auto ledger = db.ledger("invoice");
///     db.begin(); invoices.put(1, "x"); db.rollback();   // invoices is empty again
///
/// Its own errors: `table::insert` of a key already there is permanent (a unique constraint),
/// a commit failed by `fail_next_commits` is transient, and misuse (`begin` twice) is a
/// `usage_error`. None is fatal: a table is created on first use, so none can be missing, and
/// nothing is read-only, corrupt or full. An effect may still throw a fatal code of its own.

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>
#include <sturdy/store/effect_ledger.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sturdy::memory {

class database;
class ledger;

/// One table: key -> text. Writes inside a transaction are undone by rollback.
class table {
public:
    using rows_type = std::unordered_map<key, std::string>;

    /// Insert or replace.
    void put(const key& k, std::string value);
    /// Insert; throws a permanent error if the key exists (a unique constraint).
    STURDY_DECL void insert(const key& k, std::string value);
    /// Insert unless the key exists (SQL's ON CONFLICT DO NOTHING); true when it inserted.
    bool try_insert(const key& k, std::string value);
    STURDY_DECL bool erase(const key& k);
    [[nodiscard]] bool contains(const key& k) const { return rows_.contains(k); }
    [[nodiscard]] std::optional<std::string> get(const key& k) const
    {
        auto it = rows_.find(k);
        return it == rows_.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    [[nodiscard]] std::size_t size() const noexcept { return rows_.size(); }
    [[nodiscard]] const rows_type& rows() const noexcept { return rows_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
    friend class database;
    friend class memory::ledger;
    table(database& db, std::string name) : db_(&db), name_(std::move(name)) {}
    /// try_insert with the value copied into the new row in place (a ledger's mark time).
    bool try_insert_copy(const key& k, const std::string& value);
    /// Inserts `value` (moved or copied) unless `k` is there, recording the insert for rollback.
    template <class Value> bool insert_new(const key& k, Value&& value);
    STURDY_DECL void restore(const key& k, std::optional<std::string> old);

    database* db_;
    std::string name_;
    rows_type rows_;
};

/// A ledger in a memory database: a table of done keys, plus failure records per key
/// (table `sturdy_failure:<name>`), all undone by rollback like any other write. A done key's
/// row holds when it was marked, in Unix seconds as text: the time the transaction it was
/// marked in began (PostgreSQL's `now()`), or the time of the call outside one.
class ledger {
public:
    [[nodiscard]] bool contains(const key& k) const { return done_->contains(k); }
    void mark(const key& k);
    /// Marks `k` done unless it already is; true when this call marked it (see sturdy::claiming_ledger).
    bool claim(const key& k);
    [[nodiscard]] std::size_t size() const { return done_->size(); }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    /// Every failure record, ordered by key (integers first), as the SQL stores return them.
    [[nodiscard]] STURDY_DECL std::vector<failure_info> failures() const;
    STURDY_DECL failure_info record_failure(const key& k, std::string_view reason, int quarantine_after);
    STURDY_DECL void clear_failure(const key& k);
    STURDY_DECL bool requeue(const key& k);
    STURDY_DECL std::size_t requeue_all();

    /// Forgets the done marks written before `cutoff` (to the second, rounded down: a mark of
    /// the second `cutoff` falls in stays), in batches of at most `batch` marks, and returns how
    /// many it forgot. Failure records stay. A forgotten key is no longer done: if the input
    /// produces it again, it runs again. Only forget keys the input can no longer produce (see
    /// sturdy::sqlite::ledger::forget_marked_before, and docs/architecture.md). Outside a
    /// transaction each batch is one transaction of its own; inside one, every batch runs in
    /// it. A row without a readable time (written with `table::put`) stays. `batch` must be at
    /// least 1 (`usage_error`). Cost: one pass over the ledger's rows.
    STURDY_DECL std::size_t forget_marked_before(std::chrono::system_clock::time_point cutoff,
                                                 std::size_t batch = 10'000);

private:
    friend class database;
    ledger(std::string name, database& db, table& done, table& failed)
        : name_(std::move(name)), db_(&db), done_(&done), failed_(&failed)
    {
    }

    STURDY_DECL static std::string encode(const failure_info& f);
    STURDY_DECL static failure_info decode(const key& k, const std::string& text);

    std::string name_;
    database* db_;
    table* done_;
    table* failed_;
};

class unique_key_ledger;

/// The database: named tables, one transaction at a time, nested savepoints.
class database {
public:
    database() = default;
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    /// The table called `name`, created empty on first use. The reference stays valid.
    STURDY_DECL memory::table& table(std::string_view name);

    /// The ledger for one job (namespace), stored in table `sturdy_ledger:<name>`.
    STURDY_DECL memory::ledger ledger(std::string_view name);

    /// A ledger kept by the effect's own table (sturdy/store/effect_ledger.hpp), the memory
    /// store's equivalent of the SQL stores' unique-key form: a key is done when the table
    /// `spec.table` holds it (a memory table's key is its one unique key: `spec.columns` are not
    /// read). The failure records are kept under `spec.name` (the table's name by default).
    STURDY_DECL memory::unique_key_ledger ledger(const unique_key& spec);

    /// A named checkpoint (a watermark), or nullopt if never set.
    STURDY_DECL std::optional<std::string> checkpoint(const std::string& name);
    /// Set a checkpoint, in the current transaction.
    STURDY_DECL void set_checkpoint(const std::string& name, const std::string& value);

    /// Every table's rows, for comparing a whole store before and after. The ledgers' rows come
    /// with empty values: when a key was marked differs from run to run, whether it is done
    /// does not.
    [[nodiscard]] STURDY_DECL std::map<std::string, memory::table::rows_type, std::less<>> snapshot() const;

    // --- transaction ---------------------------------------------------------------------
    STURDY_DECL void begin();
    STURDY_DECL void commit();
    STURDY_DECL void rollback();
    [[nodiscard]] bool in_transaction() const noexcept { return in_transaction_; }

    /// RAII savepoint: rolls back unless released. Outside a transaction it starts one, and
    /// releasing it commits, as SQL savepoints do.
    class savepoint_guard {
    public:
        savepoint_guard(savepoint_guard&& other) noexcept
            : db_(std::exchange(other.db_, nullptr)), mark_(other.mark_), owns_transaction_(other.owns_transaction_)
        {
        }
        savepoint_guard& operator=(savepoint_guard&&) = delete;
        ~savepoint_guard()
        {
            if (db_ != nullptr) {
                rollback();
            }
        }
        STURDY_DECL void release();
        STURDY_DECL void rollback();

    private:
        friend class database;
        savepoint_guard(database& db, std::size_t mark, bool owns) : db_(&db), mark_(mark), owns_transaction_(owns) {}
        database* db_;
        std::size_t mark_;
        bool owns_transaction_;
    };

    STURDY_DECL savepoint_guard savepoint();

    // --- observation and fault injection, for tests --------------------------------------
    [[nodiscard]] std::size_t commits() const noexcept { return commits_; }
    [[nodiscard]] std::size_t savepoints_taken() const noexcept { return savepoints_taken_; }
    [[nodiscard]] std::size_t open_savepoints() const noexcept { return open_savepoints_; }
    /// Make the next `n` commits fail with a transient error (a lost connection, say).
    void fail_next_commits(std::size_t n) noexcept { fail_next_commits_ = n; }

private:
    friend class memory::table;
    struct undo_entry {
        memory::table* where;
        key k;
        std::optional<std::string> old;
    };

    STURDY_DECL void require_transaction(const char* what) const;
    /// Undo entries: `k` was inserted into `t` (undo erases it) or its row held `old` (undo
    /// restores it). Built in place; `old` is taken only once the entry exists.
    void record_insert(memory::table& t, const key& k)
    {
        if (in_transaction_) {
            undo_.push_back(undo_entry{&t, k, std::nullopt});
        }
    }
    void record(memory::table& t, const key& k, std::string& old)
    {
        if (in_transaction_) {
            undo_.push_back(undo_entry{&t, k, std::nullopt});
            undo_.back().old.emplace(std::move(old));
        }
    }
    STURDY_DECL void undo_to(std::size_t mark);

    std::map<std::string, std::unique_ptr<memory::table>, std::less<>> tables_;
    std::vector<undo_entry> undo_;
    bool in_transaction_ = false;
    std::size_t open_savepoints_ = 0;
    std::size_t savepoints_taken_ = 0;
    std::size_t commits_ = 0;
    std::size_t fail_next_commits_ = 0;

    friend class memory::ledger;
    /// When a mark written now was written: the time the open transaction began, else now.
    const std::string& mark_time()
    {
        if (!in_transaction_) {
            mark_time_ = unix_now();
        }
        return mark_time_;
    }
    [[nodiscard]] STURDY_DECL static std::string unix_now();
    std::string mark_time_; ///< Unix seconds when the open transaction began (set by begin()), as text
};

// On the per-item path: defined here in both modes, so that the loop inlines them.
// One hash lookup each; if the undo entry cannot be stored, the row is left as it was.
inline void table::put(const key& k, std::string value)
{
    auto [it, inserted] = rows_.try_emplace(k);
    if (inserted) {
        try {
            db_->record_insert(*this, k);
        } catch (...) {
            rows_.erase(it);
            throw;
        }
    } else {
        db_->record(*this, k, it->second);
    }
    it->second = std::move(value);
}

template <class Value> bool table::insert_new(const key& k, Value&& value)
{
    auto [it, inserted] = rows_.try_emplace(k, std::forward<Value>(value));
    if (!inserted) {
        return false;
    }
    try {
        db_->record_insert(*this, k);
    } catch (...) {
        rows_.erase(it);
        throw;
    }
    return true;
}

[[gnu::flatten]] inline bool table::try_insert(const key& k, std::string value)
{
    return insert_new(k, std::move(value));
}

/// The memory store's ledger kept by the effect's own table (`db.ledger(sturdy::unique_key{...})`):
/// the effect inserts the item's key into the table. Models `sturdy::confirming_ledger` and
/// `sturdy::failure_ledger`.
class unique_key_ledger : public store_detail::failure_records<memory::ledger> {
public:
    [[nodiscard]] bool contains(const key& k) const { return table_->contains(k); }
    /// Checks that the effect inserted `k`; throws a permanent error naming it otherwise.
    void mark(const key& k)
    {
        if (!contains(k)) {
            throw permanent_error(unconfirmed(k));
        }
    }
    /// True when the table does not hold `k` yet (nothing is written).
    bool claim(const key& k) { return !contains(k); }
    /// `claimed[i]` when the table does not hold `keys[i]` and it is its first occurrence.
    STURDY_DECL void claim_all(std::span<const key> keys, std::vector<bool>& claimed);
    /// The index of the first of `keys` the table does not hold, or keys.size().
    [[nodiscard]] STURDY_DECL std::size_t confirm_all(std::span<const key> keys);
    [[nodiscard]] std::string unconfirmed(const key& k) const
    {
        return store_detail::unwritten_row(table_->name(), {"key"}, k);
    }
    /// Whether an effect's failure is `table::insert`'s unique error on this ledger's table.
    [[nodiscard]] STURDY_DECL bool done_elsewhere(const std::error_code& code, std::string_view message) const;

private:
    friend class database;
    unique_key_ledger(memory::table& t, memory::ledger failures) : failure_records(std::move(failures)), table_(&t) {}
    memory::table* table_;
};

[[gnu::flatten]] inline bool table::try_insert_copy(const key& k, const std::string& value)
{
    return insert_new(k, value);
}

inline void ledger::mark(const key& k)
{
    if (!done_->try_insert_copy(k, db_->mark_time())) {
        done_->insert(k, {}); // throws the unique constraint's error
    }
}

inline bool ledger::claim(const key& k) { return done_->try_insert_copy(k, db_->mark_time()); }

static_assert(sturdy::transaction<database>);
static_assert(sturdy::confirming_ledger<unique_key_ledger> && sturdy::failure_ledger<unique_key_ledger>);
static_assert(sturdy::failure_ledger<ledger>);
static_assert(sturdy::claiming_ledger<ledger>);

} // namespace sturdy::memory

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/store/impl/memory.ipp>
#endif
