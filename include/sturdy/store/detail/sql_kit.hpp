#pragma once
/// sturdy/store/detail/sql_kit.hpp — what the SQL stores share besides reading rows (internal):
/// statements' text in messages and as cache keys, the Unix second, the savepoint stack with
/// its generation and the tracking of the sturdy tables' creation, the RAII savepoint guard,
/// and the iterator of a lazy row range. Templates over the store's `database` (no virtual
/// call), which supplies the dialect's statements:
///   - `void open_savepoint(std::size_t depth)`: SAVEPOINT spN;
///   - `void release_savepoint(std::size_t depth)`: RELEASE spN;
///   - `void rollback_to_savepoint(std::size_t depth)`: ROLLBACK TO spN (and, where one round
///     trip does both, RELEASE spN);
///   - `void release_rolled_back(std::size_t depth)`: RELEASE spN after it, when the above did
///     not;
///   - `begin()`, `commit()`, `rollback()`, `in_transaction()`, `ensure_schema()`, `execute`
///     and `query_one`; it derives from `database_kit<database>`, which holds the
///     `savepoint_book` and gives `savepoint()`, `checkpoint` and `set_checkpoint`.

#include <sturdy/config.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace sturdy::store_detail {

/// The first 200 characters of a statement, for messages.
STURDY_DECL std::string abbreviated(std::string_view sql);

/// Now, in Unix seconds: what the ledgers write as a mark's or a failure's time.
STURDY_DECL std::int64_t unix_seconds() noexcept;

/// Hashes a statement's text; looks up a `std::string` key by a `std::string_view`.
struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// Statements (or anything else) by their text, found by a string_view without a copy.
template <class T> using by_text = std::unordered_map<std::string, T, text_hash, std::equal_to<>>;

/// One connection's savepoints: how deep the open ones go, which transaction they belong to,
/// and whether the sturdy tables exist, committed, or were created in the open transaction.
struct savepoint_book {
    std::size_t depth = 0;        ///< open savepoints
    std::uint64_t generation = 0; ///< bumped when a transaction begins or ends: older guards are inert
    bool schema_ready = false;    ///< the sturdy tables exist: the per-item check
    /// While the sturdy tables' creation is not committed: the savepoint depth whose rollback
    /// undoes it (0: only the transaction's). Rolling back a deeper savepoint leaves them be.
    std::optional<std::size_t> schema_created_at;

    /// A transaction began: no savepoint is open, guards of an earlier one are inert.
    void began() noexcept
    {
        depth = 0;
        ++generation;
    }
    /// The transaction ended: committed, tables it created exist; rolled back, they are gone
    /// and are created again on next use.
    void ended(bool committed) noexcept
    {
        began();
        if (schema_created_at) {
            schema_ready = committed;
            schema_created_at.reset();
        }
    }
    /// Savepoint `level` was released: its writes now belong to the level above.
    void released(std::size_t level) noexcept
    {
        if (schema_created_at && *schema_created_at >= level) {
            schema_created_at = level - 1;
        }
    }
    /// Savepoint `level` was rolled back: tables created under it are gone, created again on
    /// next use.
    void rolled_back(std::size_t level) noexcept
    {
        if (schema_created_at && *schema_created_at >= level) {
            schema_undone();
        }
    }
    /// The sturdy tables' creation was undone: check again on next use.
    void schema_undone() noexcept
    {
        schema_ready = false;
        schema_created_at.reset();
    }
};

/// RAII savepoint (SAVEPOINT spN, N = nesting depth). `release()` keeps its writes,
/// `rollback()` undoes them; the destructor rolls back unless released. Outside a transaction
/// it begins one, and releasing it commits. A guard whose transaction has ended (a rollback or
/// commit of the whole transaction) is inert.
template <class Database> class savepoint_guard {
public:
    savepoint_guard(savepoint_guard&& other) noexcept
        : db_(std::exchange(other.db_, nullptr)), depth_(other.depth_), generation_(other.generation_),
          owns_transaction_(other.owns_transaction_)
    {
    }
    savepoint_guard(const savepoint_guard&) = delete;
    savepoint_guard& operator=(const savepoint_guard&) = delete;
    savepoint_guard& operator=(savepoint_guard&&) = delete;
    ~savepoint_guard()
    {
        if (db_ != nullptr) {
            try {
                rollback();
            } catch (...) { // NOLINT(bugprone-empty-catch): a destructor cannot report
            }
        }
    }

    /// RELEASE: the writes stay, in the enclosing savepoint or transaction (committed if this
    /// savepoint began the transaction).
    void release()
    {
        Database* db = std::exchange(db_, nullptr);
        if (db == nullptr || !alive(*db)) {
            return;
        }
        db->release_savepoint(depth_);
        db->book_.depth = depth_ - 1;
        db->book_.released(depth_);
        if (owns_transaction_) {
            db->commit();
        }
    }

    /// ROLLBACK TO + RELEASE: undoes the writes made since the savepoint was taken.
    void rollback()
    {
        Database* db = std::exchange(db_, nullptr);
        if (db == nullptr || !alive(*db)) {
            return;
        }
        db->book_.depth = depth_ - 1;
        if (owns_transaction_) {
            db->rollback();
            return;
        }
        db->rollback_to_savepoint(depth_);
        db->book_.rolled_back(depth_);
        db->release_rolled_back(depth_);
    }

    /// Takes a savepoint on `db` one level deeper than its open ones, beginning a transaction
    /// first when none is open (rolled back if the savepoint fails).
    static savepoint_guard take(Database& db)
    {
        const bool owns = !db.in_transaction();
        if (owns) {
            db.begin();
        }
        const std::size_t depth = db.book_.depth + 1;
        try {
            db.open_savepoint(depth);
        } catch (...) {
            if (owns) {
                db.rollback();
            }
            throw;
        }
        db.book_.depth = depth;
        return savepoint_guard(db, depth, db.book_.generation, owns);
    }

private:
    savepoint_guard(Database& db, std::size_t depth, std::uint64_t generation, bool owns)
        : db_(&db), depth_(depth), generation_(generation), owns_transaction_(owns)
    {
    }
    [[nodiscard]] bool alive(const Database& db) const noexcept
    {
        return generation_ == db.book_.generation && db.in_transaction();
    }

    Database* db_;
    std::size_t depth_;
    std::uint64_t generation_;
    bool owns_transaction_;
};

