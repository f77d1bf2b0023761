#pragma once
/// sturdy/store/detail/ledger_kit.hpp — what the SQL stores' ledgers kept by the effect's own
/// table (sturdy/store/effect_ledger.hpp) share (internal): the C++ logic of the unique-key and
/// marker forms, written once over the store's class, which supplies only its SQL; and the
/// checks of the user's table at the ledger's creation, over what each store reads of its
/// catalog.
///
/// A store's ledger derives from `unique_key_ledger_base<Self, Failures>` (or
/// `marker_ledger_base`), with `Self` the ledger itself (no virtual call: the base calls the
/// store's statements through `Self`), and defines:
///   - unique key: `void lookup(std::span<const key> keys, std::vector<bool>& found) const`,
///     found[i] when keys[i] has its row;
///   - marker: `void lookup(std::span<const key> keys, std::vector<bool>& found, bool done) const`,
///     found[i] when keys[i]'s row exists (`done` false) or has its marker (`done` true), and
///     `claim_all`, which writes the markers (its SQL strategy is the store's) and calls
///     `claim_first_occurrences`, `claim_missing` or `no_row` for the rules shared here.

#include <sturdy/config.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>
#include <sturdy/store/effect_ledger.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sturdy::store_detail {

// --- the user's table ------------------------------------------------------------------------

/// What a ledger kept by a user's table needs to know of it, read from the store's catalog at
/// the ledger's creation.
struct user_table {
    qualified_name name;
    std::vector<std::string> columns; ///< as the store compares names (SQLite: lower case)
    std::vector<std::string> types;   ///< each column's type, where the store reads it (PostgreSQL)
    struct unique_index {
        std::string name;                 ///< as a violation names it ("" for SQLite's rowid)
        std::vector<std::string> columns; ///< its key columns, in its order, as `columns` spells them
    };
    /// Each unique index (a primary key included) without predicate or expression.
    std::vector<unique_index> unique_indexes;
};

/// How a store names things in the checks' errors.
struct catalog_rules {
    std::string_view store;     ///< "sqlite", "postgres"
    std::string location = {};  ///< the database, where messages name it (SQLite: its path)
    std::string_view note = {}; ///< appended to the list of columns ("; names are case-sensitive")
    bool fold_case = false;     ///< names compare case-insensitively (SQLite): `columns` are lower case
};

/// `name` as `rules` compares it: lower case when names fold case.
STURDY_DECL std::string compared_name(std::string_view name, const catalog_rules& rules);

/// The type of `t`'s column `column` (as `rules` compares names), or nullptr.
STURDY_DECL const std::string* column_type(const user_table& t, std::string_view column, const catalog_rules& rules);

/// Throws `schema_mismatch` naming the first of `columns` the table does not have.
STURDY_DECL void require_columns(const user_table& t, const std::vector<std::string>& columns,
                                 const catalog_rules& rules);

/// The unique index of `t` on exactly `columns` (in any order); throws `schema_mismatch` with the
/// CREATE UNIQUE INDEX to add when there is none.
STURDY_DECL const user_table::unique_index&
require_unique_index(const user_table& t, const std::vector<std::string>& columns, const catalog_rules& rules);

/// Throws `usage_error` when a unique-key ledger's spec names no column (`store`: "sqlite").
STURDY_DECL void require_key_columns(std::string_view store, const unique_key& spec);

/// Checks a marker ledger's table: it has the id and marker columns, and the id is unique.
STURDY_DECL void require_marker_columns(const user_table& t, const marker& spec, const catalog_rules& rules);

/// The failure records' namespace: the spec's name, or the table's.
inline const std::string& failures_name(const user_table& t, const std::string& name)
{
    return name.empty() ? t.name.table : name;
}

// --- the rules both forms follow -------------------------------------------------------------

/// The unique-key form: `Self` supplies `lookup`.
template <class Self, class Failures> class unique_key_ledger_base : public failure_records<Failures> {
public:
    /// Whether the table has `k`'s row.
    [[nodiscard]] bool contains(const key& k) const
    {
        self().lookup(std::span<const key>(&k, 1), found_);
        return found_.front();
    }
    /// Checks that the effect wrote `k`'s row (nothing to write: the row is the mark); throws a
    /// permanent error naming the key when it did not.
    void mark(const key& k)
    {
        if (!contains(k)) {
            throw permanent_error(unconfirmed(k));
        }
    }
    /// True when the table has no row for `k` yet (nothing is written).
    bool claim(const key& k) { return !contains(k); }
    /// Looks `keys` up at once (see the store's class for how many statements): `claimed[i]` when
    /// `keys[i]` has no row and is its first occurrence in `keys`.
    void claim_all(std::span<const key> keys, std::vector<bool>& claimed)
    {
        self().lookup(keys, found_);
        claim_first_occurrences(keys, found_, claimed);
    }
    /// The index of the first of `keys` without its row, or keys.size().
    [[nodiscard]] std::size_t confirm_all(std::span<const key> keys)
    {
        self().lookup(keys, found_);
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (!found_[i]) {
                return i;
            }
        }
        return keys.size();
    }
    [[nodiscard]] std::string unconfirmed(const key& k) const { return unwritten_row(shown_, columns_, k); }

