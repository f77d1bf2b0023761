#pragma once
/// sturdy/store/memory.hpp — an in-process store with real transaction semantics: tables of
/// key -> text, an undo log, nested savepoints, a ledger and failure records. Unit tests run on
/// it and benchmarks use it to measure the library's own overhead.
///
///     sturdy::memory::database db;
///     auto& invoices = db.table("invoice");
///     auto ledger = db.ledger("invoice");
///     db.begin(); invoices.put(1, "x"); db.rollback();   // invoices is empty again

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sturdy::memory {

class database;

/// One table: key -> text. Writes inside a transaction are undone by rollback.
class table {
public:
    using rows_type = std::unordered_map<key, std::string>;

    /// Insert or replace.
    void put(const key& k, std::string value);
    /// Insert; throws a permanent error if the key exists (a unique constraint).
    void insert(const key& k, std::string value);
    /// Insert unless the key exists (SQL's ON CONFLICT DO NOTHING); true when it inserted.
    bool try_insert(const key& k, std::string value);
    bool erase(const key& k);
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
    table(database& db, std::string name) : db_(&db), name_(std::move(name)) {}
    void restore(const key& k, std::optional<std::string> old);

    database* db_;
    std::string name_;
    rows_type rows_;
};

/// A ledger in a memory database: a table of done keys, plus failure records per key
/// (table `sturdy_failure:<name>`), all undone by rollback like any other write.
class ledger {
public:
    [[nodiscard]] bool contains(const key& k) const { return done_->contains(k); }
    void mark(const key& k) { done_->insert(k, {}); }
    /// Marks `k` done unless it already is; true when this call marked it (see sturdy::claiming_ledger).
    bool claim(const key& k) { return done_->try_insert(k, {}); }
    [[nodiscard]] std::size_t size() const { return done_->size(); }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    [[nodiscard]] std::vector<failure_info> failures() const
    {
        std::vector<failure_info> out;
        for (const auto& [k, text] : failed_->rows()) {
            out.push_back(decode(k, text));
        }
        return out;
    }
    failure_info record_failure(const key& k, std::string_view reason, int quarantine_after)
    {
        const auto now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        failure_info f = failed_->contains(k) ? decode(k, *failed_->get(k)) : failure_info{k, 0, {}, false, now, now};
        ++f.runs;
        f.last_reason = std::string(reason);
        f.last_failed = now;
        f.quarantined = f.runs >= quarantine_after;
        failed_->put(k, encode(f));
        return f;
    }
    void clear_failure(const key& k) { failed_->erase(k); }
    bool requeue(const key& k)
    {
        auto text = failed_->get(k);
        if (!text) {
            return false;
        }
        auto f = decode(k, *text);
        f.runs = 0;
        f.quarantined = false;
        failed_->put(k, encode(f));
        return true;
    }
    std::size_t requeue_all()
    {
        std::size_t n = 0;
        for (const auto& f : failures()) {
            n += f.quarantined && requeue(f.item_key) ? 1 : 0;
        }
        return n;
    }

private:
    friend class database;
    ledger(std::string name, table& done, table& failed) : name_(std::move(name)), done_(&done), failed_(&failed) {}

    static std::string encode(const failure_info& f)
    {
        return std::to_string(f.runs) + '\t' + (f.quarantined ? '1' : '0') + '\t' + std::to_string(f.first_failed) +
               '\t' + std::to_string(f.last_failed) + '\t' + f.last_reason;
    }
    static failure_info decode(const key& k, const std::string& text)
    {
        failure_info f;
        f.item_key = k;
        std::size_t pos = 0;
        auto field = [&] {
            const auto tab = text.find('\t', pos);
            auto part = text.substr(pos, tab - pos);
            pos = tab + 1;
            return part;
        };
        f.runs = std::stoi(field());
        f.quarantined = field() == "1";
        f.first_failed = std::stoll(field());
        f.last_failed = std::stoll(field());
        f.last_reason = text.substr(pos);
        return f;
    }

    std::string name_;
    table* done_;
    table* failed_;
};

/// The database: named tables, one transaction at a time, nested savepoints.
class database {
public:
    database() = default;
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    /// The table called `name`, created empty on first use. The reference stays valid.
    memory::table& table(std::string_view name)
    {
        auto it = tables_.find(name);
        if (it == tables_.end()) {
            it = tables_
                     .emplace(std::string(name),
                              std::unique_ptr<memory::table>(new memory::table(*this, std::string(name))))
                     .first;
        }
        return *it->second;
    }

    /// The ledger for one job (namespace), stored in table `sturdy_ledger:<name>`.
    memory::ledger ledger(std::string_view name)
    {
        return {std::string(name), table(std::string("sturdy_ledger:") + std::string(name)),
                table(std::string("sturdy_failure:") + std::string(name))};
    }

    /// A named checkpoint (a watermark), or nullopt if never set.
    std::optional<std::string> checkpoint(const std::string& name) { return table("sturdy_checkpoint").get(name); }
    /// Set a checkpoint, in the current transaction.
    void set_checkpoint(const std::string& name, const std::string& value)
    {
        table("sturdy_checkpoint").put(name, value);
    }

    /// Every table's rows, for comparing a whole store before and after.
    [[nodiscard]] std::map<std::string, memory::table::rows_type, std::less<>> snapshot() const
    {
        std::map<std::string, memory::table::rows_type, std::less<>> out;
        for (const auto& [name, t] : tables_) {
            if (!t->rows().empty()) {
                out.emplace(name, t->rows());
            }
        }
        return out;
    }

    // --- transaction ---------------------------------------------------------------------
    void begin()
    {
        if (in_transaction_) {
            throw usage_error("memory::database::begin: a transaction is already open; commit or roll it back first");
        }
        in_transaction_ = true;
    }
    void commit()
    {
        require_transaction("commit");
        if (fail_next_commits_ > 0) {
            --fail_next_commits_;
            throw transient_error("memory::database: commit failed (injected)");
        }
        undo_.clear();
        open_savepoints_ = 0;
        in_transaction_ = false;
        ++commits_;
    }
    void rollback()
    {
        require_transaction("rollback");
        undo_to(0);
        open_savepoints_ = 0;
        in_transaction_ = false;
    }
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
        void release()
        {
            auto* db = std::exchange(db_, nullptr);
            --db->open_savepoints_;
            if (owns_transaction_) {
                db->commit();
            }
        }
        void rollback()
        {
            auto* db = std::exchange(db_, nullptr);
            db->undo_to(mark_);
            --db->open_savepoints_;
            if (owns_transaction_) {
                db->rollback();
            }
        }

    private:
        friend class database;
        savepoint_guard(database& db, std::size_t mark, bool owns) : db_(&db), mark_(mark), owns_transaction_(owns) {}
        database* db_;
        std::size_t mark_;
        bool owns_transaction_;
    };

    savepoint_guard savepoint()
    {
        const bool owns = !in_transaction_;
        if (owns) {
            begin();
        }
        ++open_savepoints_;
        ++savepoints_taken_;
        return {*this, undo_.size(), owns};
    }

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

    void require_transaction(const char* what) const
    {
        if (!in_transaction_) {
            throw usage_error(std::string("memory::database::") + what +
                              ": no transaction is open; call begin() first");
        }
    }
    void record(memory::table& t, const key& k, std::optional<std::string> old)
    {
        if (in_transaction_) {
            undo_.push_back({&t, k, std::move(old)});
        }
    }
    void undo_to(std::size_t mark)
    {
        while (undo_.size() > mark) {
            auto& u = undo_.back();
            u.where->restore(u.k, std::move(u.old));
            undo_.pop_back();
        }
    }

    std::map<std::string, std::unique_ptr<memory::table>, std::less<>> tables_;
    std::vector<undo_entry> undo_;
    bool in_transaction_ = false;
    std::size_t open_savepoints_ = 0;
    std::size_t savepoints_taken_ = 0;
    std::size_t commits_ = 0;
    std::size_t fail_next_commits_ = 0;
};

