#pragma once
/// The loop `drain` runs. One item's path: key -> quarantine -> ledger claim (or check) -> effect
/// (-> mark, for a ledger that cannot claim), in the chunk's transaction, first with no per-item
/// savepoint (the fast path, fast_path.hpp), then, if something failed, with savepoints (the
/// careful path, careful_path.hpp); the bookkeeping that needs no item type is chunk_book's. The
/// path in full: docs/architecture.md.

#include <sturdy/detail/careful_path.hpp>
#include <sturdy/error.hpp>
#include <sturdy/report.hpp>
#include <sturdy/view/guarded.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <ranges>
#include <utility>

namespace sturdy::detail {

template <class Job> class engine : careful_path<Job> {
    using base = careful_path<Job>;
    using base::claims_input;
    using base::rereadable;
    using typename base::events;
    using typename base::policy;
    using typename base::source_type;
    using typename base::traits;
    using typename base::tx_type;

public:
    explicit engine(Job& j) : base(j)
    {
        this->tx_ = resolve_tx();
        chunk_book& book = this->book_;
        if constexpr (traits::has_chunk) {
            book.chunk_size = this->template slot<chunk_slot_i>().size;
        }
        if constexpr (traits::has_retry) {
            book.max_attempts = this->template slot<retry_slot_i>().attempts;
            this->jitter_.state = this->template slot<retry_slot_i>().seed;
        }
        const isolation mode = this->template slot<effect_slot_i>().mode;
        book.per_item = !traits::has_store || mode == isolation::per_item;
        book.fast_allowed = traits::has_store && mode == isolation::per_chunk;
        book.holds_back = events::give_back;
        book.max_segment = traits::claims_batches ? 256 : 32;
    }

    report run()
    {
        chunk_book& book = this->book_;
        this->start_ = this->now();
        if constexpr (events::run_start) {
            std::optional<std::size_t> total;
            if constexpr (std::ranges::sized_range<source_type>) {
                total = static_cast<std::size_t>(std::ranges::size(this->job_.source));
            }
            this->hooks_.run_started_(run_started{this->start_, total});
        }
        policy::check_start(*this->tx_);
        if constexpr (traits::keeps_failures) {
            book.load_failures(this->template slot<ledger_slot_i>().ledger->failures());
        }

        this->values_.reserve(std::min<std::size_t>(book.chunk_size, 1U << 16U));
        auto it = std::ranges::begin(this->job_.source);
        auto end = std::ranges::end(this->job_.source);
        auto read_chunk = [&] {
            for (; it != end && book.items.size() < book.chunk_size; ++it) {
                this->read_item(*it);
            }
        };
        // A claiming input compares equal to its end once the chunk's claim is read: the run ends
        // after a chunk that claimed nothing.
        while ((claims_input || it != end) && book.stop_reason.empty()) {
            const auto chunk_start = this->now();
            if constexpr (events::chunk_start) {
                verdict v =
                    this->hooks_.chunk_starting_(chunk_starting{chunk_start, this->start_, std::as_const(book.rep)});
                if (v.stops()) {
                    book.stop_before_chunk(std::move(v.stop_reason));
                    break;
                }
            }
            book.begin_chunk();
            this->values_.clear();
            fast_stop stop;
            fast_stop* after_fast = nullptr;
            [[maybe_unused]] bool claimed = false;
            const bool fast = book.fast_path_ready();
            if (fast) {
                if (this->run_fast_chunk(it, end, stop)) {
                    this->tell_chunk_ended(chunk_start);
                    if (claims_input && this->fast_read_ == 0) {
                        break;
                    }
                    continue;
                }
                // Something failed: the fast attempt was rolled back and `it` is back at the
                // chunk's first item (or its items are in replay_); the chunk runs again on the
                // careful path, which starts from what the fast attempt learnt.
                book.fast_attempt_failed();
                after_fast = &stop;
                claimed = !this->replay_.empty(); // else the chunk failed before its claim
                if constexpr (!rereadable) {
                    for (auto& v : this->replay_) {
                        this->read_item(std::move(v));
                    }
                    this->replay_.clear();
                }
            }
            if constexpr (claims_input) {
                // New items are claimed inside the chunk's transaction; a fast attempt's are
                // read already, and the rest of its claim is in the input's hands.
                if (after_fast != nullptr && claimed) {
                    read_chunk();
                }
                this->run_careful_chunk(after_fast, read_chunk);
                if (book.items.empty()) {
                    this->tell_chunk_ended(chunk_start);
                    break;
                }
            } else {
                read_chunk();
                this->run_careful_chunk(after_fast, [] {});
            }
            book.careful_chunk_ended(fast);
            this->tell_chunk_ended(chunk_start);
        }
        if (book.holds_failures()) {
            settle_held_at_end();
        }
        std::size_t unread = 0;
        if constexpr (!claims_input) { // what a claiming input has left is not this worker's to count
            for (; it != end; ++it) {
                ++unread; // read, not processed: the next run does them
            }
        }
        book.finish(unread);
        book.rep.elapsed = this->now() - this->start_;
        this->hooks_.run_ended_(std::as_const(book.rep));
        return std::move(book.rep);
    }

private:
    /// Failures whose records waited for their streak to end, which no verdict gave back (the
    /// run ended, or stopped for another reason): written in a transaction of their own (under
    /// no_commit, a released savepoint).
    void settle_held_at_end()
    {
        chunk_book& book = this->book_;
        book.begin_chunk();
        book.release_held();
        bool committed = true;
        try {
            auto scope = policy::open_chunk(*this->tx_);
            this->record_failures();
            scope.commit();
        } catch (const std::logic_error&) {
            throw;
        } catch (const crash&) {
            throw;
        } catch (...) {
            committed = false; // no record: the next run reads them again
        }
        this->report_failures(book.settle_held(committed));
    }

    tx_type* resolve_tx()
    {
        if constexpr (!traits::has_store) {
            return &null_tx_;
        } else {
            tx_type* from_chunk = nullptr;
            tx_type* from_effect = nullptr;
            if constexpr (!std::is_void_v<typename traits::chunk_tx>) {
                from_chunk = this->template slot<chunk_slot_i>().tx;
            }
            if constexpr (!std::is_void_v<typename traits::effect_tx>) {
                from_effect = this->template slot<effect_slot_i>().tx;
            }
            if (from_chunk != nullptr && from_effect != nullptr && from_chunk != from_effect) {
                throw usage_error("sturdy: chunked(tx, n) and guarded(tx, fn) were given different stores; a chunk "
                                  "commit must cover the effects it contains, so give one store");
            }
            return from_chunk != nullptr ? from_chunk : from_effect;
        }
    }

    no_transaction null_tx_;
};

} // namespace sturdy::detail
