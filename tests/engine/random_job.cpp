#include "random_job.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace random_job {

namespace {

/// Each item has a temper for the whole job, which decides how it fails in each run.
enum class temper { good, poison, flaky, moody, keyless, rerun_sensitive };

temper draw_temper(rng& r, const plan_options& options)
{
    const int p = r.below(100);
    if (p < 55) {
        return temper::good;
    }
    if (p < 66) {
        return temper::poison; // fails every run: quarantined after q runs
    }
    if (p < 78) {
        return temper::flaky; // transient for a few attempts
    }
    if (p < 90) {
        return temper::moody; // something different each run
    }
    if (p < 95) {
        return temper::keyless; // its key function throws in some runs
    }
    return options.call_count_faults ? temper::rerun_sensitive : temper::good;
}

std::optional<item_fault> draw_fault(rng& r, temper t)
{
    switch (t) {
    case temper::good: return std::nullopt;
    case temper::poison: return item_fault{item_fault::permanent};
    case temper::flaky: return item_fault{item_fault::transient, 1 + r.below(3)};
    case temper::moody:
        switch (r.below(4)) {
        case 0: return std::nullopt;
        case 1: return item_fault{item_fault::permanent};
        case 2: return item_fault{item_fault::transient, 1 + r.below(3)};
        default: return item_fault{item_fault::key_throws};
        }
    case temper::keyless: return r.chance(50) ? std::optional(item_fault{item_fault::key_throws}) : std::nullopt;
    case temper::rerun_sensitive: return item_fault{item_fault::fails_on_call, 2 + r.below(2)};
    }
    return std::nullopt;
}

commit_fault draw_commit_fault(rng& r) { return r.chance(70) ? commit_fault::transient : commit_fault::permanent; }

stop_rule draw_stop(rng& r, int items, int chunks, const plan_options& options)
{
    stop_rule s;
    if (!r.chance(30)) {
        return s;
    }
    s.give_back = static_cast<std::size_t>(r.below(3));
    switch (r.below(3)) {
    case 0:
        s.kind = stop_rule::before_chunk;
        s.at = 1 + r.below(chunks + 1);
        break;
    case 1:
        if (options.stop_at_nth_item) {
            s.kind = stop_rule::at_item;
            s.at = 1 + r.below(items + 1);
            break;
        }
        [[fallthrough]];
    default: s.kind = stop_rule::first_failure; break;
    }
    return s;
}

const char* name(item_fault::kind_t k)
{
    switch (k) {
    case item_fault::transient: return "transient";
    case item_fault::permanent: return "permanent";
    case item_fault::fatal: return "fatal";
    case item_fault::key_throws: return "key";
    case item_fault::fails_on_call: return "call";
    }
    return "?";
}

} // namespace

const char* outcome_name(sturdy::item_outcome o)
{
    const char* names[] = {"done", "skipped", "quarantined", "failed"};
    return names[static_cast<int>(o)];
}

job_plan make_plan(std::uint64_t seed, plan_options options)
{
    rng r{seed};
    job_plan p;
    p.seed = seed;
    p.items = r.below(61);
    p.chunk = static_cast<std::size_t>(1 + r.below(8));
    p.attempts = 1 + r.below(3);
    p.quarantine_after = 1 + r.below(3);
    if (r.chance(30)) {
        p.budget = static_cast<std::size_t>(2 + r.below(5));
    }
    std::vector<temper> tempers;
    for (int v = 0; v < p.items; ++v) {
        tempers.push_back(draw_temper(r, options));
    }
    const int chunks = (p.items + static_cast<int>(p.chunk) - 1) / static_cast<int>(p.chunk);
    p.runs.resize(static_cast<std::size_t>(1 + r.below(4)));
    for (auto& run : p.runs) {
        for (int v = 0; v < p.items; ++v) {
            if (auto f = draw_fault(r, tempers[static_cast<std::size_t>(v)])) {
                run.items[v] = *f;
            }
        }
        if (p.items > 0 && r.chance(12)) { // something no item can get past: the run stops there
            run.items[r.below(p.items)] = item_fault{item_fault::fatal, 1 + r.below(2)};
        }
        for (int chunk = 1; chunk <= chunks; ++chunk) {
            if (!r.chance(10)) {
                continue;
            }
            for (int attempt = 1; attempt <= 3; ++attempt) {
                const commit_fault f = draw_commit_fault(r);
                run.commits[{chunk, attempt}] = f;
                if (f == commit_fault::permanent || !r.chance(40)) {
                    break;
                }
            }
        }
        run.stop = draw_stop(r, p.items, chunks, options);
    }
    return p;
}

