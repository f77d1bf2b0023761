#pragma once
/// The careful path: the chunk's items are read into the book (a status each) and run with
/// savepoints. Successful items share one (a segment); a failure rolls it back, runs the items
/// before it again, and isolates the failing item in savepoints of its own, one per attempt.
/// Segments shrink after a failure and grow back after a clean one (chunk_book.ipp), so
/// scattered failures cost few re-runs. A chunk whose transaction fails (BEGIN, COMMIT, a
/// savepoint, a hook) runs whole again, as `retry_bounded` allows: the same attempt loop as an
/// isolated item's (chunk_book.hpp's attempt_loop).

#include <sturdy/detail/fast_path.hpp>

#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

namespace sturdy::detail {

template <class Job> class careful_path : public fast_path<Job> {
protected:
    using fast_path<Job>::fast_path;
    using traits = pipeline_traits<Job>;
    using value_type = typename traits::value_type;

    /// The item at the input's position, read into the book with its key.
    template <class Ref> void read_item(Ref&& ref)
    {
        const std::int64_t position = this->book_.next_position();
        const value_type& v = this->values_.emplace_back(std::forward<Ref>(ref));
        std::string why;
        item_state first = item_state::pending;
        key k = this->key_of(v, position, first, [&] { why = chunk_book::key_failure_reason(position); });
        if (first == item_state::failed) {
            this->book_.add_key_failure(position, std::move(why));
        } else {
            this->book_.add_item(std::move(k));
        }
    }

    /// The chunk on the careful path, run whole again when its transaction fails transiently.
    /// `after_fast`: the fast attempt that gave way to this one (its failure is the first
    /// attempt's). `read_chunk` reads a claiming input's new items, inside the transaction.
    template <class Read> void run_careful_chunk(fast_stop* after_fast, Read read_chunk)
    {
        attempt_failure failure;
        failure_kind kind = failure_kind::permanent;
        int attempts = 0;
        const bool committed = attempt_loop(
            0, this->book_.max_attempts,
            [&](int n) -> std::optional<failure_kind> {
                attempts = n;
                try {
                    this->book_.begin_chunk_attempt(n == 1);
                    fast_stop* first = std::exchange(after_fast, nullptr);
                    if (first != nullptr && first->what == fast_stop::cause::chunk_error) {
                        std::rethrow_exception(first->error);
                    }
                    run_chunk_once(first, read_chunk);
                    return std::nullopt;
                } catch (const std::logic_error&) {
                    throw; // a usage error: retrying or skipping the chunk would hide it
                } catch (const crash&) {
                    throw; // a simulated process death: nothing may survive it
                } catch (...) {
                    failure = failure_from_current_exception(nullptr);
                    kind = this->classify_failure(failure);
                    return kind;
                }
            },
            [&](int n) { this->wait_before_retry(n); });
        if (committed) {
            this->report_failures(this->book_.settle_chunk(true));
            return;
        }
        this->book_.chunk_failed(kind, failure.reason, attempts);
        this->show_until(this->book_.items.size());
        this->report_failures(this->book_.settle_chunk(false));
    }

    template <class Read> void run_chunk_once(fast_stop* after_fast, Read& read_chunk)
    {
        // After a claiming input's failed fast attempt, its transaction still holds the claim.
        std::optional<typename traits::chunk_scope> held = std::exchange(this->claimed_scope_, std::nullopt);
        const bool holds_claim = held.has_value();
        auto scope = held ? std::move(*held) : traits::policy::open_chunk(*this->tx_);
        if constexpr (traits::claims_input) {
            if (holds_claim) {
                // the rows are still locked by this transaction
            } else if (this->book_.items.empty()) {
                this->job_.source.begin_chunk(this->book_.chunk_size);
                read_chunk();
            } else {
                this->job_.source.begin_chunk(0); // they run again: held again, or waited for
            }
        } else {
            (void)read_chunk;
            (void)holds_claim;
        }
        if (after_fast != nullptr && after_fast->what == fast_stop::cause::item_failed) {
            if (after_fast->failure.done_elsewhere) {
                this->book_.isolate_after_fast_failure(after_fast->index);
            } else {
                this->book_.resume_after_fast_failure(after_fast->index, this->classify_failure(after_fast->failure),
                                                      after_fast->failure.reason);
            }
        }
        if (this->book_.per_item) {
            run_per_item();
        } else {
            run_segments();
        }
        this->book_.leave_unprocessed();
        this->record_failures();
        if constexpr (traits::events::commit) {
            if (!this->book_.items.empty()) {
                const commit_summary c = this->book_.careful_commit_summary();
                this->commit_event(c, c.last != no_index ? &this->values_[c.last] : nullptr);
            }
        }
        scope.commit();
    }

    // Items [0, i) are final at the top of each turn, and told to the hooks there.
    void run_segments()
    {
        auto& items = this->book_.items;
        std::size_t i = 0;
        for (;;) {
            this->show_until(i);
            const std::size_t end = this->book_.end_of_run();
            if (i >= end) {
                return;
            }
            if (items[i].st != item_state::pending) {
                ++i;
                continue;
            }
            if (items[i].isolate) {
                run_isolated(i);
                ++i;
                continue;
            }
            auto sp = this->tx_->savepoint();
            const std::size_t seg_start = i;
            std::optional<std::size_t> failed_at;
            attempt_failure failure;
            if constexpr (traits::claims_batches) {
                claim_segment(seg_start, end);
            }
            // A segment ends before an item whose key function threw, so that it is told in its
            // place (a verdict may stop the run there) before anything after it runs.
            for (; i < end && !items[i].isolate && items[i].st != item_state::failed &&
                   i - seg_start < this->book_.segment_limit();
                 ++i) {
                item_status& e = items[i];
                if (e.st != item_state::pending) {
                    continue;
                }
                item_state result = item_state::skipped;
                if constexpr (traits::claims_batches) {
                    if (segment_claimed_[i - seg_start]) {
                        // A confirming ledger checks the segment's rows at once, below.
                        result = this->attempt(this->values_[i], e.item_key, e.attempts, failure, true, true);
                    }
                } else {
                    result = this->attempt(this->values_[i], e.item_key, e.attempts, failure);
                }
                if (result == item_state::failed) {
                    failed_at = i;
                    break;
                }
                e.st = result;
            }
            if constexpr (traits::confirms) {
                if (!failed_at) {
                    failed_at = confirm_segment(seg_start, i, failure);
                }
            }
            if (!failed_at) {
                sp.release();
                this->book_.segment_released();
                continue;
            }
            sp.rollback();
            this->book_.segment_failed(seg_start, *failed_at);
            if (failure.done_elsewhere) {
                items[*failed_at].isolate = true; // alone, it is skipped (careful_path::run_isolated)
            } else if (!this->book_.settle_failure(*failed_at, this->classify_failure(failure),
                                                   std::move(failure.reason))) {
                items[*failed_at].isolate = true;
            }
            i = seg_start;
        }
    }

    /// A batch-claiming ledger claims the pending keys of the segment starting at `seg_start` at
    /// once, in the segment's savepoint (which a failure rolls back, claims included): the items
    /// the segment's loop will attempt, as nothing changes its bounds while it runs.
    void claim_segment(std::size_t seg_start, std::size_t end)
    {
        auto& items = this->book_.items;
        this->batch_keys_.clear();
        this->batch_positions_.clear();
        std::size_t j = seg_start;
        for (; j < end && !items[j].isolate && items[j].st != item_state::failed &&
               j - seg_start < this->book_.segment_limit();
             ++j) {
            if (items[j].st == item_state::pending) {
                this->batch_keys_.push_back(items[j].item_key);
                this->batch_positions_.push_back(j);
            }
        }
        this->template slot<ledger_slot_i>().ledger->claim_all(std::span<const key>(this->batch_keys_),
                                                               this->batch_claimed_);
        segment_claimed_.assign(j - seg_start, false);
        for (std::size_t b = 0; b < this->batch_positions_.size(); ++b) {
            segment_claimed_[this->batch_positions_[b] - seg_start] = this->batch_claimed_[b];
        }
    }

    /// A confirming ledger's check, once for the segment [seg_start, end), that each item done
    /// in it left its row: the first that did not, with `failure` saying so (for good), or none.
    std::optional<std::size_t> confirm_segment(std::size_t seg_start, std::size_t end, attempt_failure& failure)
    {
        auto& items = this->book_.items;
        this->confirm_keys_.clear();
        this->confirm_positions_.clear();
        for (std::size_t j = seg_start; j < end; ++j) {
            if (items[j].st == item_state::done && segment_claimed_[j - seg_start]) {
                this->confirm_keys_.push_back(items[j].item_key);
                this->confirm_positions_.push_back(j);
            }
        }
        const auto missing = this->confirm_collected(failure);
        if (!missing) {
            return std::nullopt;
        }
        const std::size_t at = *missing;
        for (std::size_t j = at + 1; j < end; ++j) { // rolled back with the segment: they run again
            if (items[j].st == item_state::done || items[j].st == item_state::skipped) {
                items[j].st = item_state::pending;
            }
        }
        return at;
    }

    void run_per_item()
    {
        for (std::size_t i = 0; i < this->book_.end_of_run(); ++i) {
            this->show_until(i);
            if (i < this->book_.end_of_run() && this->book_.items[i].st == item_state::pending) {
                run_isolated(i);
            }
        }
        this->show_until(this->book_.end_of_run());
    }

    /// The item alone, in a savepoint per attempt, with retries.
    void run_isolated(std::size_t i)
    {
        attempt_loop(
            this->book_.items[i].attempts, this->book_.max_attempts,
            [&](int n) -> std::optional<failure_kind> {
                auto sp = this->tx_->savepoint();
                attempt_failure failure;
                item_status& e = this->book_.items[i];
                const item_state result = this->attempt(this->values_[i], e.item_key, n - 1, failure);
                if (result != item_state::failed) {
                    sp.release();
                    e.st = result;
                    return std::nullopt;
                }
                sp.rollback();
                if (failure.done_elsewhere) {
                    e.st = item_state::skipped; // another writer's row for its key: done elsewhere
                    return std::nullopt;
                }
                const failure_kind kind = this->classify_failure(failure);
                this->book_.settle_failure(i, kind, std::move(failure.reason));
                return kind;
            },
            [&](int n) { this->wait_before_retry(n); });
    }

    std::vector<bool> segment_claimed_; ///< which items of the segment were claimed
};

} // namespace sturdy::detail
