#pragma once
/// The bookkeeping of a run that needs no item type, compiled once under
/// STURDY_SEPARATE_COMPILATION (the typed engine, detail/engine.hpp, is a thin layer over it):
/// the status of each item of the chunk in flight, how a failed attempt settles, when the fast
/// path is tried, what `on_item` and `before_commit` are told, which failure records wait for
/// a failure streak to end, and how a chunk adds up into the report. Each rule has one home
/// here, and both paths call it.

#include <sturdy/concepts.hpp>
#include <sturdy/config.hpp>
#include <sturdy/error.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/key.hpp>
#include <sturdy/report.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sturdy::detail {

inline constexpr std::size_t no_index = static_cast<std::size_t>(-1);

/// The attempt rule, shared by an isolated item, a chunk run again after its commit failed, and
/// `retry_bounded(...).run(work)`: only a transient failure is tried again, and only while
/// attempts are left.
constexpr bool retry_again(failure_kind kind, int attempts_made, int max_attempts) noexcept
{
    return kind == failure_kind::transient && attempts_made < max_attempts;
}

/// Runs `try_once(n)` for attempts n = attempts_made + 1, ... until it succeeds (returns no
/// failure kind) or `retry_again` says no; `wait(n)` runs before attempt n + 1. True on success.
template <class Try, class Wait> bool attempt_loop(int attempts_made, int max_attempts, Try&& try_once, Wait&& wait)
{
    for (int n = attempts_made + 1;; ++n) {
        if (n > 1) {
            wait(n - 1);
        }
        const auto kind = try_once(n);
        if (!kind) {
            return true;
        }
        if (!retry_again(*kind, n, max_attempts)) {
            return false;
        }
    }
}

enum class item_state : unsigned char { pending, done, skipped, quarantined, failed, unprocessed };

/// One item of the chunk in flight on the careful path (its value is kept apart, typed).
struct item_status {
    key item_key;
    std::string reason; ///< why it failed
    int attempts = 0;   ///< failed attempts in this attempt of the chunk
    failure_kind kind = failure_kind::permanent;
    item_state initial = item_state::pending; ///< what a chunk run again resets it to
    item_state st = item_state::pending;
    bool isolate = false;         ///< runs alone in its own savepoint (it failed once in a shared one)
    bool quarantined_now = false; ///< this run's failure record put it in quarantine
    bool failed_before = false;   ///< its key had a failure record when the run started
    bool held = false;            ///< its failure record waits for the streak to end (see held_)
};

/// What `before_commit` is told: the index of its last item (no_index: none), and the counts.
struct commit_summary {
    std::size_t last = no_index;
    std::size_t items = 0;
    std::size_t done = 0;
};

class chunk_book {
public:
    // --- set once by the engine ----------------------------------------------------------
    std::size_t chunk_size = 1;
    int max_attempts = 1;
    bool per_item = false;     ///< isolation::per_item: a savepoint per item, nothing re-run
    bool fast_allowed = false; ///< a store, and isolation::per_chunk
    /// A hook may stop the run from on_item and give failures back: the records of failures
    /// that look like an outage wait until an item after them succeeds.
    bool holds_back = false;
    std::size_t max_segment = 32;

    report rep;
    std::vector<item_status> items;      ///< the chunk in flight, careful path
    std::vector<std::size_t> fast_skips; ///< the chunk's items a fast attempt found done
    std::string stop_reason;
    std::size_t stop_index = no_index; ///< the run stops before this item of the chunk
    /// An item of this run failed with no failure record to read it back by (its key function
    /// threw, or its chunk could not commit): from then on `before_commit` has no last item.
    bool unrecorded_failure = false;
    /// The items of a chunk that could not commit are shown again with their final outcome
    /// (chunk_failed): all of them, whatever a stop in the failed attempt decided.
    bool showing_again = false;

