#pragma once
/// The typed part of `drain`'s engine that both paths share: the item's key and quarantine
/// (one rule), one attempt of one item (ledger, effect), the job's clock and retry settings,
/// and the hooks told of items, commits and failures. The bookkeeping is the chunk_book's
/// (compiled once); the two paths are fast_path.hpp and careful_path.hpp.

#include <sturdy/clock.hpp>
#include <sturdy/concepts.hpp>
#include <sturdy/detail/chunk_book.hpp>
#include <sturdy/detail/effect_result.hpp>
#include <sturdy/detail/pipeline_traits.hpp>
#include <sturdy/error.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/key.hpp>
#include <sturdy/policy/classify.hpp>
#include <sturdy/report.hpp>
#include <sturdy/view/retry_bounded.hpp>
#include <sturdy/view/with_clock.hpp>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sturdy::detail {

template <class Job> class engine_core : public pipeline_traits<Job> {
protected:
    using traits = pipeline_traits<Job>;
    using traits::has_ledger;
    using typename traits::events;
    using typename traits::source_type;
    using typename traits::tx_type;
    using typename traits::value_type;

    explicit engine_core(Job& j) : job_(j), hooks_{std::get<hooks_slot_i>(j.slots)}
    {
        if constexpr (has_ledger) {
            using key_result = std::invoke_result_t<decltype(slot<ledger_slot_i>().key_fn)&, const value_type&>;
            static_assert(key_like<key_result>, "idempotent_by: the key function must return an integer, a string, "
                                                "a sturdy::key, or a tuple of those");
        }
    }

    template <std::size_t I> auto& slot() { return std::get<I>(job_.slots); }

    // --- the item's key and quarantine: the one rule both paths follow -----------------------
    /// The item's key, and in `first` what it starts as: pending, quarantined (a failure record
    /// put its key there in an earlier run), or failed (its key function threw: its position
    /// stands in for the key, and `key_threw` runs in the handler).
    template <class KeyThrew> [[gnu::always_inline]] key key_of(const value_type& v, std::int64_t position,
                                                                item_state& first, KeyThrew&& key_threw)
    {
        first = item_state::pending;
        if constexpr (has_ledger) {
            try {
                key k = make_key(std::invoke(slot<ledger_slot_i>().key_fn, v));
                if constexpr (traits::keeps_failures) {
                    if (book_.quarantined(k)) {
                        first = item_state::quarantined;
                    }
                }
                return k;
            } catch (const crash&) {
                throw; // a simulated process death: nothing may survive it
            } catch (...) {
                first = item_state::failed;
                key_threw();
                return key(position);
            }
        } else {
            (void)v;
            (void)key_threw;
            return key(position);
        }
    }

    // --- one attempt of one item -----------------------------------------------------------
    /// In whatever scope the caller holds (the fast chunk's transaction, or a savepoint on the
    /// careful path). `claimed`: the key was claimed already, with its chunk's or segment's batch.
    /// `confirm_later`: a confirming ledger's check that the effect left its row is the caller's
    /// (the fast chunk asks once for all its items); otherwise it is made here, after the effect.
    [[gnu::always_inline]] item_state attempt(value_type& item, const key& item_key, int attempts_made,
                                              attempt_failure& failure, bool claimed = false,
                                              bool confirm_later = false)
    {
        try {
            if constexpr (has_ledger) {
                // A claiming ledger marks the key now; the effect's failure rolls the mark back
                // with the caller's scope. Otherwise: check now, mark after the effect.
                if constexpr (traits::claims) {
                    if (!claimed && !slot<ledger_slot_i>().ledger->claim(item_key)) {
                        return item_state::skipped;
                    }
                } else if (slot<ledger_slot_i>().ledger->contains(item_key)) {
                    return item_state::skipped;
                }
            }
            if (auto f = invoke_effect(item, item_key, attempts_made)) {
                failure = std::move(*f);
                note_done_elsewhere(failure);
                return item_state::failed;
            }
            if constexpr (traits::confirms) {
                if (!confirm_later &&
                    slot<ledger_slot_i>().ledger->confirm_all(std::span<const key>(&item_key, 1)) == 0) {
                    throw permanent_error(slot<ledger_slot_i>().ledger->unconfirmed(item_key));
                }
            } else {
                (void)confirm_later;
            }
            if constexpr (has_ledger) {
                if constexpr (traits::keeps_failures) {
                    if (book_.failed_before(item_key)) {
                        slot<ledger_slot_i>().ledger->clear_failure(item_key);
                    }
                }
                if constexpr (!traits::claims) {
                    slot<ledger_slot_i>().ledger->mark(item_key);
                }
            }
            return item_state::done;
        } catch (const crash&) {
            throw; // a simulated process death: nothing may survive it
        } catch (...) {
            failure = failure_from_current_exception(&item_key);
            note_done_elsewhere(failure);
            return item_state::failed;
        }
    }

    /// A confirming ledger's say on whether the failure is another writer's row for the key.
    void note_done_elsewhere(attempt_failure& failure)
    {
        if constexpr (traits::confirms) {
            failure.done_elsewhere = slot<ledger_slot_i>().ledger->done_elsewhere(failure.code, failure.reason);
        } else {
            (void)failure;
        }
    }

    std::optional<attempt_failure> invoke_effect(value_type& item, const key& item_key, int attempts_made)
    {
        auto& fn = slot<effect_slot_i>().fn;
        using Fn = std::remove_reference_t<decltype(fn)>;
        constexpr bool wants_context = std::invocable<Fn&, value_type&, const item_context&>;
        static_assert(wants_context || std::invocable<Fn&, value_type&>,
                      "guarded: the effect must be callable as fn(item) or fn(item, const sturdy::item_context&)");
        auto invoke = [&]() -> decltype(auto) {
            if constexpr (wants_context) {
                return std::invoke(fn, item, item_context{item_key, idempotency_key(item_key), attempts_made + 1});
            } else {
                return std::invoke(fn, item);
            }
        };
        if constexpr (std::is_void_v<decltype(invoke())>) {
            invoke();
            return std::nullopt;
        } else {
            return failure_of_result(invoke(), &item_key);
        }
    }

    std::string idempotency_key(const key& k)
    {
        if constexpr (has_ledger) {
            if constexpr (requires { slot<ledger_slot_i>().ledger->name(); }) {
                return std::string(slot<ledger_slot_i>().ledger->name()) + ":" + k.str();
            }
        }
        return k.str();
    }

    // --- the job's clock and retry ---------------------------------------------------------
    time_point now()
    {
        if constexpr (traits::has_clock) {
            return slot<clock_slot_i>().clock->now();
        } else {
            return steady_clock{}.now();
        }
    }
    /// Before attempt `attempts_made + 1`: the backoff's delay, on the job's clock.
    void wait_before_retry(int attempts_made)
    {
        if constexpr (traits::has_retry) {
            const duration d = slot<retry_slot_i>().backoff.delay(attempts_made, jitter_.next());
            if constexpr (traits::has_clock) {
                slot<clock_slot_i>().clock->sleep_for(d);
            } else {
                steady_clock{}.sleep_for(d);
            }
        }
        ++book_.rep.retried;
    }
    failure_kind classify_failure(const attempt_failure& f)
    {
        if constexpr (traits::has_retry) {
            return classify(slot<retry_slot_i>().classifier, f);
        } else {
            return default_classify(f);
        }
    }

    // --- what the hooks are told -----------------------------------------------------------
    /// Items before `up_to` are final in this attempt of the chunk: each one not told yet goes
    /// to on_item, in order. A verdict that stops the run is applied by the book (the first
    /// wins); the items after it that are final already are still told.
    void show_until(std::size_t up_to)
    {
        if constexpr (events::items) {
            for (std::size_t i = book_.shown(); i < up_to; ++i) {
                const item_state st = book_.items[i].st;
                if (st == item_state::pending || st == item_state::unprocessed) {
                    continue;
                }
                if (!book_.showing_again && book_.stop_index != no_index && i > book_.stop_index &&
                    book_.items[i].initial != item_state::pending) {
                    continue; // after the stop, not run (quarantined, or its key function threw): left for the next run
                }
                const verdict v = hooks_.item_settled_(book_.settled_event(i));
                book_.after_shown(i);
                if (v.stops() && book_.stop_reason.empty()) {
                    book_.apply_stop(v.stop_reason, v.give_back, i);
                }
            }
        } else {
            (void)up_to;
        }
    }

    /// Failure records in the chunk's transaction, before its commit (they commit with it).
    void record_failures()
    {
        if constexpr (traits::keeps_failures) {
            auto& s = slot<ledger_slot_i>();
            for (const auto& r : book_.failures_to_record()) {
                book_.recorded(r, s.ledger->record_failure(*r.item_key, *r.reason, s.quarantine_after).quarantined);
            }
        }
    }

    void commit_event(const commit_summary& c, const value_type* last)
    {
        hooks_.chunk_committing_(chunk_committing<value_type>{last, c.items, c.done});
    }

    /// Failures final for this run: to on_failure, then into the report.
    void report_failures(std::vector<failure_record> settled)
    {
        for (auto& rec : settled) {
            hooks_.failure_(std::as_const(rec));
            book_.rep.add_failure(std::move(rec));
        }
    }

    void tell_chunk_ended(time_point chunk_start)
    {
        if constexpr (events::chunk_end) {
            const time_point end = now();
            hooks_.chunk_ended_(chunk_ended{end, end - chunk_start, std::as_const(book_.rep)});
        }
    }

    Job& job_;
    events hooks_;
    chunk_book book_;
    tx_type* tx_ = nullptr;
    jitter_source jitter_{0x5eedU};
    time_point start_{};
    std::vector<value_type> values_; ///< the careful chunk's items, with book_.items
    std::vector<value_type> replay_; ///< a single-pass input's items of the fast chunk in flight
};

} // namespace sturdy::detail
