#pragma once
/// sturdy/testing/conformance.hpp — `check_store(make)`: the conformance suite sturdy runs on its
/// own stores (memory, SQLite, PostgreSQL), for a store of yours. It checks what the loop relies
/// on: commit keeps and rollback undoes, savepoints nest, marks and failure records and
/// checkpoints are written in the current transaction, then runs a small pipeline over the store.
///
///     struct my_fixture {                          // a fresh, empty store per case
///         my::database db;
///         my::database& store() { return db; }     // models sturdy::transaction
///         void write(std::int64_t id);             // one row, in the store's current transaction
///         bool has(std::int64_t id);               // that row is visible (in the transaction too)
///         std::int64_t count();                    // rows written by `write`, visible now
///     };
///     const auto r = sturdy::testing::check_store([] { return my_fixture{}; });
///     if (!r.ok()) { std::puts(r.describe().c_str()); }   // or CHECK(r.ok()) with INFO(r.describe())
///
/// Optional members of the fixture:
///  - `ledger(name)`: the ledger named `name` over the fixture's store. Without it, check_store
///    uses `store().ledger(name)` when the store has one; with neither, the ledger cases are
///    skipped (and listed as skipped in the report).
///  - `write_failing(id)`: write id's row, then fail the way your store fails on bad data (a
///    constraint violation, say), with an error sturdy classifies as permanent. Without it,
///    check_store calls `write(id)` and throws `sturdy::permanent_error`.
///
/// Outside a transaction, every write (yours, a ledger's mark or failure record, a checkpoint)
/// takes effect at once, as with SQL's autocommit.
///
/// The ledger cases run for what the ledger models: `sturdy::ledger` always, the claim cases
/// only for a `claiming_ledger`, `claim_all` only for a `batch_claiming_ledger`, the failure
/// records only for a `failure_ledger`; the checkpoint case only for a `checkpoint_store`.
///
/// It does not depend on a test framework and does not throw for a failed check: each case
/// runs on a fresh fixture, a failed check is recorded (what was checked, what was expected,
/// what happened) and the case goes on, an exception leaving a case is recorded and the next
/// case runs. `report.ok()` says whether every check held.

#include <sturdy/clock.hpp>
#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>
#include <sturdy/policy/backoff.hpp>
#include <sturdy/policy/commit.hpp>
#include <sturdy/view/chunked.hpp>
#include <sturdy/view/drain.hpp>
#include <sturdy/view/guarded.hpp>
#include <sturdy/view/idempotent_by.hpp>
#include <sturdy/view/retry_bounded.hpp>
#include <sturdy/view/watermark.hpp>
#include <sturdy/view/with_clock.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace sturdy::testing {

/// What `check_store` needs from you, one per case: a fresh, empty store and a way to write and
/// read rows of a table of yours in it (the effects the checks commit and roll back).
///  - `store()`: a reference to the store, which models `sturdy::transaction`;
///  - `write(id)`: writes one row for `id` in the store's current transaction, or at once when
///    none is open, as SQL's autocommit (ids are distinct within a case);
///  - `has(id)`: whether id's row is visible now, inside an open transaction too;
///  - `count()`: how many rows `write` wrote are visible now.
template <class F>
concept store_fixture = requires(F& f, std::int64_t id)
{
    requires std::is_lvalue_reference_v<decltype(f.store())>;
    requires transaction<std::remove_cvref_t<decltype(f.store())>>;
    f.write(id);
    {
        f.has(id)
        } -> std::convertible_to<bool>;
    {
        f.count()
        } -> std::convertible_to<std::int64_t>;
};

/// What `check_store` can be asked to leave out.
struct store_check_options {
    /// `begin()` inside a transaction, and `commit()` or `rollback()` outside one, throw
    /// `sturdy::usage_error` (sturdy's stores do). Set false if your store does not check.
    bool usage_errors = true;
};

/// One check that did not hold.
struct store_check_failure {
    std::string check_case; ///< the case, e.g. "transaction: commit keeps, rollback undoes"
    std::string what;       ///< what was checked, e.g. "has(2) after rollback"
    std::string expected;
    std::string actual; ///< what happened (a value, or "threw: ...")
};