    // --- keys ------------------------------------------------------------------------------
    /// The ledger's failure records at the run's start: key -> quarantined.
    STURDY_DECL void load_failures(std::vector<failure_info> records);
    [[nodiscard]] bool quarantined(const key& k) const
    {
        if (failing_.empty()) {
            return false;
        }
        const auto f = failing_.find(k);
        return f != failing_.end() && f->second;
    }
    [[nodiscard]] bool failed_before(const key& k) const { return !failing_.empty() && failing_.contains(k); }
    /// The position of the next item read (its key when it has none).
    std::int64_t next_position() { return static_cast<std::int64_t>(rep.seen++); }
    /// Why an item failed when its key function threw (called in the handler).
    [[nodiscard]] STURDY_DECL static std::string key_failure_reason(std::int64_t position);

    // --- the fast path and the scheduler ---------------------------------------------------
    [[nodiscard]] bool fast_path_ready() const
    {
        return fast_allowed && !per_item && careful_chunks_left_ == 0 && stop_index == no_index;
    }
    /// A new chunk: nothing from the last one's careful run is left.
    STURDY_DECL void begin_chunk();
    /// A fast chunk committed: its counts into the report. Returns the failures final for this
    /// run it settled (items whose key function threw, held-back records it wrote), in order,
    /// for `on_failure` and the report.
    [[nodiscard]] STURDY_DECL std::vector<failure_record> fast_chunk_committed(std::size_t read, const successes& s);
    /// A fast attempt gave way to the careful path.
    STURDY_DECL void fast_attempt_failed();
    /// A chunk ran on the careful path (`after_fast`: after a failed fast attempt).
    STURDY_DECL void careful_chunk_ended(bool after_fast);
    /// An item of a fast chunk whose key function threw: reported after the chunk's commit.
    STURDY_DECL void note_fast_key_failure(std::int64_t position);
    /// The failure records held back from earlier chunks are written in this chunk's
    /// transaction: an item after them succeeded, so their streak is over.
    void release_held() { held_released_ = held_.size(); }
    [[nodiscard]] bool holds_failures() const { return !held_.empty(); }
    /// `before_commit` of a fast chunk that read `read` items, `done` of them done.
    [[nodiscard]] STURDY_DECL commit_summary fast_commit_summary(std::size_t read, std::size_t done) const;

    // --- the careful path -----------------------------------------------------------------
    STURDY_DECL item_status& add_item(key k);
    STURDY_DECL item_status& add_key_failure(std::int64_t position, std::string reason);
    /// A new attempt of the chunk: every item back to what it was read as.
    STURDY_DECL void begin_chunk_attempt(bool first);
    /// A failed attempt of item `i`; true when the failure is final for this run (permanent,
    /// out of attempts, or fatal: then the run stops before it and the item is left for later).
    STURDY_DECL bool settle_failure(std::size_t i, failure_kind kind, std::string reason);
    /// The chunk's first item a fast attempt ran into a failure at: isolated, or failed.
    STURDY_DECL void resume_after_fast_failure(std::size_t i, failure_kind kind, std::string reason);
    /// The chunk's first item a fast attempt ran into a failure at, with no failure to settle
    /// (another writer's row for its key): it runs alone on the careful path.
    STURDY_DECL void isolate_after_fast_failure(std::size_t i);
    [[nodiscard]] std::size_t end_of_run() const { return std::min(items.size(), stop_index); }
    [[nodiscard]] std::size_t segment_limit() const { return segment_limit_; }
    /// A segment from `start` failed at `failed_at`: the items before it, undone, run again, and
    /// the next segments are shorter.
    STURDY_DECL void segment_failed(std::size_t start, std::size_t failed_at);
    /// A segment released: the next may be longer.
    STURDY_DECL void segment_released();