void run_plan::strike(int v, int attempt, int call) const
{
    const auto f = items.find(v);
    if (f == items.end()) {
        return;
    }
    const std::string what = "item " + std::to_string(v) + " attempt " + std::to_string(attempt);
    switch (f->second.kind) {
    case item_fault::transient:
        if (attempt <= f->second.n) {
            throw sturdy::transient_error("busy: " + what);
        }
        return;
    case item_fault::permanent: throw std::runtime_error("bad: " + what);
    case item_fault::fatal:
        if (attempt >= f->second.n) {
            throw sturdy::failure_error(sturdy::make_error_code(sturdy::errc::store_unavailable), "down: " + what);
        }
        throw sturdy::transient_error("busy before down: " + what);
    case item_fault::fails_on_call:
        if (call == f->second.n) {
            throw std::runtime_error("bad on call " + std::to_string(call) + ": " + what);
        }
        return;
    case item_fault::key_throws: return; // the key function threw already
    }
}

namespace {
/// Text from its parts, appended one by one: GCC 12 at -O3 warns (-Wrestrict, a false positive)
/// on "literal" + std::string.
template <class... Parts> std::string cat(const Parts&... parts)
{
    std::string out;
    (out += ... += parts);
    return out;
}
using std::to_string;
} // namespace

std::string describe(const job_plan& plan)
{
    std::string s =
        cat("seed ", to_string(plan.seed), ": ", to_string(plan.items), " items, chunk ", to_string(plan.chunk),
            ", attempts ", to_string(plan.attempts), ", quarantine_after ", to_string(plan.quarantine_after),
            ", failure_budget ", plan.budget ? to_string(*plan.budget) : std::string("none"), "\n");
    for (std::size_t run = 0; run < plan.runs.size(); ++run) {
        const run_plan& rp = plan.runs[run];
        s += cat("  run ", to_string(run + 1), ": items");
        for (const auto& [v, f] : rp.items) {
            s += cat(" ", to_string(v), ":", name(f.kind));
            if (f.kind == item_fault::transient || f.kind == item_fault::fatal || f.kind == item_fault::fails_on_call) {
                s += to_string(f.n);
            }
        }
        s += "; commits";
        for (const auto& [at, f] : rp.commits) {
            s += cat(" chunk ", to_string(at.first), " attempt ", to_string(at.second), ":",
                     f == commit_fault::transient ? "transient" : "permanent");
        }
        const char* stops[] = {"never", "before chunk", "at on_item event", "at the first failure"};
        s += cat("; stop ", stops[rp.stop.kind]);
        if (rp.stop.kind == stop_rule::before_chunk || rp.stop.kind == stop_rule::at_item) {
            s += cat(" ", to_string(rp.stop.at));
        }
        if (rp.stop.kind == stop_rule::at_item || rp.stop.kind == stop_rule::first_failure) {
            s += cat(" giving back ", to_string(rp.stop.give_back));
        }
        s += "\n";
    }
    return s;
}

std::string line(const event& e)
{
    switch (e.kind) {
    case event::run_start: return "start";
    case event::chunk: return cat("chunk after ", to_string(e.a));
    case event::item:
        return cat("item ", to_string(e.item_key), " ", outcome_name(e.outcome), e.reason.empty() ? "" : ": ",
                   e.reason);
    case event::successes: return cat("successes ", to_string(e.a), "/", to_string(e.b), "/", to_string(e.c));
    case event::commit:
        return cat("commit ", to_string(e.a), " items, ", to_string(e.b), " done, last ",
                   e.last ? to_string(*e.last) : std::string("none"));
    case event::commit_failed: return cat("commit failed (injected): ", e.reason);
    case event::verdict: return cat("verdict: ", e.reason, ", giving back ", to_string(e.a));
    case event::fatal: return cat("fatal error from item ", to_string(e.item_key), " (injected)");
    case event::chunk_end: return cat("ended, done ", to_string(e.a));
    case event::failure: return cat("failure ", to_string(e.item_key));
    case event::run_end: return "end";
    }
    return "?";
}

void commit_faults::before_commit(const sturdy::chunk_committing<int>& /*unused*/)
{
    const auto f = plan->commits.find({chunk, ++attempt});
    if (f == plan->commits.end()) {
        return;
    }
    const bool transient = f->second == commit_fault::transient;
    const std::string why = std::string(transient ? "audit busy" : "audit refused") + " (chunk " +
                            std::to_string(chunk) + ", commit attempt " + std::to_string(attempt) + ")";
    log->emplace_back(event::commit_failed).reason = why;
    if (transient) {
        throw sturdy::transient_error(why);
    }
    throw std::runtime_error(why);
}

sturdy::verdict stopper::before_chunk(const sturdy::chunk_starting& /*unused*/)
{
    if (rule.kind == stop_rule::before_chunk && ++chunks == rule.at) {
        return stop("stopper: before chunk " + std::to_string(chunks), 0);
    }
    return sturdy::verdict::go_on();
}