/// What `check_store` found.
struct store_check_report {
    std::vector<std::string> cases_run;
    std::vector<std::string> cases_skipped; ///< each with why: what the store or ledger does not model
    std::size_t checks = 0;                 ///< checks made, held or not
    std::vector<store_check_failure> failures;

    [[nodiscard]] bool ok() const noexcept { return failures.empty(); }

    /// The totals, the skipped cases, and one line per failed check.
    [[nodiscard]] std::string describe() const
    {
        std::string s =
            fmt::format("check_store: {} cases, {} checks, {} failed", cases_run.size(), checks, failures.size());
        for (const auto& c : cases_skipped) {
            s += fmt::format("\n  skipped: {}", c);
        }
        for (const auto& f : failures) {
            s += fmt::format("\n  FAILED [{}] {}: expected {}, got {}", f.check_case, f.what, f.expected, f.actual);
        }
        return s;
    }
};

namespace detail {

/// Thrown by `store_checker::require` to end a case whose later checks would make no sense.
struct store_case_stopped {};

/// Keys a ledger holds, shown as "{1, 2, \"a\"}".
struct key_list {
    std::string text;
    friend bool operator==(const key_list&, const key_list&) = default;
};

template <class T> std::string show_value(const T& v)
{
    if constexpr (std::same_as<T, key_list>) {
        return v.text;
    } else if constexpr (std::same_as<T, bool>) {
        return v ? "true" : "false";
    } else if constexpr (std::integral<T>) {
        return std::to_string(v);
    } else if constexpr (std::same_as<T, key>) {
        return v.is_integer() ? v.str() : "\"" + v.str() + "\"";
    } else if constexpr (std::same_as<T, failure_kind>) {
        constexpr std::string_view names[] = {"transient", "permanent", "fatal"};
        return std::string(names[static_cast<std::size_t>(v)]);
    } else if constexpr (requires {
                             v.has_value();
                             *v;
                         }) {
        return v.has_value() ? show_value(*v) : std::string("nothing");
    } else {
        return "\"" + std::string(std::string_view(v)) + "\"";
    }
}

template <class A, class E> bool same_value(const A& a, const E& e)
{
    if constexpr (std::integral<A> && std::integral<E> && !std::same_as<A, bool> && !std::same_as<E, bool>) {
        return std::cmp_equal(a, e);
    } else {
        return a == e;
    }
}

/// Records the checks of one case in the report.
class store_checker {
public:
    store_checker(store_check_report& r, std::string case_name) : r_(&r), case_(std::move(case_name)) {}

