// contact_sync — push the contacts changed since the last run to an external tool, on SQLite
// (--db FILE) or PostgreSQL (--db postgresql://...): the job is written once, over the store's
// type. The external tool is a second database (--remote, a SQLite file or a PostgreSQL URI)
// standing in for a CRM that honours idempotency keys: it has its own transactions, so a push
// cannot be rolled back with ours.
// The fragile version of this job fails in four ways; each adaptor below removes one:
//
//   it always processes all data             -> watermark: read only what changed since the
//                                               checkpoint committed with the last chunk
//   a timeout retries forever from the start -> chunked + watermark + time_budget: committed
//                                               chunks move the checkpoint; stop at a boundary
//   a second run the same day re-sends all   -> idempotent_by: key (contact, write_date)
//   the service is down at that one time, so -> retry_bounded, failure_budget: stop early, lose
//   no sync happens that day                    nothing, exit 75 so the scheduler runs it again
//   the ledger grows by every contact pushed, -> forget_marked_before after each complete run
//   every day, forever                           (--forget-after DAYS): marks of versions the
//                                                checkpoint has passed go
//
// Delivery to the remote is AT-LEAST-ONCE: a crash between the remote's commit and ours re-sends
// the contact on the next run, with the same idempotency key, and the remote recognises it.
// See docs/examples.md.

#include "common/cli.hpp"
#include "common/databases.hpp"

#include <sturdy/store/postgres.hpp>
#include <sturdy/store/sqlite.hpp>
#include <sturdy/sturdy.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h> // fmt::join (in <fmt/format.h> before fmt 11)

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace contacts {

/// The local tables (other tools write them) and one index of ours for the watermark.
/// synced_write_date is ours: the version last pushed, which `--ledger marker` keeps there.
inline constexpr const char* local_schema = R"sql(
    CREATE TABLE IF NOT EXISTS contact(
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL,
        write_date INTEGER NOT NULL, synced_write_date INTEGER);
    CREATE INDEX IF NOT EXISTS contact_write_date ON contact(write_date, id);
)sql";

/// The same table in PostgreSQL's types.
inline constexpr const char* postgres_local_schema = R"sql(
    CREATE TABLE IF NOT EXISTS contact(
        id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL,
        write_date bigint NOT NULL, synced_write_date bigint);
    CREATE INDEX IF NOT EXISTS contact_write_date ON contact(write_date, id);
)sql";

/// The remote's tables (fixed).
inline constexpr const char* remote_schema = R"sql(
    CREATE TABLE IF NOT EXISTS remote_contact(contact_id INTEGER PRIMARY KEY, name TEXT, email TEXT, version INTEGER);
    CREATE TABLE IF NOT EXISTS remote_request(idempotency_key TEXT PRIMARY KEY, contact_id INTEGER, version INTEGER);
)sql";
inline constexpr const char* postgres_remote_schema = R"sql(
    CREATE TABLE IF NOT EXISTS remote_contact(contact_id bigint PRIMARY KEY, name text, email text, version bigint);
    CREATE TABLE IF NOT EXISTS remote_request(idempotency_key text PRIMARY KEY, contact_id bigint, version bigint);
)sql";

struct contact {
    std::int64_t id;
    std::string name;
    std::string email;
    std::int64_t write_date;
};

/// Contacts changed since the checkpoint (?1), plus those still failing (?2, a JSON array of
/// ids), in watermark order. Rows at the checkpoint itself are read again: the ledger skips them.
inline constexpr const char* changed_sql = R"sql(
    SELECT id, name, email, write_date FROM contact
     WHERE write_date >= ?1 OR id IN (SELECT value FROM json_each(?2))
     ORDER BY write_date, id
)sql";
/// The same on PostgreSQL: $2 is an array of ids.
inline constexpr const char* postgres_changed_sql = R"sql(
    SELECT id, name, email, write_date FROM contact
     WHERE write_date >= $1 OR id = ANY($2::bigint[])
     ORDER BY write_date, id
)sql";

