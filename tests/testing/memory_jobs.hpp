#pragma once
// The two seed jobs (examples/subscription_invoicing.cpp, examples/contact_sync.cpp) written
// for the memory store: the same pipelines, with effects that append rows (so an effect run
// twice shows twice). Templates over the store, so they run on a memory database and on a
// sturdy::testing::faulty one. Used by seed_jobs.cpp and scripts/mutations.

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>
#include <sturdy/testing.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

namespace memory_jobs {

using namespace std::chrono_literals;

// --- invoicing ---------------------------------------------------------------------------

/// A subscription due for a period; a negative amount is poison: its line fails after its
/// invoice row was written, so only the item's rollback keeps the invoice out.
struct due {
    std::int64_t subscription_id;
    std::string period;
    std::int64_t amount_cents;
};

inline sturdy::key key_of(const due& d) { return sturdy::make_key(std::tuple(d.subscription_id, d.period)); }

/// `n` subscriptions, each due for 1 to 3 periods; every 13th is poison.
inline std::vector<due> dues(std::int64_t n)
{
    std::vector<due> out;
    for (std::int64_t i = 1; i <= n; ++i) {
        for (std::int64_t p = 0; p <= i % 3; ++p) {
            out.push_back({i, "2026-0" + std::to_string(1 + p), i % 13 == 0 ? -100 : 1000 + i});
        }
    }
    return out;
}

/// Invoices every due item: an invoice row (number -> "subscription/period"), then its line
/// (number -> amount). Returns true when nothing is left for a later run.
template <sturdy::commit_policy Commit = sturdy::commit, class Db>
bool invoice_due(Db& db, const std::vector<due>& input, sturdy::manual_clock& clock)
{
    auto ledger = db.ledger("invoice");
    auto&& invoices = db.table("invoice");
    auto&& lines = db.table("invoice_line");
    const auto r = input | sturdy::idempotent_by(ledger, key_of, sturdy::quarantine_after{3}) |
                   sturdy::chunked<Commit>(db, 4) | sturdy::guarded([&](const due& d) {
                       const auto number = static_cast<std::int64_t>(invoices.size()) + 1;
                       invoices.insert(number, key_of(d).str());
                       if (d.amount_cents < 0) {
                           throw sturdy::permanent_error("CHECK constraint failed: amount_cents >= 0");
                       }
                       lines.insert(number, std::to_string(d.amount_cents));
                   }) |
                   sturdy::retry_bounded(4, sturdy::backoff::exponential(2ms, 100ms)) |
                   sturdy::failure_budget(50, 0.5, 500) | sturdy::with_clock(clock) | sturdy::drain;
    return r.remaining == 0;
}

/// A memory database holding nothing yet, and the input.
struct invoicing_world {
    sturdy::memory::database db;
    std::vector<due> input;
    sturdy::manual_clock clock;
    explicit invoicing_world(std::int64_t subscriptions) : input(dues(subscriptions)) {}
};

inline std::vector<sturdy::key> keys_of(const sturdy::memory::table& t)
{
    std::vector<sturdy::key> out;
    for (const auto& [k, v] : t.rows()) {
        out.push_back(k);
    }
    return out;
}

inline std::vector<sturdy::key> failing_keys(sturdy::memory::database& db, const std::string& ledger)
{
    std::vector<sturdy::key> out;
    for (const auto& f : db.ledger(ledger).failures()) {
        out.push_back(f.item_key);
    }
    return out;
}

/// Each due item invoiced exactly once (failing ones not at all), each invoice with its line,
/// the ledger marking exactly the invoiced items, no done item quarantined.
inline std::string check_invoicing(invoicing_world& w)
{
    std::vector<sturdy::key> expected;
    for (const auto& d : w.input) {
        expected.push_back(key_of(d));
    }
    std::vector<sturdy::key> effects;
    auto& invoices = w.db.table("invoice");
    auto& lines = w.db.table("invoice_line");
    for (const auto& [number, k] : invoices.rows()) {
        effects.emplace_back(k);
        if (!lines.contains(number)) {
            return "invoice " + number.str() + " (" + k + ") has no line";
        }
    }
    const auto done = keys_of(w.db.table("sturdy_ledger:invoice"));
    std::string problem = sturdy::testing::exactly_once(expected, effects, failing_keys(w.db, "invoice"));
    for (const auto& more : {sturdy::testing::ledger_matches_effects(done, effects),
                             sturdy::testing::not_done_and_failing(done, w.db.ledger("invoice").failures())}) {
        if (!more.empty()) {
            problem += (problem.empty() ? "" : "; ") + more;
        }
    }
    return problem;
}

// --- contact sync ------------------------------------------------------------------------

struct contact {
    std::int64_t id;
    std::int64_t write_date;
};

inline sturdy::key key_of(const contact& c) { return sturdy::make_key(std::tuple(c.id, c.write_date)); }

/// The remote CRM: a database of its own (its own transactions; a crash of ours does not roll
/// it back) that honours idempotency keys. `applied` gets a row per change it applies.
struct remote_crm {
    sturdy::memory::database db;
    void push(const contact& c, const std::string& idempotency_key)
    {
        auto& requests = db.table("request");
        if (requests.contains(idempotency_key)) {
            return; // seen: acknowledged, not applied again
        }
        auto& applied = db.table("applied");
        db.begin();
        applied.insert(static_cast<std::int64_t>(applied.size()) + 1, key_of(c).str());
        requests.insert(idempotency_key, "");
        db.commit();
    }
};

/// Pushes every contact changed since the checkpoint (and every contact still failing).
template <sturdy::commit_policy Commit = sturdy::commit, class Db>
bool sync_contacts(Db& db, const std::vector<contact>& contacts, remote_crm& remote, sturdy::manual_clock& clock)
{
    auto ledger = db.ledger("contact_sync");
    const auto c = db.checkpoint("contact_sync");
    const std::int64_t since = c ? std::stoll(*c) : std::numeric_limits<std::int64_t>::min();
    std::vector<sturdy::key> failing;
    for (const auto& f : ledger.failures()) {
        failing.push_back(f.item_key);
    }
    std::vector<contact> changed;
    for (const auto& x : contacts) {
        if (x.write_date >= since || std::ranges::find(failing, key_of(x)) != failing.end()) {
            changed.push_back(x);
        }
    }
    const auto r =
        changed | sturdy::idempotent_by(ledger, [](const contact& x) { return key_of(x); }) |
        sturdy::watermark(db, "contact_sync", [since](const contact& x) { return std::max(x.write_date, since); }) |
        sturdy::chunked<Commit>(db, 5) |
        sturdy::guarded([&](const contact& x, const sturdy::item_context& ctx) { remote.push(x, ctx.idempotency); },
                        sturdy::isolation::per_item) |
        sturdy::retry_bounded(4, sturdy::backoff::exponential(5ms, 200ms)) | sturdy::failure_budget(5) |
        sturdy::with_clock(clock) | sturdy::drain;
    return r.remaining == 0;
}

struct contacts_world {
    sturdy::memory::database db;
    remote_crm remote;
    std::vector<contact> contacts;
    sturdy::manual_clock clock;
    explicit contacts_world(std::int64_t n)
    {
        for (std::int64_t i = 1; i <= n; ++i) {
            contacts.push_back({i, 1000 + (i * 7) % n}); // write dates out of id order, some shared
        }
        std::ranges::sort(contacts, [](const contact& a, const contact& b) {
            return std::tie(a.write_date, a.id) < std::tie(b.write_date, b.id);
        });
    }
};

/// Each contact version applied by the remote exactly once and marked done here; the watermark
/// never past a contact that is neither done nor failing.
inline std::string check_contacts(contacts_world& w)
{
    std::vector<sturdy::key> expected;
    std::vector<sturdy::testing::watermarked<std::int64_t>> items;
    for (const auto& c : w.contacts) {
        expected.push_back(key_of(c));
        items.push_back({c.write_date, key_of(c)});
    }
    // A contact still failing may have reached the remote or not (delivery is at-least-once, and
    // the retry carries the same idempotency key): it is left out of the exactly-once count.
    const auto failing = failing_keys(w.db, "contact_sync");
    std::erase_if(expected, [&](const sturdy::key& k) { return std::ranges::find(failing, k) != failing.end(); });
    std::vector<sturdy::key> applied;
    for (const auto& [n, k] : w.remote.db.table("applied").rows()) {
        if (std::ranges::find(failing, sturdy::key(k)) == failing.end()) {
            applied.emplace_back(k);
        }
    }
    const auto done = keys_of(w.db.table("sturdy_ledger:contact_sync"));
    const auto failures = w.db.ledger("contact_sync").failures();
    const auto checkpoint = w.db.checkpoint("contact_sync");
    const std::optional<std::int64_t> mark =
        checkpoint ? std::optional<std::int64_t>(std::stoll(*checkpoint)) : std::nullopt;
    std::string problem = sturdy::testing::exactly_once(expected, applied);
    for (const auto& more : {sturdy::testing::ledger_matches_effects(done, applied),
                             sturdy::testing::watermark_not_ahead(mark, items, done, failures)}) {
        if (!more.empty()) {
            problem += (problem.empty() ? "" : "; ") + more;
        }
    }
    return problem;
}

} // namespace memory_jobs
