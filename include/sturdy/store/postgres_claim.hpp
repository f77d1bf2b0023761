#pragma once
/// sturdy/store/postgres_claim.hpp — several workers, one job, PostgreSQL as the only
/// coordinator. `claim_rows<Row>(db, ledger, query)` is an input whose chunks claim their rows
/// inside the chunk's transaction with `FOR NO KEY UPDATE ... SKIP LOCKED`, leaving out keys
/// the ledger holds, so N copies of the same program (cron on two hosts, a Kubernetes CronJob
/// with parallelism) split the work and never hold the same row:
///
///     auto ledger = db.ledger("invoice");
///     auto due = sturdy::postgres::claim_rows<due_row>(db, ledger, {
///         .select = "s.id, s.partner, s.amount_cents, to_char(m, 'YYYY-MM')",
///         .from = "subscription AS s CROSS JOIN LATERAL generate_series(...) AS m",
///         .where = "s.active <> 0",
///         .key = "s.id || '/' || to_char(m, 'YYYY-MM')", // the text idempotent_by's key makes
///         .lock = "s",
///         .order_by = "s.id, m"});
///     auto r = due | sturdy::idempotent_by(ledger, [](const due_row& d) { return std::tuple(d.id, d.period); })
///                  | sturdy::chunked(db, 200) | sturdy::guarded(...) | sturdy::drain;
///
/// The transaction is the lease: a worker that dies (SIGKILL, lost connection,
/// pg_terminate_backend) loses its uncommitted chunk, and PostgreSQL releases its row locks for
/// the workers still running; no lease table, no heartbeat, nothing stuck. How it holds up:
///  - each chunk claims at most a chunk's worth of rows, in one statement, inside its
///    transaction (the loop calls `begin_chunk`, see `sturdy::claiming_input`);
///  - rows whose key the ledger holds are left out in SQL (`key` must be the ledger's key text,
///    as `sturdy::key` writes it: parts joined by '/'); with a ledger kept by the effect's own
///    table (`db.ledger(sturdy::unique_key{...})` or `sturdy::marker{...}`), rows whose key has
///    its row (or its marker) there;
///  - a chunk whose fast attempt fails at an item goes on in the same transaction, its rows
///    still locked; one that runs again in a new transaction (retried after a transient error,
///    a failed commit say) locks its rows again first, waiting if another worker took them
///    in between; the ledger then skips what that worker did, so no item's effect runs in two
///    workers at once and none is done twice;
///  - keys that failed in this run are not claimed again: a poison row cannot loop. "This run"
///    is every worker running now: keys this worker claimed and did not finish, and keys whose
///    failure record was written since this worker started (by any worker), are left out, as are
///    quarantined keys. They go through the failure records and later runs, as with one worker.
///  - the input ends when a claim finds fewer rows than a chunk holds. Rows other workers hold
///    are theirs; if one of them dies, its chunk goes to a worker still claiming, or the next run.
///  - with `resume`, going back to the beginning for rows released behind a worker is done once
///    per run's end, not by every worker: a worker whose pass has ended goes back unless another
///    worker of the job with a lower backend pid is inside a chunk (that one ends later and goes
///    back). Claims hold a shared transaction-level advisory lock (two keys: 1937011833 and
///    `hashtext(job) & 2147483647`) while their chunk runs, which pg_locks shows.
/// Not with `watermark` (refused at compile time): see docs/postgres.md.

#include <sturdy/error.hpp>
#include <sturdy/store/detail/sql_kit.hpp>
#include <sturdy/store/postgres.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sturdy::postgres {

