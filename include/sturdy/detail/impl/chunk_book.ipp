#pragma once
/// Definitions for sturdy/detail/chunk_book.hpp (see sturdy/config.hpp).

#include <sturdy/detail/chunk_book.hpp>

#include <algorithm>
#include <exception>
#include <utility>

namespace sturdy::detail {

STURDY_DECL void chunk_book::load_failures(std::vector<failure_info> records)
{
    failing_.reserve(records.size());
    for (auto& f : records) {
        failing_.emplace(std::move(f.item_key), f.quarantined);
    }
}

STURDY_DECL std::string chunk_book::key_failure_reason(std::int64_t position)
{
    return "key function threw: " + describe(std::current_exception()) + " (item #" + std::to_string(position) + ")";
}

// --- the fast path and the scheduler --------------------------------------------------------
// After a failed fast attempt the next chunks run on the careful path, whose segments lose less
// to a failure: 1 chunk after the first failed attempt, twice as many after each further one
// (up to max_fast_backoff), half as many after each fast chunk that commits; a careful chunk
// with a failure starts the count again. Failures every chunk or so then cost a segment's re-run
// each, not a chunk's, and a rare failure still leaves the fast path soon.

STURDY_DECL void chunk_book::begin_chunk()
{
    items.clear();
    fast_skips.clear();
    held_released_ = 0;
    held_quarantined_.clear();
    held_in_chunk_.clear();
    shown_ = 0;
    failed_in_chunk_ = false;
    showing_again = false;
}

STURDY_DECL std::vector<failure_record> chunk_book::fast_chunk_committed(std::size_t read, const successes& s)
{
    fast_backoff_ /= 2;
    rep.seen += read;
    rep.done += s.done;
    rep.skipped += s.skipped;
    rep.quarantined += s.quarantined;
    rep.chunks += read > 0 ? 1 : 0; // a claiming input's last claim may find nothing
    std::vector<failure_record> settled = settle_held(true);
    for (auto& rec : fast_key_failures_) {
        unrecorded_failure = true;
        ++rep.awaiting_retry; // nothing marks it: the next run reads it and tries again
        settled.push_back(std::move(rec));
    }
    fast_key_failures_.clear();
    return settled;
}

STURDY_DECL void chunk_book::fast_attempt_failed()
{
    fast_backoff_ = std::min(max_fast_backoff, std::max<std::size_t>(1, fast_backoff_ * 2));
    careful_chunks_left_ = fast_backoff_;
    fast_key_failures_.clear(); // the careful path computes keys (and their failures) again
    held_released_ = 0;
    held_quarantined_.clear();
}

STURDY_DECL void chunk_book::careful_chunk_ended(bool after_fast)
{
    if (failed_in_chunk_) {
        careful_chunks_left_ = std::max(careful_chunks_left_, fast_backoff_);
    } else if (!after_fast && careful_chunks_left_ > 0) {
        --careful_chunks_left_;
    }
}

STURDY_DECL void chunk_book::note_fast_key_failure(std::int64_t position)
{
    fast_key_failures_.push_back(
        failure_record{key(position), key_failure_reason(position), failure_kind::permanent, 1});
}

STURDY_DECL commit_summary chunk_book::fast_commit_summary(std::size_t read, std::size_t done) const
{
    commit_summary c{no_index, read, done};
    // Not past an item of an earlier chunk that has no failure record (yet): the next run must
    // read it again.
    if (read > 0 && !unrecorded_failure && held_released_ == held_.size()) {
        c.last = read - 1;
    }
    return c;
}

// --- the careful path -----------------------------------------------------------------------

STURDY_DECL item_status& chunk_book::add_item(key k)
{
    item_status& e = items.emplace_back();
    e.item_key = std::move(k);
    if (!failing_.empty()) {
        const auto f = failing_.find(e.item_key);
        if (f != failing_.end()) {
            e.failed_before = true;
            if (f->second) {
                e.initial = e.st = item_state::quarantined;
            }
        }
    }
    return e;
}

STURDY_DECL item_status& chunk_book::add_key_failure(std::int64_t position, std::string reason)
{
    item_status& e = items.emplace_back();
    e.item_key = key(position);
    e.reason = std::move(reason);
    e.initial = e.st = item_state::failed;
    return e;
}

STURDY_DECL void chunk_book::begin_chunk_attempt(bool first)
{
    if (!first) {
        for (auto& e : items) {
            e.st = e.initial;
            e.isolate = e.quarantined_now = e.held = false;
            e.attempts = 0;
            if (e.initial == item_state::pending) {
                e.reason.clear();
            }
        }
        stop_reason.clear();
        stop_index = no_index;
        fatal_stop_ = false;
        for (; !given_back_prev_.empty(); given_back_prev_.pop_back()) {
            held_.push_back(std::move(given_back_prev_.back()));
        }
    }
    held_released_ = 0;
    held_quarantined_.clear();
    held_in_chunk_.clear();
    shown_ = 0;
    failed_in_chunk_ = false;
}

STURDY_DECL bool chunk_book::settle_failure(std::size_t i, failure_kind kind, std::string reason)
{
    item_status& e = items[i];
    ++e.attempts;
    e.kind = kind;
    e.reason = std::move(reason);
    if (kind == failure_kind::fatal) {
        stop_fatally(e.reason, i);
        e.st = item_state::unprocessed;
        return true;
    }
    if (retry_again(kind, e.attempts, max_attempts)) {
        return false;
    }
    e.st = item_state::failed;
    failed_in_chunk_ = true;
    return true;
}

STURDY_DECL void chunk_book::resume_after_fast_failure(std::size_t i, failure_kind kind, std::string reason)
{
    if (i >= items.size() || items[i].st != item_state::pending) {
        return;
    }
    if (!settle_failure(i, kind, std::move(reason))) {
        items[i].isolate = true;
    }
    segment_failed(0, i);
}

STURDY_DECL void chunk_book::isolate_after_fast_failure(std::size_t i)
{
    if (i >= items.size() || items[i].st != item_state::pending) {
        return;
    }
    items[i].isolate = true;
    segment_failed(0, i);
}

STURDY_DECL void chunk_book::segment_failed(std::size_t start, std::size_t failed_at)
{
    for (std::size_t k = start; k < failed_at; ++k) {
        if (items[k].st == item_state::done || items[k].st == item_state::skipped) {
            items[k].st = item_state::pending; // their writes were just undone: run them again
        }
    }
    segment_limit_ = std::clamp<std::size_t>((failed_at - start + 1) / 2, min_segment, max_segment);
}

STURDY_DECL void chunk_book::segment_released()
{
    segment_limit_ = std::min({chunk_size, max_segment, segment_limit_ * 2});
}

STURDY_DECL void chunk_book::stop_fatally(const std::string& reason, std::size_t i)
{
    stop_reason = "stopped: " + reason + " (no item can succeed until this is fixed)";
    stop_index = i;
    fatal_stop_ = true;
}

// --- what the hooks are told ----------------------------------------------------------------

STURDY_DECL item_settled chunk_book::settled_event(std::size_t i) const
{
    const item_status& e = items[i];
    const bool failed = e.st == item_state::failed;
    const item_outcome what = failed                            ? item_outcome::failed
                              : e.st == item_state::done        ? item_outcome::done
                              : e.st == item_state::quarantined ? item_outcome::quarantined
                                                                : item_outcome::skipped;
    return item_settled{what, e.item_key, failed ? std::string_view(e.reason) : std::string_view(), e.kind,
                        e.failed_before};
}

STURDY_DECL void chunk_book::after_shown(std::size_t i)
{
    shown_ = i + 1;
    item_status& e = items[i];
    if (e.st == item_state::done) { // the streak is over: its records are written with this chunk
        held_released_ = held_.size();
        for (const std::size_t h : held_in_chunk_) {
            items[h].held = false;
        }
        held_in_chunk_.clear();
    } else if (holds_back && e.initial != item_state::failed && settled_event(i).counts_as_outage()) {
        e.held = true;
        held_in_chunk_.push_back(i);
    }
}

STURDY_DECL void chunk_book::apply_stop(std::string reason, std::size_t give_back, std::size_t i)
{
    stop_reason = std::move(reason);
    stop_index = i;
    // The latest held-back failures first: this chunk's, then those of earlier chunks not yet
    // written. They were never recorded, so giving them back leaves nothing to undo.
    for (; give_back > 0 && !held_in_chunk_.empty(); --give_back) {
        item_status& e = items[held_in_chunk_.back()];
        e.held = false;
        e.st = item_state::unprocessed;
        held_in_chunk_.pop_back();
    }
    for (; give_back > 0 && held_.size() > held_released_; --give_back) {
        given_back_prev_.push_back(std::move(held_.back()));
        held_.pop_back();
    }
}

STURDY_DECL void chunk_book::stop_before_chunk(std::string reason) { stop_reason = std::move(reason); }

// --- the chunk's end ------------------------------------------------------------------------

STURDY_DECL void chunk_book::leave_unprocessed()
{
    if (stop_index >= items.size()) {
        return;
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
        item_status& e = items[i];
        // Not run, or not reached (an item whose key function threw, one in quarantine): the
        // next run reads them again.
        if (e.st == item_state::pending ||
            (i > stop_index && (e.initial != item_state::pending || (e.st == item_state::failed && i >= shown_)))) {
            e.st = item_state::unprocessed;
        }
    }
}

STURDY_DECL std::vector<chunk_book::to_record> chunk_book::failures_to_record()
{
    std::vector<to_record> out;
    held_quarantined_.clear();
    for (std::size_t h = 0; h < held_released_; ++h) {
        out.push_back(to_record{&held_[h].item_key, &held_[h].reason, nullptr});
    }
    for (auto& e : items) {
        if (e.st == item_state::failed && e.initial != item_state::failed && !e.held) {
            out.push_back(to_record{&e.item_key, &e.reason, &e});
        }
    }
    return out;
}

STURDY_DECL commit_summary chunk_book::careful_commit_summary() const
{
    commit_summary c{no_index, items.size(), 0};
    for (const auto& e : items) {
        c.done += e.st == item_state::done ? 1 : 0;
    }
    if (unrecorded_failure || held_released_ < held_.size() || !given_back_prev_.empty()) {
        return c; // an earlier chunk's item has no failure record (yet): not past it
    }
    // The last item before one the next run must read again: left unprocessed, failed with no
    // failure record (its key function threw), or held back.
    for (std::size_t i = 0; i < items.size(); ++i) {
        const item_status& e = items[i];
        if (e.st == item_state::unprocessed || e.initial == item_state::failed || e.held) {
            break;
        }
        c.last = i;
    }
    return c;
}

STURDY_DECL std::vector<failure_record> chunk_book::settle_chunk(bool committed)
{
    std::vector<failure_record> settled;
    rep.chunks += items.empty() ? 0 : 1; // a claiming input's last claim may find nothing
    rep.remaining += given_back_prev_.size();
    given_back_prev_.clear();
    if (committed) {
        settled = settle_held(true);
    } else {
        held_released_ = 0; // not written: still held
        held_quarantined_.clear();
    }
    for (auto& e : items) {
        switch (e.st) {
        case item_state::done: ++rep.done; break;
        case item_state::skipped: ++rep.skipped; break;
        case item_state::quarantined: ++rep.quarantined; break;
        case item_state::unprocessed: ++rep.remaining; break;
        case item_state::failed:
            if (e.held) { // settled when its streak ends, or given back
                held_.push_back(failure_record{e.item_key, e.reason, e.kind, std::max(e.attempts, 1)});
                break;
            }
            if (!committed || e.initial == item_state::failed) {
                unrecorded_failure = true; // the watermark must not pass it (a later run reads it again)
            }
            if (e.quarantined_now) {
                ++rep.quarantined;
            } else {
                ++rep.awaiting_retry; // with a failure record, or (its key function threw) none
            }
            settled.push_back(failure_record{e.item_key, e.reason, e.kind, std::max(e.attempts, 1)});
            break;
        case item_state::pending: break; // unreachable: a chunk's end leaves no item pending
        }
    }
    held_in_chunk_.clear();
    return settled;
}

STURDY_DECL std::vector<failure_record> chunk_book::settle_held(bool committed)
{
    std::vector<failure_record> settled;
    for (std::size_t h = 0; h < held_released_; ++h) {
        const bool quarantined_now = committed && h < held_quarantined_.size() && held_quarantined_[h];
        if (!committed) {
            unrecorded_failure = true;
        }
        if (quarantined_now) {
            ++rep.quarantined;
        } else {
            ++rep.awaiting_retry;
        }
        settled.push_back(std::move(held_[h]));
    }
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(held_released_));
    held_released_ = 0;
    held_quarantined_.clear();
    return settled;
}

