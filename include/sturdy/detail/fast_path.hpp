#pragma once
/// The fast path: a chunk runs straight from the input in the chunk's scope alone, with no
/// per-item savepoint or bookkeeping. If every item succeeds, that is the whole story. If one
/// fails (or the chunk cannot commit), the scope is abandoned: the commit policy rolls back the
/// chunk's transaction (or, under no_commit, its savepoint), so nothing it wrote remains (a
/// claiming input's chunk keeps its transaction and claim, and rolls back to a savepoint taken
/// after the claim), and the chunk runs again on the careful path (careful_path.hpp), which
/// takes the failed attempt as its first. When fast attempts are tried: chunk_book.ipp.

#include <sturdy/detail/engine_core.hpp>
#include <sturdy/error.hpp>

#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace sturdy::detail {

/// Why a fast attempt gave way to the careful path.
struct fast_stop {
    enum class cause { none, item_failed, key_failed, chunk_error };
    cause what = cause::none;
    std::size_t index = 0;    ///< the item, by position in the chunk
    attempt_failure failure;  ///< item_failed: its attempt's failure
    std::exception_ptr error; ///< chunk_error: what the transaction threw
};

/// What a fast chunk did with its items, as far as it got.
struct fast_counts {
    std::size_t n = 0;
    std::size_t done = 0;
    std::size_t skipped = 0;
    std::size_t quarantined = 0;
};