namespace detail {
/// The first key of the advisory locks (the two-key form) claims take: the second is the job's
/// name hashed (`hashtext(name) & 2147483647`). A claim holds the shared lock until its chunk's
/// transaction ends; pg_locks then shows which workers of the job are inside a chunk.
inline constexpr std::int32_t claim_lock_class = 1937011833;

/// Whether this worker, whose forward pass has ended, goes back to the beginning for rows
/// released behind it: not when a worker of the same job with a lower backend pid is inside a
/// chunk ($1 the job's name, $2 claim_lock_class). That worker ends later and goes back itself (or leaves it to one
/// with a lower pid still), so one pass from the beginning per run's end serves every worker,
/// instead of one per worker, each reading every row the job has done.
inline constexpr const char* goes_back_sql =
    "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = $2::oid AND "
    "objid = (hashtext($1) & 2147483647)::oid AND objsubid = 2 AND granted AND pid < pg_backend_pid())";

/// After a claim: which of its keys ($1) the ledger or a failure record of this run holds
/// (true), and which keys of the claim before ($2) the ledger does not hold (false). $3 the
/// namespace, $4 when the worker started. Each lookup is an index probe per key: OFFSET 0 keeps
/// the planner from turning an EXISTS into a join or a hashed subplan over the whole namespace,
/// which it picks when its statistics of `sturdy_ledger` are older than the job's progress (the
/// usual case while a job fills the ledger): each claim then read every done key of the job,
/// and a job's claims grew slower the further it went.
/// `done(k, namespace)`: the ledger's SQL for "key k is done" (ledger::done_sql).
template <class Done> std::string finished_sql(Done done)
{
    return "SELECT true, k FROM unnest(string_to_array($1, E'\\x1f')) AS k WHERE " + done("k", "$3") +
           " OR EXISTS "
           "(SELECT 1 FROM sturdy_failure WHERE namespace = $3 AND item_key = k AND (quarantined OR last_failed >= $4) "
           "OFFSET 0) "
           "UNION ALL SELECT false, k FROM unnest(string_to_array($2, E'\\x1f')) AS k WHERE NOT " +
           done("k", "$3");
}
} // namespace detail

/// The parts of a claiming query. Parameters of the caller's SQL are $1, $2 ... (the arguments
/// given to `claim_rows`); parts written with `?` placeholders instead are refused when the
/// input is made (`usage_error`, as `database::execute` refuses them).
struct claim_query {
    std::string select{};   ///< the columns read into Row, in its fields' order
    std::string from{};     ///< FROM clause (tables, joins)
    std::string where{};    ///< which rows are work (empty: all)
    std::string key{};      ///< SQL expression giving each row's ledger key text
    std::string lock{};     ///< the aliases whose rows are locked (FOR ... OF lock); empty: every table
    std::string order_by{}; ///< the order rows are claimed in (empty: by resume, else by key)
    /// Optional, and what keeps a long job's claims cheap: an expression `order_by` begins with
    /// (e.g. "w.id"). Each claim then starts at the value where this worker's last claim ended,
    /// instead of passing every finished row again from the start; when it finds too few rows,
    /// the next claim starts from the beginning once (rows a dead worker released), and the
    /// input ends when that one finds too few as well. The claim from the beginning is left out
    /// when a worker of the job with a lower backend pid is inside a chunk: that one goes back.
    std::string resume{};
};

/// A job's totals across every worker and run so far, read from its ledger's tables: each
/// worker's report counts only what that worker did.
struct job_totals {
    std::int64_t done = 0;           ///< keys in the ledger
    std::int64_t awaiting_retry = 0; ///< failure records not quarantined: a later run retries them
    std::int64_t quarantined = 0;    ///< failure records in quarantine
};

/// The totals of the job whose ledger is `job` (the name given to `db.ledger`), in one statement.
/// `done` counts `sturdy_ledger`'s marks: 0 for a ledger kept by the effect's table, whose done
/// items are that table's rows.
inline job_totals totals(database& db, std::string_view job)
{
    db.ensure_schema();
    const auto row = db.query_one<std::tuple<std::int64_t, std::int64_t, std::int64_t>>(
        "SELECT (SELECT count(*) FROM sturdy_ledger WHERE namespace = $1), "
        "(SELECT count(*) FROM sturdy_failure WHERE namespace = $1 AND NOT quarantined), "
        "(SELECT count(*) FROM sturdy_failure WHERE namespace = $1 AND quarantined)",
        std::string(job));
    return {std::get<0>(*row), std::get<1>(*row), std::get<2>(*row)};
}