    bool expect(bool held, std::string_view what, std::string expected, std::string actual)
    {
        ++r_->checks;
        if (!held) {
            r_->failures.push_back({case_, std::string(what), std::move(expected), std::move(actual)});
        }
        return held;
    }
    template <class A, class E> bool equal(std::string_view what, const A& actual, const E& expected)
    {
        return expect(same_value(actual, expected), what, show_value(expected), show_value(actual));
    }
    bool holds(std::string_view what, bool v) { return equal(what, v, true); }
    bool fails(std::string_view what, bool v) { return equal(what, v, false); }
    /// A check whose failure ends the case.
    void require(bool held)
    {
        if (!held) {
            throw store_case_stopped{};
        }
    }
    template <class Fn> bool throws_usage_error(std::string_view what, Fn&& fn)
    {
        try {
            std::forward<Fn>(fn)();
        } catch (const usage_error&) {
            return expect(true, what, "", "");
        } catch (...) {
            return expect(false, what, "sturdy::usage_error", "threw: " + describe(std::current_exception()));
        }
        return expect(false, what, "sturdy::usage_error", "no exception");
    }
    /// An exception left the case.
    void threw(std::string_view during)
    {
        expect(false, during, "no exception", "threw: " + describe(std::current_exception()));
    }

private:
    store_check_report* r_;
    std::string case_;
};

template <class F>
concept fixture_makes_ledger = requires(F& f)
{
    f.ledger(std::string("x"));
};
template <class F>
concept store_makes_ledger = requires(F& f)
{
    f.store().ledger(std::string("x"));
};

template <class F> auto make_ledger(F& f, std::string_view name)
{
    if constexpr (fixture_makes_ledger<F>) {
        return f.ledger(std::string(name));
    } else {
        return f.store().ledger(std::string(name));
    }
}

template <class F> void write_failing(F& f, std::int64_t id)
{
    if constexpr (requires { f.write_failing(id); }) {
        f.write_failing(id);
    } else {
        f.write(id);
        throw permanent_error(fmt::format("check_store: item {} fails after its write", id));
    }
}

/// The ledger holds these keys, and no other of the `candidates`.
template <class L> key_list marked_among(L& ledger, const std::vector<key>& candidates)
{
    std::string out;
    for (const auto& k : candidates) {
        if (ledger.contains(k)) {
            out += (out.empty() ? "" : ", ") + show_value(k);
        }
    }
    return {"{" + out + "}"};
}

/// Runs one case on a fresh fixture, recording an exception that leaves it.
template <class Make, class Body>
void run_store_case(store_check_report& r, std::string_view name, Make& make, Body&& body)
{
    r.cases_run.emplace_back(name);
    store_checker c(r, std::string(name));
    try {
        auto f = make();
        body(f, c);
    } catch (const store_case_stopped&) { // the failed check is recorded
    } catch (...) {
        c.threw("the case runs to its end");
    }
}

} // namespace detail