/// `changed_sql` read lazily, with the ids still failing in the store's syntax. SQLite: `Db` is
/// the database or a store around it (the crash simulation's sturdy::testing::faulty,
/// tests/testing/seed_jobs.cpp).
template <class Db>
requires(!std::same_as<Db, sturdy::postgres::database>) auto changed_contacts(Db& db, std::int64_t since,
                                                                              const std::vector<std::int64_t>& failing)
{
    return db.template rows<contact>(changed_sql, since, fmt::format("[{}]", fmt::join(failing, ",")));
}
inline auto changed_contacts(sturdy::postgres::database& db, std::int64_t since,
                             const std::vector<std::int64_t>& failing)
{
    return db.rows<contact>(postgres_changed_sql, since, fmt::format("{{{}}}", fmt::join(failing, ",")));
}

/// The stand-in CRM, in a SQLite file or a PostgreSQL database (`where`: a path or a libpq URI).
/// It honours idempotency keys: a request whose key it has already applied is acknowledged and
/// not applied again. Each push is one transaction of the remote's own.
class remote_crm {
public:
    struct faults {
        bool outage = false; ///< refuse every call
        double rate = 0.0;   ///< a fraction of calls fail transiently (half refused, half lose the reply)
        std::uint64_t seed = 0;
    };

    /// `fn(db)` with the remote's database, whichever store it is in.
    template <class Fn> decltype(auto) visit(Fn&& fn) { return postgres_ ? fn(*postgres_) : fn(*sqlite_); }

    remote_crm(const std::string& where, faults f) : faults_(f)
    {
        if (example::is_postgres_uri(where)) {
            postgres_.emplace(where);
        } else {
            sqlite_.emplace(where);
        }
        visit([](auto& db) { example::create_tables(db, remote_schema, postgres_remote_schema, 0x63726d); }); // "crm"
    }

    /// Applies `c` under `idempotency_key`. `runs_before` and `attempt` vary the injected faults between
    /// runs and attempts.
    void push(const contact& c, const std::string& idempotency_key, int runs_before, int attempt)
    {
        if (faults_.outage ||
            example::injected(faults_.rate / 2, faults_.seed, idempotency_key, runs_before, attempt)) {
            throw sturdy::transient_error("remote CRM unavailable (503 Service Unavailable)");
        }
        visit([&](auto& db) {
            auto tx = db.savepoint(); // no transaction is open: one begins here and commits on release
            if (!db.template query_one<int>("SELECT 1 FROM remote_request WHERE idempotency_key = $1",
                                            idempotency_key)) {
                // Never let an older version overwrite a newer one.
                db.execute("INSERT INTO remote_contact(contact_id, name, email, version) VALUES($1, $2, $3, $4) "
                           "ON CONFLICT(contact_id) DO UPDATE SET name = excluded.name, email = excluded.email, "
                           "version = excluded.version WHERE excluded.version >= remote_contact.version",
                           c.id, c.name, c.email, c.write_date);
                db.execute("INSERT INTO remote_request(idempotency_key, contact_id, version) VALUES($1, $2, $3)",
                           idempotency_key, c.id, c.write_date);
            }
            tx.release();
        });
        if (example::injected(faults_.rate / 2, faults_.seed ^ 0x5eedU, idempotency_key, runs_before, attempt)) {
            // Applied, but the reply is lost: the retry re-sends with the same key.
            throw sturdy::transient_error("remote CRM: timed out waiting for the reply");
        }
    }

private:
    std::optional<sturdy::sqlite::database> sqlite_;
    std::optional<sturdy::postgres::database> postgres_;
    faults faults_;
};

/// Where the job keeps what is done (docs/ledgers.md).
enum class ledger_kind {
    table,  ///< sturdy's own ledger table, sturdy_ledger: one row per pushed version (pruned by --forget-after)
    marker, ///< the contact's own column synced_write_date: the version last pushed, no row of sturdy's
};

