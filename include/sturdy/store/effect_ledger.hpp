#pragma once
/// sturdy/store/effect_ledger.hpp — a ledger kept by the effect's own table, with no ledger row
/// per item: what to name, for the SQLite and PostgreSQL stores' `db.ledger(...)`.
///
///     // Insert effects: an invoice per subscription and period. invoice has
///     // UNIQUE(subscription_id, period); the key function returns those columns' values.
///     auto ledger = db.ledger(sturdy::unique_key{"invoice", {"subscription_id", "period"}});
///     auto job = due | sturdy::idempotent_by(ledger, [](const due& d) { return std::tuple(d.subscription_id,
///     d.period); })
///                    | sturdy::chunked(db, 500) | sturdy::guarded(insert_invoice);
///
///     // Update effects: a contact pushed to a remote tool. contact has a column synced_version;
///     // the key is (id, version): the row is done once synced_version holds that version.
///     auto ledger = db.ledger(sturdy::marker{"contact", "id", "synced_version", true});
///
/// **Unique-key form.** A key is done when the effect's table has a row with the key's values in
/// the named columns. At the ledger's creation the store checks that the table and the columns
/// exist and that a unique index (or primary key) covers exactly those columns, and throws an
/// error naming the table, the columns and the `CREATE UNIQUE INDEX` to add otherwise. In a
/// chunk, the chunk's keys are looked up in one statement, the effects of those not found run,
/// and one more statement checks that each of them wrote its row: an effect that returned
/// without writing it fails with an error naming the key (so it is recorded, retried by later
/// runs and quarantined, never redone forever in silence). When an effect fails with a violation
/// of that very unique index (another worker, or an overlapping run, wrote the row first), its
/// writes are rolled back and the item is `skipped`, not failed; a violation of any other
/// constraint stays a failure.
///
/// **Marker form.** The item's own table carries a marker column: the key function returns the
/// row's id, or (`versioned = true`) a pair (id, version). With an id alone, the row is done
/// once its marker is set (sturdy writes the Unix time of the mark); with (id, version), once its
/// marker equals the version (sturdy writes it), so a new version of the row runs again (a
/// changed `write_date`).
/// In a chunk, one statement reads which rows are done and one writes the markers of the others,
/// in the chunk's transaction before their effects run: a failed effect's rollback takes its
/// marker back, as with `sturdy_ledger`. An id with no row in the table fails with an error
/// naming it.
///
/// **Keys as column values.** A key of one column is its value; a key of several columns is the
/// key function's tuple, joined with '/' (`sturdy::key`): the store splits it at its first
/// `columns.size() - 1` slashes, so only the last column's values may contain '/'. Values are
/// bound as parameters (the column's type converts them); table and column names are quoted as
/// identifiers, never spliced in as SQL, and may be schema-qualified (`"billing.invoice"`).
///
/// **Failure records** (retries across runs, quarantine, `requeue`) stay in `sturdy_failure`,
/// under the namespace `name` (the table's name by default): written only when an item fails.
///
/// When to pick which ledger: docs/ledgers.md.

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>
#include <sturdy/key.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sturdy {

/// The unique-key form: `table`'s unique `columns` hold each done item's key.
struct unique_key {
    std::string table;                ///< may be schema-qualified: "billing.invoice"
    std::vector<std::string> columns; ///< exactly the columns of one unique index, in any order
    std::string name = {};            ///< the failure records' namespace; empty: the table's name
};

/// The marker form: the row of `table` whose `id_column` is the key's id is done when its
/// `marker_column` is set, or (`versioned`: keys are (id, version)) when it equals the version.
struct marker {
    std::string table;         ///< may be schema-qualified
    std::string id_column;     ///< a unique column (the primary key, usually)
    std::string marker_column; ///< nullable; sturdy writes it
    bool versioned = false;    ///< keys are (id, version), split at their first '/'
    std::string name = {};     ///< the failure records' namespace; empty: the table's name
};

namespace store_detail {

/// What a ledger kept by the effect's table shares with `sturdy::failure_ledger`: its failure
/// records, kept by the store's own ledger (`sturdy_failure`) under the namespace `name()`.
template <class Failures> class failure_records {
public:
    /// The failure records' namespace.
    [[nodiscard]] const std::string& name() const noexcept { return failures_.name(); }
    /// Every failure record, quarantined or not, ordered by key.
    [[nodiscard]] std::vector<failure_info> failures() const { return failures_.failures(); }
    /// One more failed run for `k`; quarantined once runs >= quarantine_after.
    failure_info record_failure(const key& k, std::string_view reason, int quarantine_after)
    {
        return failures_.record_failure(k, reason, quarantine_after);
    }
    /// Forgets `k`'s failures (after a success).
    void clear_failure(const key& k) { failures_.clear_failure(k); }
    /// Gives `k` a fresh start (runs 0, not quarantined); false if it has no failure record.
    bool requeue(const key& k) { return failures_.requeue(k); }
    /// Un-quarantines every quarantined key; returns how many.
    std::size_t requeue_all() { return failures_.requeue_all(); }

protected:
    explicit failure_records(Failures failures) : failures_(std::move(failures)) {}
    Failures failures_;
};

/// `k` as `n` column values: the whole key for one column; otherwise split at its first n - 1
/// slashes. Throws `usage_error` naming `what` (the table and its columns) when it has fewer
/// parts.
STURDY_DECL std::vector<std::string> key_values(const key& k, std::size_t n, std::string_view what);

/// `claimed[i]` for each `keys[i]` not `found[i]` that is its first occurrence among those: the
/// rule of `sturdy::batch_claiming_ledger::claim_all` for a ledger whose claim is a lookup. No
/// allocation but one vector when the keys come in increasing order (the usual input).
STURDY_DECL void claim_first_occurrences(std::span<const key> keys, const std::vector<bool>& found,
                                         std::vector<bool>& claimed);

/// "a, b" for a list of names.
STURDY_DECL std::string joined(const std::vector<std::string>& names, std::string_view separator = ", ");

/// The schema and the table of a possibly qualified name, split at the first '.'
/// ("billing.invoice" -> {"billing", "invoice"}, "invoice" -> {"", "invoice"}).
struct qualified_name {
    std::string schema; ///< empty: the connection's default
    std::string table;
};
STURDY_DECL qualified_name split_qualified(std::string_view name);

/// `name` quoted as an SQL identifier: "na""me" (the same rule on SQLite and PostgreSQL).
STURDY_DECL std::string quote_identifier(std::string_view name);

/// A qualified name quoted part by part: "billing"."invoice".
STURDY_DECL std::string quote_qualified(const qualified_name& name);

/// The error text for a unique-key ledger whose table has no unique index on its columns.
STURDY_DECL std::string missing_unique_index(std::string_view store, const qualified_name& table,
                                             const std::vector<std::string>& columns);

/// The reason an item fails when its effect returned without writing its row.
STURDY_DECL std::string unwritten_row(std::string_view table, const std::vector<std::string>& columns, const key& k);

/// The reason an item fails when the marker form's table has no row for its id.
STURDY_DECL std::string missing_marked_row(std::string_view table, std::string_view id_column, const key& k);

} // namespace store_detail
} // namespace sturdy

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/store/impl/effect_ledger.ipp>
#endif