/// What a SQL store's `database` (`Database`, deriving from it) shares with the other's: its
/// savepoints, its named checkpoints, and the version of the `sturdy_*` tables.
template <class Database> class database_kit {
public:
    /// RAII savepoint (SAVEPOINT spN, N = nesting depth). `release()` keeps its writes,
    /// `rollback()` undoes them; the destructor rolls back unless released. Outside a
    /// transaction it begins one, and releasing it commits.
    using savepoint_guard = store_detail::savepoint_guard<Database>;

    savepoint_guard savepoint() { return savepoint_guard::take(static_cast<Database&>(*this)); }

    /// The checkpoint (watermark) called `name`, or nullopt if it was never set.
    std::optional<std::string> checkpoint(std::string_view name)
    {
        auto& db = static_cast<Database&>(*this);
        db.ensure_schema();
        return db.template query_one<std::string>("SELECT value FROM sturdy_checkpoint WHERE name = $1", name);
    }

    /// Sets checkpoint `name` in the current transaction (so it commits with the chunk).
    void set_checkpoint(std::string_view name, std::string_view value)
    {
        auto& db = static_cast<Database&>(*this);
        db.ensure_schema();
        db.execute("INSERT INTO sturdy_checkpoint(name, value) VALUES($1, $2) "
                   "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                   name, value);
    }

    /// The version of the `sturdy_*` tables this header writes and understands (both SQL
    /// stores').
    static constexpr int schema_version = 1;

    database_kit(const database_kit&) = delete; ///< a database is not copyable or movable
    database_kit& operator=(const database_kit&) = delete;

protected:
    database_kit() = default;
    ~database_kit() = default;
    friend class store_detail::savepoint_guard<Database>;
    savepoint_book book_;
};

/// What the SQL stores' `ledger`s share: their database and namespace, the Unix second they
/// write, and the members whose statement is the same in both dialects.
template <class Database> class ledger_members {
public:
    /// How many keys are done.
    [[nodiscard]] std::size_t size() const
    {
        db_->ensure_schema();
        return static_cast<std::size_t>(
            *db_->template query_one<std::int64_t>("SELECT count(*) FROM sturdy_ledger WHERE namespace = $1", name_));
    }

    /// The namespace.
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    /// Un-quarantines every quarantined key; returns how many.
    std::size_t requeue_all()
    {
        db_->ensure_schema();
        return static_cast<std::size_t>(db_->execute(
            "UPDATE sturdy_failure SET runs = 0, quarantined = false WHERE namespace = $1 AND quarantined", name_));
    }

protected:
    ledger_members(Database& db, std::string name) : db_(&db), name_(std::move(name)) {}
    static std::int64_t now() noexcept { return unix_seconds(); }

    Database* db_;
    std::string name_;
};

/// Retention's batches (`ledger::forget_marked_before`): runs `batch()`, which forgets one batch
/// and returns {how many it forgot, whether more may be left}, until none is left. Outside a
/// transaction each batch is a transaction of its own (rolled back if it fails); inside one,
/// every batch runs in it. Returns how many were forgotten.
template <class Database, class Batch> std::size_t in_batches(Database& db, Batch&& batch)
{
    std::size_t forgotten = 0;
    const bool owns = !db.in_transaction();
    for (bool more = true; more;) {
        if (owns) {
            db.begin();
        }
        try {
            const auto [n, left] = batch();
            if (owns) {
                db.commit();
            }
            forgotten += static_cast<std::size_t>(n);
            more = left;
        } catch (...) {
            if (owns && db.in_transaction()) {
                db.rollback();
            }
            throw;
        }
    }
    return forgotten;
}

/// Throws `usage_error` for a retention batch of 0 (`what`: "sqlite::ledger").
STURDY_DECL void require_batch(std::string_view what, std::size_t batch);

/// What a lazy row range of an SQL store (`row_range<Row>`, deriving from it) keeps for its
/// iterator: the row under it, none at the end.
template <class Row> class current_row {
public:
    [[nodiscard]] std::default_sentinel_t end() const noexcept { return {}; }

protected:
    Row& current() { return *current_; }
    [[nodiscard]] bool at_end() const { return !current_; }

    std::optional<Row> current_;
};

/// The iterator of a lazy, single-pass range of `Row`s: `Range` gives `current()` (the row
/// under it), `advance()` and `at_end()`.
template <class Range, class Row> class row_iterator {
public:
    using value_type = Row;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    row_iterator() = default;
    explicit row_iterator(Range* r) : range_(r) {}
    Row& operator*() const { return range_->current(); }
    Row* operator->() const { return &range_->current(); }
    row_iterator& operator++()
    {
        range_->advance();
        return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const row_iterator& it, std::default_sentinel_t) { return it.at_end(); }

private:
    [[nodiscard]] bool at_end() const { return range_->at_end(); }
    Range* range_ = nullptr;
};

} // namespace sturdy::store_detail

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/store/detail/impl/sql_kit.ipp>
#endif