protected:
    explicit unique_key_ledger_base(Failures failures) : failure_records<Failures>(std::move(failures)) {}
    [[nodiscard]] const Self& self() const noexcept { return static_cast<const Self&>(*this); }

    /// What the ledger names, from the checked table and the spec.
    void describe(const user_table& t, const unique_key& spec)
    {
        table_ = quote_qualified(t.name);
        shown_ = spec.table;
        what_ = "the unique key (";
        what_ += joined(spec.columns);
        what_ += ") of ";
        what_ += spec.table;
        columns_ = spec.columns;
        for (const auto& c : spec.columns) {
            quoted_.push_back(quote_identifier(c));
        }
    }

    std::string table_;                ///< quoted
    std::string shown_;                ///< the table as the user named it
    std::string what_;                 ///< the key's columns, as an error names them
    std::vector<std::string> columns_; ///< as the user named them, in the key's order
    std::vector<std::string> quoted_;  ///< the columns quoted
    mutable std::vector<bool> found_;
};

/// The marker form: `Self` supplies `lookup` and `claim_all`.
template <class Self, class Failures> class marker_ledger_base : public failure_records<Failures> {
public:
    /// Whether `k`'s row has its marker.
    [[nodiscard]] bool contains(const key& k) const
    {
        self().lookup(std::span<const key>(&k, 1), found_, true);
        return found_.front();
    }
    /// Writes `k`'s marker; throws a permanent error naming it when the table has no such row.
    void mark(const key& k)
    {
        claim(k);
        if (!missing_.empty()) {
            throw permanent_error(unconfirmed(k));
        }
    }
    /// Writes `k`'s marker unless it is there: true when this call wrote it (or found no row:
    /// then `confirm_all` reports it).
    bool claim(const key& k)
    {
        static_cast<Self&>(*this).claim_all(std::span<const key>(&k, 1), first_);
        return first_.front();
    }
    /// The index of the first of `keys` the last claim found no row for, or keys.size(): no
    /// statement.
    [[nodiscard]] std::size_t confirm_all(std::span<const key> keys)
    {
        if (missing_.empty()) {
            return keys.size();
        }
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (std::find(missing_.begin(), missing_.end(), keys[i]) != missing_.end()) {
                return i;
            }
        }
        return keys.size();
    }
    [[nodiscard]] std::string unconfirmed(const key& k) const { return missing_marked_row(shown_, id_column_, k); }
    /// Always false: claiming a row's marker is the step another writer waits on.
    [[nodiscard]] bool done_elsewhere(const std::error_code&, std::string_view) const { return false; }

protected:
    explicit marker_ledger_base(Failures failures) : failure_records<Failures>(std::move(failures)) {}
    [[nodiscard]] const Self& self() const noexcept { return static_cast<const Self&>(*this); }
    /// After a lookup of which rows exist (`exists`): the keys with no row, each first
    /// occurrence, are claimed (their items fail, named) and kept for `confirm_all`.
    void claim_missing(std::span<const key> keys, const std::vector<bool>& exists, std::vector<bool>& claimed)
    {
        claim_first_occurrences(keys, exists, first_);
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (first_[i]) {
                claimed[i] = true;
                missing_.push_back(keys[i]);
            }
        }
    }
    /// After the markers were written: the keys of `to_mark` whose row does not exist.
    void no_row(std::span<const key> to_mark)
    {
        self().lookup(to_mark, found_, false);
        for (std::size_t i = 0; i < to_mark.size(); ++i) {
            if (!found_[i]) {
                missing_.push_back(to_mark[i]);
            }
        }
    }

    /// What the ledger names, from the checked table and the spec.
    void describe(const user_table& t, const marker& spec)
    {
        table_ = quote_qualified(t.name);
        shown_ = spec.table;
        what_ = "a versioned marker ledger's key (id, version) on ";
        what_ += spec.table;
        id_column_ = spec.id_column;
        id_ = quote_identifier(spec.id_column);
        marker_ = quote_identifier(spec.marker_column);
        versioned_ = spec.versioned;
    }

    std::string table_;     ///< quoted
    std::string shown_;     ///< the table as the user named it
    std::string what_;      ///< what a key with no version is, as an error names it
    std::string id_column_; ///< as named
    std::string id_;        ///< quoted
    std::string marker_;    ///< quoted
    bool versioned_ = false;
    std::vector<key> missing_; ///< the last claim's keys with no row
    mutable std::vector<bool> found_;
    std::vector<bool> first_;
};

} // namespace sturdy::store_detail

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/store/detail/impl/ledger_kit.ipp>
#endif