/// Runs the store conformance cases, each on a fresh fixture from `make()` (see
/// `store_fixture`), and returns what held and what did not. Never throws for a failed check.
template <class Make>
requires std::invocable<Make&> && store_fixture<std::invoke_result_t<Make&>>
    store_check_report check_store(Make make, store_check_options options = {})
{
    using F = std::invoke_result_t<Make&>;
    using Store = std::remove_cvref_t<decltype(std::declval<F&>().store())>;
    store_check_report r;
    using detail::store_checker;
    using namespace std::chrono_literals;

    detail::run_store_case(r, "transaction: commit keeps, rollback undoes", make, [](F& f, store_checker& c) {
        auto& db = f.store();
        db.begin();
        c.holds("in_transaction() after begin()", db.in_transaction());
        f.write(1);
        db.commit();
        c.fails("in_transaction() after commit()", db.in_transaction());
        db.begin();
        f.write(2);
        c.holds("has(2) inside the transaction that wrote it", f.has(2));
        db.rollback();
        c.fails("in_transaction() after rollback()", db.in_transaction());
        c.holds("has(1) after its commit", f.has(1));
        c.fails("has(2) after its rollback", f.has(2));
        c.equal("count() after one commit and one rollback", f.count(), 1);
    });

    detail::run_store_case(r, "savepoints: nested savepoints undo only their own writes", make,
                           [](F& f, store_checker& c) {
                               auto& db = f.store();
                               db.begin();
                               f.write(1);
                               {
                                   auto outer = db.savepoint();
                                   f.write(2);
                                   {
                                       auto inner = db.savepoint();
                                       f.write(3);
                                       inner.rollback();
                                   }
                                   c.fails("has(3) after its savepoint's rollback()", f.has(3));
                                   c.holds("has(2) after an inner savepoint's rollback()", f.has(2));
                                   {
                                       auto inner = db.savepoint();
                                       f.write(4);
                                       auto moved = std::move(inner); // only the new owner acts
                                   }                                  // destroyed unreleased: rolls back
                                   c.fails("has(4) after its savepoint was destroyed unreleased", f.has(4));
                                   {
                                       auto inner = db.savepoint();
                                       f.write(5);
                                       inner.release();
                                   }
                                   c.holds("has(5) after its savepoint's release()", f.has(5));
                                   outer.release();
                               }
                               c.holds("in_transaction() after releasing savepoints", db.in_transaction());
                               c.equal("count() before commit", f.count(), 3);
                               db.commit();
                               c.equal("count() after commit", f.count(), 3);
                               c.holds("has(1), has(2), has(5) after commit", f.has(1) && f.has(2) && f.has(5));
                           });

    detail::run_store_case(r,
                           "savepoints: the transaction's rollback undoes everything since begin and makes open "
                           "savepoints inert",
                           make, [](F& f, store_checker& c) {
                               auto& db = f.store();
                               db.begin();
                               f.write(1);
                               db.commit();
                               db.begin();
                               f.write(2);
                               auto sp = db.savepoint();
                               f.write(3);
                               db.rollback();
                               sp.rollback(); // inert: the transaction is gone
                               c.fails("in_transaction() after rollback(), then an open savepoint's rollback()",
                                       db.in_transaction());
                               c.equal("count()", f.count(), 1);
                               c.fails("has(2) or has(3)", f.has(2) || f.has(3));
                               db.begin(); // and the store works on
                               f.write(4);
                               db.commit();
                               c.holds("has(4) after a new transaction's commit", f.has(4));
                           });

    detail::run_store_case(r,
                           "savepoints: one taken outside a transaction starts one; its release commits, its "
                           "destruction rolls back",
                           make, [](F& f, store_checker& c) {
                               auto& db = f.store();
                               {
                                   auto sp = db.savepoint();
                                   c.holds("in_transaction() with a savepoint taken outside a transaction",
                                           db.in_transaction());
                                   f.write(8);
                                   sp.release();
                               }
                               c.fails("in_transaction() after that savepoint's release()", db.in_transaction());
                               {
                                   auto sp = db.savepoint();
                                   f.write(9);
                               }
                               c.fails("in_transaction() after that savepoint's destruction", db.in_transaction());
                               c.holds("has(8): released", f.has(8));
                               c.fails("has(9): destroyed unreleased", f.has(9));
                           });

    if (options.usage_errors) {
        detail::run_store_case(r,
                               "transaction: begin inside a transaction, commit or rollback outside one are usage "
                               "errors",
                               make, [](F& f, store_checker& c) {
                                   auto& db = f.store();
                                   db.begin();
                                   c.throws_usage_error("begin() inside a transaction", [&] { db.begin(); });
                                   c.holds("in_transaction() after the refused begin()", db.in_transaction());
                                   db.rollback();
                                   c.throws_usage_error("commit() outside a transaction", [&] { db.commit(); });
                                   c.throws_usage_error("rollback() outside a transaction", [&] { db.rollback(); });
                               });
    } else {
        r.cases_skipped.emplace_back("usage errors: store_check_options::usage_errors is false");
    }

    if constexpr (checkpoint_store<Store>) {
        detail::run_store_case(r, "checkpoints: written in the current transaction", make, [](F& f, store_checker& c) {
            auto& db = f.store();
            const std::string contacts = "contacts";
            const std::string orders = "orders";
            c.equal("checkpoint(\"contacts\") never set", db.checkpoint(contacts), std::optional<std::string>());
            db.begin();
            db.set_checkpoint(contacts, std::string("2024-05-01T00:00:00"));
            c.equal("checkpoint(\"contacts\") inside the transaction that set it", db.checkpoint(contacts),
                    std::optional<std::string>("2024-05-01T00:00:00"));
            db.rollback();
            c.equal("checkpoint(\"contacts\") after that transaction's rollback", db.checkpoint(contacts),
                    std::optional<std::string>());
            db.set_checkpoint(contacts, std::string("2024-05-02"));
            db.set_checkpoint(contacts, std::string("2024-05-03"));
            db.set_checkpoint(orders, std::string("17"));
            c.equal("checkpoint(\"contacts\") set twice outside a transaction", db.checkpoint(contacts),
                    std::optional<std::string>("2024-05-03"));
            c.equal("checkpoint(\"orders\")", db.checkpoint(orders), std::optional<std::string>("17"));
        });
    } else {
        r.cases_skipped.emplace_back("checkpoints: the store does not model sturdy::checkpoint_store");
    }

    if constexpr (!detail::fixture_makes_ledger<F> && !detail::store_makes_ledger<F>) {
        r.cases_skipped.emplace_back("ledger cases and pipeline cases: neither the fixture nor the store has "
                                     "ledger(name)");
    } else {
        using L = decltype(detail::make_ledger(std::declval<F&>(), "x"));
        static_assert(ledger<L>, "check_store: ledger(name) must return a sturdy::ledger");

        detail::run_store_case(r, "ledger: marks are written in the current transaction; integer and text keys differ",
                               make, [](F& f, store_checker& c) {
                                   auto& db = f.store();
                                   auto ledger = detail::make_ledger(f, "job");
                                   auto other = detail::make_ledger(f, "other");
                                   db.begin();
                                   f.write(1);
                                   ledger.mark(1);
                                   c.holds("contains(1) inside the transaction that marked it", ledger.contains(1));
                                   db.commit();
                                   db.begin();
                                   f.write(2);
                                   ledger.mark(2);
                                   db.rollback();
                                   c.holds("contains(1) after its commit", ledger.contains(1));
                                   c.fails("contains(2) after its rollback", ledger.contains(2));
                                   {
                                       db.begin();
                                       auto sp = db.savepoint();
                                       ledger.mark(3);
                                       sp.rollback();
                                       db.commit();
                                   }
                                   c.fails("contains(3) after its savepoint's rollback", ledger.contains(3));
                                   ledger.mark(5); // outside a transaction
                                   c.holds("contains(5) marked outside a transaction", ledger.contains(5));
                                   c.fails("contains(\"5\") when only the integer 5 is marked", ledger.contains("5"));
                                   ledger.mark("contact/7");
                                   c.holds("contains(\"contact/7\")", ledger.contains("contact/7"));
                                   c.fails("contains(7) when only a text key is marked", ledger.contains(7));
                                   c.equal("another ledger's marks (ledger \"other\", keys 1, 5, \"contact/7\")",
                                           detail::marked_among(other, {1, 5, "contact/7"}), detail::key_list{"{}"});
                               });

        if constexpr (claiming_ledger<L>) {
            detail::run_store_case(
                r, "claiming ledger: claim marks a key once; a rolled-back savepoint takes the claim back", make,
                [](F& f, store_checker& c) {
                    auto& db = f.store();
                    auto ledger = detail::make_ledger(f, "job");
                    db.begin();
                    c.holds("claim(9) of a new key", ledger.claim(9));
                    c.fails("claim(9) again", ledger.claim(9));
                    {
                        auto sp = db.savepoint();
                        c.holds("claim(\"9\"): a text key is another key", ledger.claim("9"));
                        sp.rollback();
                    }
                    c.fails("contains(\"9\") after its savepoint's rollback", ledger.contains("9"));
                    c.holds("claim(\"9\") after that rollback", ledger.claim("9"));
                    db.commit();
                    c.holds("contains(9) after commit", ledger.contains(9));
                    c.holds("contains(\"9\") after commit", ledger.contains("9"));
                    c.fails("claim(9) outside a transaction, after its commit", ledger.claim(9));
                    db.begin();
                    c.holds("claim(10)", ledger.claim(10));
                    db.rollback();
                    c.fails("contains(10) after its transaction's rollback", ledger.contains(10));
                });
        } else {
            r.cases_skipped.emplace_back("claims: the ledger does not model sturdy::claiming_ledger");
        }

        if constexpr (batch_claiming_ledger<L>) {
            detail::run_store_case(
                r, "batch claiming ledger: claim_all claims each new key once, in the current transaction", make,
                [](F& f, store_checker& c) {
                    auto& db = f.store();
                    auto ledger = detail::make_ledger(f, "job");
                    ledger.mark(2);
                    const std::vector<key> keys{1, 2, "2", 1, 3};
                    std::vector<bool> claimed;
                    db.begin();
                    ledger.claim_all(std::span<const key>(keys), claimed);
                    c.require(c.equal("claim_all({1, 2, \"2\", 1, 3}): claimed.size()", claimed.size(), keys.size()));
                    std::string got;
                    for (const bool b : claimed) {
                        got += b ? '1' : '0';
                    }
                    c.equal("claim_all({1, 2, \"2\", 1, 3}) with 2 marked: claimed (1: claimed)", got,
                            std::string("10101"));
                    db.rollback();
                    c.equal("marks after that transaction's rollback (keys 1, 2, \"2\", 3)",
                            detail::marked_among(ledger, {1, 2, "2", 3}), detail::key_list{"{2}"});
                    db.begin();
                    ledger.claim_all(std::span<const key>(keys), claimed);
                    db.commit();
                    c.equal("marks after claim_all's commit (keys 1, 2, \"2\", 3)",
                            detail::marked_among(ledger, {1, 2, "2", 3}), detail::key_list{"{1, 2, \"2\", 3}"});
                    db.begin();
                    ledger.claim_all(std::span<const key>(keys), claimed);
                    db.commit();
                    c.equal("claim_all of keys all marked: claimed", std::ranges::count(claimed, true), 0);
                });
        } else {
            r.cases_skipped.emplace_back("claim_all: the ledger does not model sturdy::batch_claiming_ledger");
        }

        if constexpr (failure_ledger<L>) {
            detail::run_store_case(
                r, "failure ledger: records count runs, quarantine, requeue and clear, in the current transaction",
                make, [](F& f, store_checker& c) {
                    auto& db = f.store();
                    auto ledger = detail::make_ledger(f, "sync");
                    auto other = detail::make_ledger(f, "other");
                    if constexpr (requires { ledger.name(); }) {
                        c.equal("name()", std::string_view(ledger.name()), std::string_view("sync"));
                    }
                    c.equal("record_failure(42, ..., 3).runs, the first time",
                            ledger.record_failure(42, "timeout", 3).runs, 1);
                    c.equal("record_failure(42, ..., 3).runs, the second time",
                            ledger.record_failure(42, "timeout again", 3).runs, 2);
                    const auto third = ledger.record_failure(42, "still down", 3);
                    c.equal("record_failure(42, ..., 3).runs, the third time", third.runs, 3);
                    c.holds("quarantined after 3 of 3 runs", third.quarantined);
                    c.equal("last_reason", std::string_view(third.last_reason), std::string_view("still down"));
                    c.equal("item_key", third.item_key, key(42));
                    c.holds("last_failed >= first_failed", third.last_failed >= third.first_failed);
                    c.fails("record_failure(\"contact/7\", ..., 3).quarantined after one run",
                            ledger.record_failure("contact/7", "bad email", 3).quarantined);
                    c.holds("record_failure(\"contact/8\", ..., 1).quarantined",
                            ledger.record_failure("contact/8", "bad phone", 1).quarantined);
                    ledger.record_failure(5, "five", 3);

                    const auto find = [&](const key& k) -> std::optional<failure_info> {
                        for (auto& fi : ledger.failures()) {
                            if (fi.item_key == k) {
                                return fi;
                            }
                        }
                        return std::nullopt;
                    };
                    c.equal("failures().size() with 4 keys recorded", ledger.failures().size(), 4);
                    c.holds("failures() holds 5, 42, \"contact/7\", \"contact/8\"",
                            find(5) && find(42) && find("contact/7") && find("contact/8"));
                    c.equal("failures() of another ledger", other.failures().size(), 0);

                    c.holds("requeue(42)", ledger.requeue(42));
                    c.fails("requeue(999), never recorded", ledger.requeue(999));
                    const auto requeued = find(42);
                    c.require(c.holds("42 still recorded after requeue", requeued.has_value()));
                    c.equal("runs of 42 after requeue", requeued->runs, 0);
                    c.fails("quarantined of 42 after requeue", requeued->quarantined);
                    c.equal("requeue_all() with \"contact/8\" quarantined", ledger.requeue_all(), 1);
                    ledger.clear_failure("contact/7");
                    ledger.clear_failure(5);
                    c.equal("failures().size() after clearing 2 of 4", ledger.failures().size(), 2);
                    c.fails("5 recorded after clear_failure(5)", find(5).has_value());

                    db.begin();
                    ledger.record_failure(5, "x", 3);
                    ledger.clear_failure(42);
                    c.equal("failures().size() inside the transaction", ledger.failures().size(), 2);
                    db.rollback();
                    c.equal("failures().size() after that transaction's rollback", ledger.failures().size(), 2);
                    c.holds("42 recorded after the rollback of its clear_failure", find(42).has_value());
                    c.fails("5 recorded after the rollback of its record_failure", find(5).has_value());
                });
        } else {
            r.cases_skipped.emplace_back("failure records: the ledger does not model sturdy::failure_ledger");
        }

        detail::run_store_case(
            r, "pipeline: an item failing after its write is rolled back alone; a second run skips what is done", make,
            [](F& f, store_checker& c) {
                auto& db = f.store();
                auto ledger = detail::make_ledger(f, "invoice");
                manual_clock clock;
                auto run = [&] {
                    return std::views::iota(std::int64_t{1}, std::int64_t{26}) |
                           idempotent_by(ledger, [](std::int64_t id) { return std::tuple(id, "2024-05"); }) |
                           chunked(db, 10) | guarded([&](std::int64_t id) {
                               if (id == 13) {
                                   detail::write_failing(f, id);
                               } else {
                                   f.write(id);
                               }
                           }) |
                           retry_bounded(3, backoff::exponential(10ms)) | with_clock(clock) | drain;
                };
                std::vector<key> keys;
                for (int id = 1; id <= 25; ++id) {
                    keys.emplace_back(std::to_string(id) + "/2024-05");
                }
                const auto first = run();
                c.equal("first run: seen", first.seen, 25);
                c.equal("first run: done", first.done, 24);
                c.equal("first run: failed", first.failed, 1);
                c.equal("first run: chunks", first.chunks, 3);
                c.equal("first run: stopped_early", std::string_view(first.stopped_early), std::string_view(""));
                if (c.equal("first run: failures.size()", first.failures.size(), 1)) {
                    c.equal("first run: the failure's key", first.failures[0].item_key, key("13/2024-05"));
                    c.equal("first run: the failure's kind", first.failures[0].kind, failure_kind::permanent);
                }
                c.equal("first run: retries (a permanent failure is not retried)", clock.sleeps.size(), 0);
                c.equal("count() after the first run", f.count(), 24);
                c.fails("has(13): the failed item's write is rolled back", f.has(13));
                c.holds("has(12) and has(14), its chunk's neighbours", f.has(12) && f.has(14));
                std::size_t marked = 0;
                for (const auto& k : keys) {
                    marked += ledger.contains(k) ? 1 : 0;
                }
                c.equal("keys the ledger holds after the first run", marked, 24);
                c.fails("contains(\"13/2024-05\")", ledger.contains("13/2024-05"));
                c.fails("in_transaction() after the run", db.in_transaction());
                if constexpr (failure_ledger<L>) {
                    const auto failures = ledger.failures();
                    if (c.equal("failures().size() after the first run", failures.size(), 1)) {
                        c.equal("the failure record's key", failures[0].item_key, key("13/2024-05"));
                        c.equal("the failure record's runs", failures[0].runs, 1);
                    }
                }

                const auto second = run();
                c.equal("second run: seen", second.seen, 25);
                c.equal("second run: skipped", second.skipped, 24);
                c.equal("second run: done", second.done, 0);
                c.equal("second run: failed", second.failed, 1);
                c.equal("count() after the second run", f.count(), 24);
                if constexpr (failure_ledger<L>) {
                    const auto failures = ledger.failures();
                    if (c.equal("failures().size() after the second run", failures.size(), 1)) {
                        c.equal("the failure record's runs after the second run", failures[0].runs, 2);
                    }
                }
            });

        detail::run_store_case(
            r, "pipeline: no_commit inside the caller's transaction, rolled back, leaves the store as before", make,
            [](F& f, store_checker& c) {
                auto& db = f.store();
                auto ledger = detail::make_ledger(f, "job");
                f.write(100);
                db.begin();
                const auto rep = std::views::iota(std::int64_t{1}, std::int64_t{21}) |
                                 idempotent_by(ledger, [](std::int64_t id) { return id; }) | chunked<no_commit>(db, 7) |
                                 guarded([&](std::int64_t id) {
                                     if (id == 5) {
                                         detail::write_failing(f, id);
                                     } else {
                                         f.write(id);
                                     }
                                 }) |
                                 drain;
                c.equal("done", rep.done, 19);
                c.equal("failed", rep.failed, 1);
                c.holds("in_transaction() after a no_commit run", db.in_transaction());
                c.equal("count() inside the caller's transaction", f.count(), 20);
                c.fails("has(5) inside the caller's transaction", f.has(5));
                db.rollback();
                c.equal("count() after the caller's rollback", f.count(), 1);
                std::vector<key> keys;
                for (std::int64_t id = 1; id <= 20; ++id) {
                    keys.emplace_back(id);
                }
                c.equal("keys the ledger holds after the caller's rollback", detail::marked_among(ledger, keys),
                        detail::key_list{"{}"});
                if constexpr (failure_ledger<L>) {
                    c.equal("failures().size() after the caller's rollback", ledger.failures().size(), 0);
                }
            });

        for (const auto iso : {isolation::per_chunk, isolation::per_item}) {
            // A fresh store: sturdy's tables may be created inside the caller's transaction, and
            // its rollback takes them away. Rolling back an item's or a chunk's savepoint must
            // not make the store forget that, or every later ledger call meets "no such table".
            detail::run_store_case(
                r,
                iso == isolation::per_chunk
                    ? "pipeline: a ledger made in the caller's transaction works after the rollback of a failing "
                      "no_commit run (per_chunk)"
                    : "pipeline: a ledger made in the caller's transaction works after the rollback of a failing "
                      "no_commit run (per_item)",
                make, [iso](F& f, store_checker& c) {
                    auto& db = f.store();
                    db.begin();
                    auto ledger = detail::make_ledger(f, "job");
                    const auto rep = std::views::iota(std::int64_t{1}, std::int64_t{21}) |
                                     idempotent_by(ledger, [](std::int64_t v) { return v; }) |
                                     chunked<no_commit>(db, 8) |
                                     guarded(
                                         [&](std::int64_t v) {
                                             if (v == 7) {
                                                 detail::write_failing(f, v);
                                             } else {
                                                 f.write(v);
                                             }
                                         },
                                         iso) |
                                     drain;
                    c.equal("done", rep.done, 19);
                    c.equal("failed", rep.failed, 1);
                    c.holds("contains(1) inside the caller's transaction", ledger.contains(1));
                    db.rollback();

                    c.fails("contains(1) after the caller's rollback", ledger.contains(1));
                    if constexpr (claiming_ledger<L>) {
                        c.holds("claim(1) after the caller's rollback", ledger.claim(1));
                    } else {
                        ledger.mark(1);
                    }
                    c.holds("contains(1) after marking it again", ledger.contains(1));
                    c.fails("contains(2)", ledger.contains(2));
                    if constexpr (failure_ledger<L>) {
                        c.equal("failures().size() after the caller's rollback", ledger.failures().size(), 0);
                        c.equal("record_failure(2, ..., 5).runs", ledger.record_failure(2, "why", 5).runs, 1);
                    }
                    if constexpr (checkpoint_store<Store>) {
                        const std::string cp = "cp";
                        c.equal("checkpoint(\"cp\") after the caller's rollback", db.checkpoint(cp),
                                std::optional<std::string>());
                        db.set_checkpoint(cp, std::string("x"));
                        c.equal("checkpoint(\"cp\") after set_checkpoint", db.checkpoint(cp),
                                std::optional<std::string>("x"));
                    }
                });
        }
    }
    return r;
}

} // namespace sturdy::testing