struct options {
    ledger_kind ledger = ledger_kind::table; ///< --ledger
    std::size_t chunk = 200;
    std::optional<std::chrono::duration<double>> deadline;
    int quarantine_after = 5;
    std::size_t log_every = 1000;
    int forget_after_days = 30; ///< retention of the ledger's marks, see forget_pushed (0: keep every mark)
};

template <class Db> void create_schema(Db& db)
{
    example::create_tables(db, local_schema, postgres_local_schema, 0x636f6e74616374); // "contact" in ASCII
    db.ledger("contact_sync"); // creates the sturdy_ tables now, not in the first chunk
}

/// `--init N`: when the contact table is empty, fills it with N contacts in one transaction.
/// Contact i: name "Contact i", email "contact<i>@example.com", write_date 1700000000 + i.
template <class Db> std::int64_t init_contacts(Db& db, std::int64_t n)
{
    db.begin();
    if (*db.template query_one<std::int64_t>("SELECT count(*) FROM contact") > 0) {
        db.rollback();
        return 0;
    }
    for (std::int64_t i = 1; i <= n; ++i) {
        db.execute("INSERT INTO contact(id, name, email, write_date) VALUES($1, $2, $3, $4)", i,
                   fmt::format("Contact {}", i), fmt::format("contact{}@example.com", i),
                   std::int64_t{1'700'000'000} + i);
    }
    db.commit();
    return n;
}

/// "42/1700000042" -> 42.
inline std::optional<std::int64_t> contact_of(const sturdy::key& k)
{
    const auto text = k.str();
    const auto slash = text.find('/');
    try {
        return slash == std::string::npos ? std::nullopt : std::optional(std::stoll(text.substr(0, slash)));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

/// The job over `ledger` (sync_contacts): pushes every contact changed since the last committed
/// checkpoint, and every contact whose push is still failing, to `remote`.
template <sturdy::commit_policy Commit, sturdy::clock Clock, sturdy::log_sink Sink, class Db, class Ledger>
sturdy::report sync_contacts_with(Db& db, Ledger& ledger, remote_crm& remote, const options& o, Clock& clock, Sink sink)
{
    using namespace std::chrono_literals;

    // The checkpoint never moves back, even when a chunk ends on an older contact read again
    // because its push is still failing.
    const auto since = [&]() -> std::int64_t {
        const auto c = db.checkpoint("contact_sync");
        return c ? std::stoll(*c) : std::numeric_limits<std::int64_t>::min();
    }();

    // Failure records by contact: the ids still failing are read again whatever the watermark
    // says; a record for an older version of a contact is cleared once a newer one is pushed.
    std::unordered_map<std::int64_t, std::vector<sturdy::failure_info>> failing;
    std::vector<std::int64_t> retry_ids;
    for (auto& f : ledger.failures()) {
        if (auto id = contact_of(f.item_key)) {
            if (!f.quarantined) {
                retry_ids.push_back(*id);
            }
            failing[*id].push_back(std::move(f));
        }
    }

    auto job =
        changed_contacts(db, since, retry_ids)
        // Each version of each contact is pushed once; a second run the same day sends nothing.
        | sturdy::idempotent_by(
              ledger, [](const contact& c) { return std::tuple(c.id, c.write_date); }, // "42/1700000042"
              sturdy::quarantine_after{o.quarantine_after})
        // The checkpoint commits with each chunk: the next run starts where this one stopped.
        | sturdy::watermark(db, "contact_sync", [since](const contact& c) { return std::max(c.write_date, since); }) |
        sturdy::chunked<Commit>(db, o.chunk)
        // The push reaches outside the local store, so never re-run it for a neighbour's failure.
        | sturdy::guarded(
              [&](const contact& c, const sturdy::item_context& ctx) {
                  const auto f = failing.find(c.id);
                  int runs_before = 0;
                  if (f != failing.end()) {
                      for (const auto& rec : f->second) {
                          runs_before = rec.item_key == ctx.item_key ? rec.runs : runs_before;
                      }
                  }
                  remote.push(c, ctx.idempotency, runs_before, ctx.attempt); // key "contact_sync:42/1700000042"
                  if (f != failing.end()) {
                      for (const auto& rec : f->second) {
                          if (rec.item_key != ctx.item_key) {
                              ledger.clear_failure(rec.item_key); // an older version: superseded
                          }
                      }
                  }
              },
              sturdy::isolation::per_item)
        // A 503 or a lost reply: retried in-run, with the same idempotency key.
        | sturdy::retry_bounded(4, sturdy::backoff::exponential(5ms, 200ms))
        // 10 contacts in a row failing: the remote is down. Stop, lose nothing, run again soon.
        // Ten transient failures in a row: the remote is down. The streak is given back, in the
        // chunks already committed too, so an outage never quarantines a contact.
        | sturdy::failure_budget(10)
        // Progress lines, failures folded by reason, one summary.
        | sturdy::logged_every(o.log_every, std::move(sink))
        // Backoff, rates and the deadline read this clock: tests inject one that never sleeps.
        | sturdy::with_clock(clock);

    if (o.deadline) {
        return std::move(job) | sturdy::time_budget(*o.deadline) | sturdy::drain;
    }
    return std::move(job) | sturdy::drain;
}

/// The job: pushes every contact changed since the last committed checkpoint, and every contact
/// whose push is still failing, to `remote`, with the ledger `o.ledger` names.
/// `Db` is the SQLite database, or a sturdy::testing::faulty one around it in the crash
/// simulation (tests/testing/seed_jobs.cpp).
template <sturdy::commit_policy Commit = sturdy::commit, sturdy::clock Clock = sturdy::steady_clock,
          sturdy::log_sink Sink = sturdy::stderr_sink, class Db>
sturdy::report sync_contacts(Db& db, remote_crm& remote, const options& o, Clock& clock, Sink sink = {})
{
    if (o.ledger == ledger_kind::marker) {
        // The version pushed last, in the contact's own row: (id, write_date) is done when
        // synced_write_date = write_date. Failure records stay under "contact_sync".
        auto ledger = db.ledger(sturdy::marker{"contact", "id", "synced_write_date", true, "contact_sync"});
        return sync_contacts_with<Commit>(db, ledger, remote, o, clock, std::move(sink));
    }
    auto ledger = db.ledger("contact_sync");
    return sync_contacts_with<Commit>(db, ledger, remote, o, clock, std::move(sink));
}

/// Retention, after a run that left nothing pending: forgets the ledger's marks written more
/// than `keep` ago and before the checkpoint's time; returns how many. Safe because a mark is
/// for one version of a contact, (id, write_date), and the job reads contacts whose write_date
/// is at or after the checkpoint, plus those whose push is still failing (whose current version
/// is not marked: a push that succeeds clears the contact's failure records). A version older
/// than the checkpoint is never read again, so its mark stops nothing. write_date is the Unix
/// second the version was written, so a mark written before the checkpoint's second is for a
/// version older than the checkpoint (a version is pushed after it is written); `keep` is the
/// margin for clocks that disagree, and the history kept for looking up what was pushed.
template <class Db>
std::size_t forget_pushed(Db& db, std::chrono::days keep,
                          std::chrono::system_clock::time_point now = std::chrono::system_clock::now())
{
    const auto checkpoint = db.checkpoint("contact_sync");
    if (!checkpoint) {
        return 0;
    }
    const std::chrono::system_clock::time_point passed{std::chrono::seconds(std::stoll(*checkpoint))};
    return db.ledger("contact_sync").forget_marked_before(std::min(now - keep, passed));
}

inline constexpr const char* usage = R"(usage: contact_sync --db FILE|postgresql://... --remote FILE|postgresql://...
                    [--init N] [--chunk N] [--outage-rate P --seed S] [--outage]
                    [--deadline SECONDS] [--report text|json] [--quarantine-after RUNS]
                    [--forget-after DAYS] [--ledger table|marker]
  --db FILE            the local SQLite database (must exist unless --init is given), or a
                       PostgreSQL database as a libpq URI (postgresql://user@host/dbname)
  --remote FILE        the database standing in for the CRM: a SQLite file (created if
                       missing) or a PostgreSQL URI
  --init N             fill an empty local database with N demo contacts, then run
  --chunk N            contacts per local transaction (default 200)
  --outage-rate P      the remote fails a fraction P of calls transiently (seeded by --seed)
  --outage             the remote refuses every call
  --deadline SECONDS   stop cleanly before this much time has passed; exit 75 if work remains
  --report text|json   the report's format on stdout (json: one object, the last line)
  --quarantine-after N quarantine a contact version after N failed runs (default 5)
  --forget-after DAYS  after a run that left nothing pending, forget the ledger's marks older
                       than DAYS for versions the checkpoint has passed (default 30; 0: never)
  --ledger table       what is pushed is kept in sturdy's own table, sturdy_ledger (default)
  --ledger marker      what is pushed is kept in the contact's column synced_write_date (no row
                       of sturdy's per push, nothing to forget)
exit status: 0 nothing pending; 75 work remains, run again soon; 1 bad usage or unusable database
)";

/// The command line; returns the exit status. The report goes to `out`, logs to stderr.
inline int run_cli(const std::vector<std::string_view>& args, std::FILE* out)
{
    const char* const required = "--db and --remote are required (each a SQLite file or a postgresql:// URI)";
    const example::command cli{.program = "contact_sync",
                               .usage = usage,
                               .missing_db = required,
                               .demo_rows = "contacts",
                               .valued = {"--remote", "--outage-rate", "--seed", "--forget-after", "--ledger"},
                               .flags = {"--outage"}};
    options o;
    remote_crm::faults faults;
    std::string remote_path;
    const auto parse = [&](const example::arguments& a, const example::common_options& c) {
        c.copy_to(o);
        if (!a.has("--remote")) {
            throw example::usage_error(required);
        }
        remote_path = *a.text("--remote");
        if (remote_path == c.db) {
            throw example::usage_error("--db and --remote must be different databases");
        }
        faults.rate = a.number("--outage-rate", 0.0, 1.0).value_or(0.0);
        faults.seed = static_cast<std::uint64_t>(a.integer("--seed", 0, INT64_MAX).value_or(0));
        faults.outage = a.has("--outage");
        o.forget_after_days = static_cast<int>(a.integer("--forget-after", 0, 36'500).value_or(o.forget_after_days));
        if (const auto l = a.text("--ledger")) {
            if (*l == "marker") {
                o.ledger = ledger_kind::marker;
            } else if (*l != "table") {
                throw example::usage_error(fmt::format("--ledger takes table or marker (got '{}')", *l));
            }
        }
    };
    const auto run = [&](auto& db, const example::common_options& c) {
        create_schema(db);
        if (c.init && init_contacts(db, *c.init) == 0) {
            fmt::print(stderr, "{}: --init: the database already holds contacts; none added\n", cli.program);
        }
        remote_crm remote(remote_path, faults);
        sturdy::steady_clock clock;
        auto r = sync_contacts(db, remote, o, clock);
        if (o.ledger == ledger_kind::table && o.forget_after_days > 0 && !r.run_again_soon()) {
            if (const auto n = forget_pushed(db, std::chrono::days(o.forget_after_days)); n > 0) {
                fmt::print(stderr, "{}: forgot {} ledger marks of contact versions the checkpoint has passed\n",
                           cli.program, n);
            }
        }
        return r;
    };
    return example::run_cli(cli, args, out, parse, run);
}

} // namespace contacts

#ifndef STURDY_EXAMPLE_NO_MAIN
int main(int argc, char** argv)
{
    return contacts::run_cli(std::vector<std::string_view>(argv + 1, argv + argc), stdout);
}
#endif