/// The input `claim_rows` returns: models `sturdy::claiming_input`. Single-pass; must not
/// outlive its database.
template <class Row, class... Args> class claimed_rows {
public:
    using iterator = store_detail::row_iterator<claimed_rows, Row>;

    /// `l`: the job's ledger (`db.ledger(name)`, or a ledger kept by the effect's table), whose
    /// done keys the claims leave out.
    template <class Ledger> claimed_rows(database& db, const Ledger& l, const claim_query& q, Args... args)
        : db_(&db), namespace_(l.name()), args_(std::move(args)...)
    {
        if (q.select.empty() || q.from.empty() || q.key.empty()) {
            throw usage_error("claim_rows: the query needs select, from and key (the ledger key of each row)");
        }
        // The caller's parts number their parameters $1 ... $n (the claim's own come after them).
        detail::check_placeholders(q.select + "\n" + q.from + "\n" + q.where + "\n" + q.key + "\n" + q.order_by + "\n" +
                                       q.resume,
                                   static_cast<int>(sizeof...(Args)));
        const std::string key = "(" + q.key + ")::text";
        const std::string where = q.where.empty() ? "true" : "(" + q.where + ")";
        const std::string order = " ORDER BY " + (!q.order_by.empty() ? q.order_by
                                                  : !q.resume.empty() ? q.resume
                                                                      : key);
        const std::string lock = q.lock.empty() ? "" : " OF " + q.lock;
        const std::string resume_column = q.resume.empty() ? "" : ", (" + q.resume + ")::text";
        const std::string from_floor =
            q.resume.empty() ? "" : " AND (" + q.resume + ") >= $" + std::to_string(sizeof...(Args) + 5);
        // Each candidate row's ledger and failure lookups are index probes, one per row, whatever
        // the planner's statistics say (OFFSET 0 keeps each NOT EXISTS a subplan: see
        // detail::finished_sql).
        claim_sql_ = "SELECT " + q.select + ", " + key + resume_column + " FROM " + q.from + " WHERE " + where +
                     " AND NOT " + l.done_sql(key, "$" + std::to_string(sizeof...(Args) + 1)) +
                     " AND NOT EXISTS (SELECT 1 FROM sturdy_failure AS sturdy_f WHERE sturdy_f.namespace = $" +
                     std::to_string(sizeof...(Args) + 1) + " AND sturdy_f.item_key = " + key +
                     " AND (sturdy_f.quarantined OR sturdy_f.last_failed >= $" + std::to_string(sizeof...(Args) + 4) +
                     ") OFFSET 0) AND NOT (" + key + " = ANY(string_to_array($" + std::to_string(sizeof...(Args) + 2) +
                     ", E'\\x1f'))) AND (SELECT pg_try_advisory_xact_lock_shared(" +
                     std::to_string(detail::claim_lock_class) + ", hashtext($" + std::to_string(sizeof...(Args) + 1) +
                     ") & 2147483647)) IS NOT NULL";
        const std::string tail =
            order + " LIMIT $" + std::to_string(sizeof...(Args) + 3) + " FOR NO KEY UPDATE" + lock + " SKIP LOCKED";
        if (!q.resume.empty()) {
            claim_from_sql_ = claim_sql_ + from_floor + tail;
        }
        claim_sql_ += tail;
        resumes_ = !q.resume.empty();
        finished_sql_ =
            detail::finished_sql([&](const std::string& k, const std::string& name) { return l.done_sql(k, name); });
        relock_sql_ = "SELECT 1 FROM " + q.from + " WHERE " + where + " AND " + key + " = ANY(string_to_array($" +
                      std::to_string(sizeof...(Args) + 1) + ", E'\\x1f'))" + order + " FOR NO KEY UPDATE" + lock;
    }

    iterator begin() { return iterator(this); }
    [[nodiscard]] std::default_sentinel_t end() const noexcept { return {}; }

    /// Called by the loop when a chunk's transaction opens (see `sturdy::claiming_input`).
    void begin_chunk(std::size_t n)
    {
        if (n == 0) {
            hold_again();
            return;
        }
        budget_ = n;
    }

    /// Keys this worker claimed and did not finish, left out of its later claims.
    [[nodiscard]] const std::vector<std::string>& left_out() const noexcept { return left_out_; }

    /// Claims made so far (statements run), for tests and diagnostics.
    [[nodiscard]] std::size_t claims() const noexcept { return claims_; }

    /// The server's plan (EXPLAIN, one line per element) for the next claim of `n` rows, with
    /// this worker's current parameters: for diagnosing a slow claim. Claims nothing.
    [[nodiscard]] std::vector<std::string> explain_claim(std::size_t n)
    {
        const std::string excluded = joined(left_out_);
        const auto limit = static_cast<std::int64_t>(n);
        return std::apply(
            [&](const auto&... a) {
                if (floor_) {
                    return db_->template query<std::string>("EXPLAIN " + claim_from_sql_, a..., namespace_, excluded,
                                                            limit, started_, *floor_);
                }
                return db_->template query<std::string>("EXPLAIN " + claim_sql_, a..., namespace_, excluded, limit,
                                                        started_);
            },
            args_);
    }

private:
    friend iterator;
    static constexpr char separator = '\x1f';

    [[nodiscard]] static std::size_t fields()
    {
        if constexpr (detail::column_value<Row>) {
            return 1;
        } else if constexpr (detail::is_tuple<Row>::value) {
            return std::tuple_size_v<Row>;
        } else {
            return boost::pfr::tuple_size_v<Row>;
        }
    }

    Row& current()
    {
        if (pos_ >= rows_.size()) {
            throw std::logic_error("claim_rows: read past the chunk's claim; run it with | sturdy::drain");
        }
        return rows_[pos_];
    }

    void advance() { ++pos_; }

    bool at_end()
    {
        if (pos_ < rows_.size()) {
            return false;
        }
        if (budget_ > 0 && !ended_) { // a short claim found all there was: the next finds nothing
            const auto n = std::exchange(budget_, 0);
            do { // a claim whose rows were all done meanwhile: the rows it locked are passed by now
                claim(n);
            } while (rows_.empty() && !ended_);
            return pos_ >= rows_.size();
        }
        return true; // the chunk's claim is read
    }

    static std::string joined(const std::vector<std::string>& keys)
    {
        std::string out;
        for (const auto& k : keys) {
            if (!out.empty()) {
                out += separator;
            }
            out += k;
        }
        return out;
    }

    void claim(std::size_t n)
    {
        rows_.clear();
        keys_.clear();
        pos_ = 0;
        const std::string excluded = joined(left_out_);
        const auto limit = static_cast<std::int64_t>(n);
        const bool from_floor = floor_.has_value();
        const result res = std::apply(
            [&](const auto&... a) {
                if (from_floor) {
                    const detail::params<sizeof...(Args) + 5> p(a..., namespace_, excluded, limit, started_, *floor_);
                    return db_->run(claim_from_sql_, detail::param_view::of(p));
                }
                const detail::params<sizeof...(Args) + 4> p(a..., namespace_, excluded, limit, started_);
                return db_->run(claim_sql_, detail::param_view::of(p));
            },
            args_);
        ++claims_;
        const auto f = static_cast<int>(fields());
        if (res.columns() != f + 1 + (resumes_ ? 1 : 0)) {
            throw usage_error("claim_rows: select yields " + std::to_string(res.columns() - 1 - (resumes_ ? 1 : 0)) +
                              " column(s) but the row type has " + std::to_string(f) + " field(s)");
        }
        rows_.reserve(static_cast<std::size_t>(res.rows()));
        keys_.reserve(static_cast<std::size_t>(res.rows()));
        for (int r = 0; r < res.rows(); ++r) {
            rows_.push_back(res.template row<Row>(r));
            auto k = res.template column<std::string>(r, f);
            if (k.find(separator) != std::string::npos) {
                throw usage_error("claim_rows: key '" + k +
                                  "' contains the character 0x1f, which claims use to "
                                  "separate keys");
            }
            keys_.push_back(std::move(k));
        }
        const bool short_claim = rows_.size() < n;
        if (resumes_ && res.rows() > 0) {
            floor_ = res.template column<std::string>(res.rows() - 1, f + 1);
        }
        if (short_claim && from_floor) {
            if (*db_->template query_one<bool>(detail::goes_back_sql, namespace_, detail::claim_lock_class)) {
                floor_.reset(); // the next claim starts from the beginning: rows released since, if any
            } else {
                ended_ = true; // a worker inside a chunk goes back when it ends
            }
        } else {
            ended_ = short_claim;
        }
        drop_finished();
    }

    // The claim's snapshot was taken when it started: a worker that committed rows while it ran
    // released their locks, and the claim took them though the ledger (or a failure record of
    // this run) now holds them. This statement sees that commit; it also finds the previous claim's keys the ledger
    // does not hold now that their chunk is over (failed, left unprocessed): this run does not claim them again. Both
    // kinds leave the batch (their locks last until the chunk ends, harmlessly).
    void drop_finished()
    {
        if (keys_.empty() && previous_.empty()) {
            return;
        }
        const auto found = db_->query<std::tuple<bool, std::string>>(finished_sql_, joined(keys_), joined(previous_),
                                                                     namespace_, started_);
        previous_ = keys_;
        if (found.empty()) {
            return;
        }
        std::unordered_set<std::string> drop;
        for (const auto& [done, k] : found) {
            if (!done) {
                left_out_.push_back(k);
            }
            drop.insert(k);
        }
        std::size_t out = 0;
        for (std::size_t i = 0; i < rows_.size(); ++i) {
            if (!drop.contains(keys_[i])) {
                if (out != i) { // never onto itself: a moved-onto-itself string may be emptied
                    rows_[out] = std::move(rows_[i]);
                    keys_[out] = std::move(keys_[i]);
                }
                ++out;
            }
        }
        rows_.resize(out);
        keys_.resize(out);
        previous_ = keys_;
    }

    // The rows read last run again in a new transaction: lock them again (waiting for a worker
    // that took them in between; the ledger then skips what it did).
    void hold_again()
    {
        if (keys_.empty()) {
            return;
        }
        const std::string held = joined(keys_);
        std::apply(
            [&](const auto&... a) {
                const detail::params<sizeof...(Args) + 1> p(a..., held);
                db_->run(relock_sql_, detail::param_view::of(p));
            },
            args_);
    }

    database* db_;
    std::string namespace_;
    std::tuple<Args...> args_;
    std::string claim_sql_;
    std::string claim_from_sql_; ///< claim_sql_ from floor_ on (with `resume`)
    bool resumes_ = false;
    std::optional<std::string> floor_; ///< where this worker's last claim ended, in `resume`
    std::string relock_sql_;
    std::string finished_sql_;          ///< detail::finished_sql for the ledger
    std::vector<Row> rows_;             ///< the last claim
    std::vector<std::string> keys_;     ///< their keys
    std::vector<std::string> previous_; ///< the claim before, whose chunk is over when the next claims
    std::vector<std::string> left_out_;
    std::size_t pos_ = 0;
    std::size_t budget_ = 0; ///< rows the chunk that just began may claim
    bool ended_ = false;
    std::size_t claims_ = 0;
    /// When this worker started, in the failure records' unix seconds: a key that failed since
    /// failed in this run, in this worker or another.
    std::int64_t started_ = store_detail::unix_seconds();
};

/// An input of `Row`s that each chunk claims inside its transaction (see the header comment).
/// `args` are the caller's parameters $1, $2 ... of `query`; texts are copied.
template <class Row, class Ledger, class... Args>
auto claim_rows(database& db, const Ledger& l, const claim_query& query, const Args&... args)
{
    return claimed_rows<Row, decltype(detail::owned(args))...>(db, l, query, detail::owned(args)...);
}

} // namespace sturdy::postgres