sturdy::verdict stopper::on_item(const sturdy::item_settled& e)
{
    if (fired) {
        return sturdy::verdict::go_on();
    }
    ++items;
    if ((rule.kind == stop_rule::at_item && items == rule.at) ||
        (rule.kind == stop_rule::first_failure && e.outcome == sturdy::item_outcome::failed)) {
        fired = true; // once a run: a chunk run whole again shows its items again
        return stop("stopper: at item " + e.item_key.str(), rule.give_back);
    }
    return sturdy::verdict::go_on();
}

sturdy::verdict stopper::stop(std::string why, std::size_t give_back)
{
    event& ev = log->emplace_back(event::verdict, give_back);
    ev.reason = why;
    return sturdy::verdict::stop(std::move(why), give_back);
}

std::string describe(const store_state& s)
{
    auto list = [](const std::set<int>& keys) {
        std::string out;
        for (int k : keys) {
            out += ' ';
            out += std::to_string(k);
        }
        return out;
    };
    std::string out = "effect rows:" + list(s.effect) + "\nledger marks:" + list(s.marks) + "\nfailure records:";
    for (const auto& f : s.failures) {
        out += ' ';
        out += std::to_string(f.item_key);
        out += '(';
        out += std::to_string(f.runs);
        out += f.quarantined ? ", quarantined)" : ")";
    }
    return out + "\n";
}

namespace {
template <class Ledger> std::vector<record> records_of(Ledger ledger)
{
    std::vector<record> out;
    for (const auto& f : ledger.failures()) {
        out.push_back({static_cast<int>(f.item_key.integer()), f.runs, f.quarantined});
    }
    std::sort(out.begin(), out.end());
    return out;
}
} // namespace

store_state memory_store::state()
{
    store_state s;
    for (const auto& [k, v] : effect_->rows()) {
        s.effect.insert(static_cast<int>(k.integer()));
    }
    for (const auto& [k, v] : db_.table(std::string("sturdy_ledger:") + ledger_name).rows()) {
        s.marks.insert(static_cast<int>(k.integer()));
    }
    s.failures = records_of(ledger());
    return s;
}

namespace {
/// An empty database with the effect table and sturdy's tables, made once: each store starts
/// from a copy of it, as creating a database file waits for the disk several times.
const std::string& template_file()
{
    static const test::temp_dir dir;
    static const std::string file = [] {
        std::string f = dir.file("template.db");
        sturdy::sqlite::database db(f);
        db.exec("CREATE TABLE effect(id INTEGER PRIMARY KEY)");
        (void)db.ledger(ledger_name);
        return f;
    }();
    return file;
}

std::string fresh_copy_of_template(const test::temp_dir& dir)
{
    std::string file = dir.file("sums.db");
    std::filesystem::copy_file(template_file(), file);
    return file;
}
} // namespace

sqlite_store::sqlite_store()
    : db_(fresh_copy_of_template(dir_), sturdy::sqlite::options{.synchronous = sturdy::sqlite::synchronous_mode::off})
{
}

store_state sqlite_store::state()
{
    store_state s;
    for (int k : db_.query<int>("SELECT id FROM effect")) {
        s.effect.insert(k);
    }
    for (int k : db_.query<int>("SELECT item_key FROM sturdy_ledger WHERE namespace = ?", ledger_name)) {
        s.marks.insert(k);
    }
    s.failures = records_of(ledger());
    return s;
}

store_state sqlite_effect_store::state()
{
    store_state s = inner_.state(); // effect rows, sturdy_ledger marks, failure records
    if (!s.marks.empty()) {
        s.marks = {-1};
        return s;
    }
    s.marks = s.effect;
    return s;
}

std::string counts(const sturdy::report& r)
{
    return "seen " + std::to_string(r.seen) + ", done " + std::to_string(r.done) + ", skipped " +
           std::to_string(r.skipped) + ", failed " + std::to_string(r.failed) + ", quarantined " +
           std::to_string(r.quarantined) + ", awaiting_retry " + std::to_string(r.awaiting_retry) + ", remaining " +
           std::to_string(r.remaining) + (r.stopped_early.empty() ? ", not stopped" : ", stopped early");
}

std::vector<std::uint64_t> seeds(std::uint64_t fallback)
{
    if (const char* one = std::getenv("STURDY_SUMS_SEED"); one != nullptr && *one != '\0') {
        return {std::stoull(one)};
    }
    std::uint64_t n = fallback;
    if (const char* many = std::getenv("STURDY_SUMS_SEEDS"); many != nullptr && *many != '\0') {
        n = std::stoull(many);
    }
    std::vector<std::uint64_t> out;
    for (std::uint64_t s = 1; s <= n; ++s) {
        out.push_back(s);
    }
    return out;
}

} // namespace random_job