STURDY_DECL void chunk_book::chunk_failed(failure_kind kind, const std::string& reason, int attempts)
{
    // A key the failed attempt found done was done by a committed transaction (an earlier run,
    // or another worker): the rollback does not change that, and the item stays skipped.
    std::vector<bool> skipped(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        skipped[i] = items[i].st == item_state::skipped;
    }
    for (const std::size_t i : fast_skips) {
        if (i < items.size()) {
            skipped[i] = true;
        }
    }
    // A fatal failure of an item in the failed attempt still says that no item can succeed:
    // the run stops, as it would have after the commit.
    const std::string fatal_before = fatal_stop_ ? stop_reason : std::string();
    begin_chunk_attempt(false); // what the failed attempt did was rolled back
    showing_again = true;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (skipped[i]) {
            items[i].st = item_state::skipped;
        }
    }
    if (kind == failure_kind::fatal || !fatal_before.empty()) {
        if (kind == failure_kind::fatal) {
            stop_fatally(reason, 0);
        } else {
            stop_reason = fatal_before;
            stop_index = 0;
            fatal_stop_ = true;
        }
        // The run stops before the chunk: all of it is left for the next run, and not shown.
        showing_again = false;
        for (auto& e : items) {
            e.st = item_state::unprocessed;
        }
        return;
    }
    for (auto& e : items) {
        if (e.st == item_state::pending) {
            e.st = item_state::failed;
            e.kind = kind;
            e.attempts = attempts;
            e.reason = "its chunk could not commit: " + reason;
        }
    }
}

STURDY_DECL void chunk_book::finish(std::size_t unread)
{
    rep.remaining += unread;
    rep.stopped_early = stop_reason;
}

} // namespace sturdy::detail