template <class Job> class fast_path : public engine_core<Job> {
protected:
    using core = engine_core<Job>;
    using typename core::traits;
    using typename core::value_type;
    using events = typename traits::events;
    using policy = typename traits::policy;
    using chunk_scope = typename traits::chunk_scope;
    static constexpr bool rereadable = traits::rereadable;
    static constexpr bool claims_input = traits::claims_input;

    using core::core;

    /// Runs one chunk from `it`; true when it committed. On false, `it` is at the chunk's first
    /// item again (or, for a single-pass input, the items read are in replay_) and `stop` says why.
    template <class It, class End> bool run_fast_chunk(It& it, const End& end, fast_stop& stop)
    {
        std::optional<It> chunk_begin;
        if constexpr (rereadable) {
            chunk_begin.emplace(it);
        }
        std::optional<It> last; // the chunk's last item, for before_commit (the watermark)
        fast_counts c;
        try {
            auto scope = policy::open_chunk(*this->tx_);
            std::optional<decltype(this->tx_->savepoint())> after_claim;
            if constexpr (claims_input) {
                this->job_.source.begin_chunk(this->book_.chunk_size);
                if (it != end) { // claims; the items' writes go in a savepoint, so a failure keeps the claim
                    after_claim.emplace(this->tx_->savepoint());
                }
            }
            bool whole = false;
            if constexpr (traits::claims_batches) {
                whole = run_fast_items_batched(it, end, c, last, stop);
            } else {
                whole = run_fast_items(it, end, c, last, stop);
            }
            if (!whole) { // the scope rolls back on the way out
                if (after_claim &&
                    (stop.what == fast_stop::cause::item_failed || stop.what == fast_stop::cause::key_failed)) {
                    after_claim->rollback();
                    claimed_scope_.emplace(std::move(scope)); // the careful path goes on in it
                }
                if constexpr (rereadable) {
                    it = std::move(*chunk_begin);
                } else if constexpr (!traits::claims_batches) {
                    ++it; // this item is in replay_ already (a batch read the whole chunk into it)
                }
                return false;
            }
            if (c.done > 0 && this->book_.holds_failures()) {
                this->book_.release_held(); // the streak before this chunk is over: its records now
                this->record_failures();
            }
            if constexpr (events::commit) {
                if (c.n > 0) {
                    const commit_summary summary = this->book_.fast_commit_summary(c.n, c.done);
                    std::optional<value_type> copy;
                    const value_type* last_item = nullptr;
                    if (summary.last != no_index) {
                        if constexpr (rereadable) {
                            last_item = &copy.emplace(**last);
                        } else {
                            last_item = &this->replay_.back();
                        }
                    }
                    this->commit_event(summary, last_item);
                }
            }
            if (after_claim) {
                after_claim->release();
            }
            scope.commit();
        } catch (const std::logic_error&) {
            throw; // a usage error: as on the careful path, it is not the chunk's fault
        } catch (const crash&) {
            throw; // a simulated process death: nothing may survive it
        } catch (...) {
            stop.what = fast_stop::cause::chunk_error;
            stop.error = std::current_exception();
            if constexpr (rereadable) {
                it = std::move(*chunk_begin);
            }
            return false;
        }
        this->replay_.clear();
        fast_read_ = c.n;
        const successes s{c.done, c.skipped, c.quarantined};
        auto settled = this->book_.fast_chunk_committed(c.n, s);
        this->hooks_.successes_(s);
        this->report_failures(std::move(settled));
        return true;
    }

    /// The fast chunk's items from `it` until the chunk is full or the input ends: true; or
    /// until an item fails: false, `it` at that item and `stop` saying why. The hot loop, out of
    /// line and alone, so that the store's per-item calls inline into it.
    template <class It, class End> [[gnu::noinline]] bool run_fast_items(It& it, const End& end, fast_counts& counts,
                                                                         std::optional<It>& last, fast_stop& stop)
    {
        fast_counts c;
        bool whole = true;
        for (; it != end && c.n < this->book_.chunk_size; ++it, ++c.n) {
            if constexpr (events::commit && rereadable) {
                last.emplace(it);
            }
            item_state result = item_state::pending;
            if constexpr (rereadable) {
                value_type v(*it);
                result = fast_step(v, c.n, stop);
            } else {
                result = fast_step(this->replay_.emplace_back(*it), c.n, stop);
            }
            if (result == item_state::done) {
                ++c.done;
            } else if (result == item_state::skipped) {
                ++c.skipped;
                this->book_.fast_skips.push_back(c.n);
            } else if (result == item_state::quarantined) {
                ++c.quarantined;
            } else if (result != item_state::failed || stop.what != fast_stop::cause::none) {
                whole = false; // failed (a key function's throw, noted in the book, lets the chunk go on)
                break;
            }
        }
        counts = c;
        return whole;
    }

    /// run_fast_items for a ledger that claims a batch of keys in one store round trip: the
    /// chunk's items are read first (into replay_ for a single-pass input, which then holds the
    /// whole chunk), their keys claimed at once in the chunk's transaction, then the claimed
    /// items' effects run in order. A failure leaves `it` past the items read; the claims vanish
    /// with the chunk's rollback, as per-item claims do.
    template <class It, class End> [[gnu::noinline]] bool
    run_fast_items_batched(It& it, const End& end, fast_counts& counts, std::optional<It>& last, fast_stop& stop)
    {
        auto& values = [this]() -> std::vector<value_type>& {
            if constexpr (rereadable) {
                return batch_values_;
            } else {
                return this->replay_;
            }
        }();
        values.clear();
        batch_keys_.clear();
        batch_positions_.clear();
        fast_counts c;
        for (; it != end && c.n < this->book_.chunk_size; ++it, ++c.n) {
            if constexpr (events::commit && rereadable) {
                last.emplace(it);
            }
            const value_type& v = values.emplace_back(*it);
            item_state first = item_state::pending;
            key k = keyed(v, c.n, first, stop);
            if (stop.what == fast_stop::cause::key_failed) {
                ++it; // past the items read, as after a whole batch
                counts = c;
                return false;
            }
            if (first == item_state::quarantined) {
                ++c.quarantined;
            } else if (first == item_state::pending) {
                batch_keys_.push_back(std::move(k));
                batch_positions_.push_back(c.n);
            }
        }
        this->template slot<ledger_slot_i>().ledger->claim_all(std::span<const key>(batch_keys_), batch_claimed_);
        for (std::size_t b = 0; b < batch_keys_.size(); ++b) {
            if (!batch_claimed_[b]) {
                ++c.skipped;
                this->book_.fast_skips.push_back(batch_positions_[b]);
            } else if (fast_attempt(values[batch_positions_[b]], batch_keys_[b], batch_positions_[b], stop, true) ==
                       item_state::failed) {
                counts = c;
                return false;
            } else {
                ++c.done;
            }
        }
        counts = c;
        if constexpr (traits::confirms) {
            return confirm_chunk(stop);
        }
        return true;
    }

    /// A confirming ledger's check, once for the chunk, that each claimed item's effect left its
    /// row: the first that did not fails (for good: the careful path runs the others again).
    bool confirm_chunk(fast_stop& stop)
    {
        confirm_keys_.clear();
        confirm_positions_.clear();
        for (std::size_t b = 0; b < batch_keys_.size(); ++b) {
            if (batch_claimed_[b]) {
                confirm_keys_.push_back(batch_keys_[b]);
                confirm_positions_.push_back(batch_positions_[b]);
            }
        }
        const auto missing = confirm_collected(stop.failure);
        if (!missing) {
            return true;
        }
        stop.what = fast_stop::cause::item_failed;
        stop.index = *missing;
        return false;
    }

    /// The confirming ledger's check of confirm_keys_ (both paths collect them): the position of
    /// the first whose effect left no row, with `failure` saying so (for good), or none.
    std::optional<std::size_t> confirm_collected(attempt_failure& failure)
    {
        auto& ledger = *this->template slot<ledger_slot_i>().ledger;
        const std::size_t missing = ledger.confirm_all(std::span<const key>(confirm_keys_));
        if (missing >= confirm_keys_.size()) {
            return std::nullopt;
        }
        failure =
            attempt_failure{nullptr, {}, make_error_code(errc::permanent), ledger.unconfirmed(confirm_keys_[missing])};
        return confirm_positions_[missing];
    }

    /// The item's key by the one rule (engine_core::key_of); a key function's throw is noted in
    /// the book, reported after the chunk commits, or (key_failure_to_careful) ends the attempt.
    [[gnu::always_inline]] key keyed(const value_type& v, std::size_t index, item_state& first, fast_stop& stop)
    {
        const auto position = static_cast<std::int64_t>(this->book_.rep.seen + index);
        return this->key_of(v, position, first, [&] {
            if constexpr (traits::key_failure_to_careful) {
                stop.what = fast_stop::cause::key_failed;
                stop.index = index;
            } else {
                this->book_.note_fast_key_failure(position);
            }
        });
    }

    /// One item on the fast path: its key, its quarantine, one attempt.
    [[gnu::always_inline]] item_state fast_step(value_type& v, std::size_t index, fast_stop& stop)
    {
        item_state first = item_state::pending;
        const key k = keyed(v, index, first, stop);
        if (first != item_state::pending) {
            return first; // quarantined, or failed before it ran: nothing to roll back
        }
        return fast_attempt(v, k, index, stop);
    }

    [[gnu::always_inline]] item_state fast_attempt(value_type& v, const key& k, std::size_t index, fast_stop& stop,
                                                   bool claimed = false)
    {
        const item_state result = this->attempt(v, k, 0, stop.failure, claimed, claimed);
        if (result == item_state::failed) {
            stop.what = fast_stop::cause::item_failed;
            stop.index = index;
            stop.failure.item_key = nullptr; // k dies here
        }
        return result;
    }

    std::optional<chunk_scope> claimed_scope_; ///< a failed fast attempt's transaction, kept for its claim
    std::size_t fast_read_ = 0;                ///< items the last fast chunk read
    std::vector<value_type> batch_values_;     ///< a batch-claimed fast chunk's items (rereadable input)
    std::vector<key> batch_keys_;              ///< the keys it claims
    std::vector<std::size_t> batch_positions_; ///< each key's item, by position in the chunk
    std::vector<bool> batch_claimed_;          ///< which keys the claim took
    std::vector<key> confirm_keys_;            ///< the claimed keys a confirming ledger checks
    std::vector<std::size_t> confirm_positions_;
};

} // namespace sturdy::detail