inline void table::put(const key& k, std::string value)
{
    auto it = rows_.find(k);
    if (it == rows_.end()) {
        db_->record(*this, k, std::nullopt);
        rows_.emplace(k, std::move(value));
    } else {
        db_->record(*this, k, std::move(it->second));
        it->second = std::move(value);
    }
}

inline void table::insert(const key& k, std::string value)
{
    if (!try_insert(k, std::move(value))) {
        throw permanent_error("memory: unique constraint failed: " + name_ + " already holds key " + k.str());
    }
}

inline bool table::try_insert(const key& k, std::string value)
{
    if (rows_.contains(k)) {
        return false;
    }
    db_->record(*this, k, std::nullopt);
    rows_.emplace(k, std::move(value));
    return true;
}

inline bool table::erase(const key& k)
{
    auto it = rows_.find(k);
    if (it == rows_.end()) {
        return false;
    }
    db_->record(*this, k, std::move(it->second));
    rows_.erase(it);
    return true;
}

inline void table::restore(const key& k, std::optional<std::string> old)
{
    if (old) {
        rows_.insert_or_assign(k, std::move(*old));
    } else {
        rows_.erase(k);
    }
}

static_assert(sturdy::transaction<database>);
static_assert(sturdy::failure_ledger<ledger>);
static_assert(sturdy::claiming_ledger<ledger>);

} // namespace sturdy::memory