    // --- what the hooks are told ----------------------------------------------------------
    /// Items [shown, up_to) are final for this attempt of the chunk: each is told once, in order.
    [[nodiscard]] std::size_t shown() const { return shown_; }
    [[nodiscard]] STURDY_DECL item_settled settled_event(std::size_t i) const;
    /// After item `i` was told to the hooks: the streak of held-back failures grows or ends.
    STURDY_DECL void after_shown(std::size_t i);
    /// A verdict that stops the run at item `i`: its latest `give_back` held-back failures
    /// become remaining, and the chunk stops after item `i`.
    STURDY_DECL void apply_stop(std::string reason, std::size_t give_back, std::size_t i);
    STURDY_DECL void stop_before_chunk(std::string reason);

    // --- the chunk's end ------------------------------------------------------------------
    /// Items not run (or, key function thrown, not reached) because the run stops in the chunk.
    STURDY_DECL void leave_unprocessed();
    /// Failure records to write in the chunk's transaction, before its commit: its items' (not
    /// held back), and those held back from earlier chunks when the streak ended in this one.
    struct to_record {
        const key* item_key;
        const std::string* reason;
        item_status* item; ///< null for one held back from an earlier chunk
    };
    [[nodiscard]] STURDY_DECL std::vector<to_record> failures_to_record();
    /// The record just written for `r` put its key in quarantine.
    void recorded(const to_record& r, bool quarantined)
    {
        if (r.item != nullptr) {
            r.item->quarantined_now = quarantined;
        } else {
            held_quarantined_.push_back(quarantined);
        }
    }
    [[nodiscard]] STURDY_DECL commit_summary careful_commit_summary() const;
    /// The chunk ended: its items into the report; `committed`: with its failure records. The
    /// failures final for this run are returned, in order, for `on_failure` and the report.
    [[nodiscard]] STURDY_DECL std::vector<failure_record> settle_chunk(bool committed);
    /// The chunk's transaction failed for good (BEGIN, COMMIT, a savepoint, a hook), as
    /// `attempt_loop` decided, after `attempts` attempts: nothing it did remains. A fatal failure
    /// stops the run (its items are left for later); otherwise its items fail, with no record.
    STURDY_DECL void chunk_failed(failure_kind kind, const std::string& reason, int attempts);
    /// The run ends with failure records still held back (no verdict gave them back): they are
    /// written in a transaction of their own (release_held, failures_to_record), then settled.
    [[nodiscard]] STURDY_DECL std::vector<failure_record> settle_held(bool committed);
    /// The report's end: the input's unread items, and why the run stopped.
    STURDY_DECL void finish(std::size_t unread);

private:
    void stop_fatally(const std::string& reason, std::size_t i);

    static constexpr std::size_t min_segment = 8;
    static constexpr std::size_t max_fast_backoff = 64;

    std::unordered_map<key, bool> failing_; ///< keys with failure records -> quarantined
    std::size_t segment_limit_ = 32;
    std::size_t fast_backoff_ = 0;        ///< careful chunks after the next failed fast attempt
    std::size_t careful_chunks_left_ = 0; ///< chunks to run on the careful path before a fast attempt
    bool failed_in_chunk_ = false;        ///< an item of the chunk in flight failed for good
    bool fatal_stop_ = false;             ///< stop_reason is a fatal failure's
    std::size_t shown_ = 0;
    std::vector<failure_record> fast_key_failures_;
    /// Failures that look like an outage (item_settled::counts_as_outage), from earlier chunks,
    /// whose records wait until an item after them succeeds; a verdict may give them back.
    std::vector<failure_record> held_;
    std::size_t held_released_ = 0;          ///< held_'s first n are written in this chunk
    std::vector<bool> held_quarantined_;     ///< for each written, whether it was quarantined
    std::vector<std::size_t> held_in_chunk_; ///< the chunk's own held-back failures, in order
    /// Earlier chunks' held failures a verdict gave back in this attempt of the chunk: remaining
    /// once the chunk ends, held again if the attempt is rolled back and run again.
    std::vector<failure_record> given_back_prev_;
};

} // namespace sturdy::detail

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/detail/impl/chunk_book.ipp>
#endif
