#pragma once
/// The loop form of a pipeline without an effect: `for (auto& x : input | adaptors...) body(x);`.
/// The loop body is the effect. Moving past an item finishes it: its key is marked (when
/// `idempotent_by` is present) and, every n items, the chunk commits (when `chunked(tx, n)` is;
/// without it, every item is a chunk of one). Leaving the loop early, by `break` or an exception,
/// rolls back the chunk in flight; finished chunks stay committed. Hooks, the run-level stages
/// among them, get the events a loop raises, through the same dispatch as `drain`
/// (detail/hook_dispatch.hpp): `on_run_start` when the loop begins, `before_chunk` (a verdict
/// that stops ends the loop there), `on_item` for each item done or skipped (a verdict that
/// stops ends the loop after that item's chunk commits), `before_commit`, `after_chunk`, and
/// `on_run_end` when the loop reaches the end of its input. A loop has no failures: an exception
/// from its body leaves it. `retry_bounded` is refused at compile time (job.hpp).

#include <sturdy/clock.hpp>
#include <sturdy/concepts.hpp>
#include <sturdy/detail/hook_dispatch.hpp>
#include <sturdy/detail/slots.hpp>
#include <sturdy/key.hpp>
#include <sturdy/policy/commit.hpp>
#include <sturdy/report.hpp>

#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>

namespace sturdy::detail {

template <class Job> class cursor_state {
    using source_type = std::remove_reference_t<decltype(std::declval<Job&>().source)>;
    using slots = std::remove_cvref_t<decltype(std::declval<Job&>().slots)>;
    template <std::size_t I> static constexpr bool has = Job::template has<I>;
    template <std::size_t I> auto& slot() { return std::get<I>(job_->slots); }

    template <class S> struct chunk_types {
        using tx = void;
        using policy = commit;
    };
    template <template <class, class> class Slot, class Tx, class P> struct chunk_types<Slot<Tx, P>> {
        using tx = Tx;
        using policy = P;
    };
    using chunk_info = chunk_types<std::tuple_element_t<chunk_slot_i, slots>>;
    static constexpr bool has_tx = !std::is_void_v<typename chunk_info::tx>;

    struct no_scope {
        void commit() {}
    };
    template <bool WithTx, class Info> struct scope_of {
        using type = no_scope;
    };
    template <class Info> struct scope_of<true, Info> {
        using type = decltype(Info::policy::open_chunk(std::declval<typename Info::tx&>()));
    };
    using scope_type = typename scope_of<has_tx, chunk_info>::type;

    static_assert(!claiming_input<source_type>,
                  "sturdy: a claiming input is run with | sturdy::guarded(fn) | sturdy::drain, which claims each "
                  "chunk inside its transaction; the loop form does not");

public:
    using value_type = std::ranges::range_value_t<source_type>;
    using events = hook_events<std::tuple_element_t<hooks_slot_i, slots>, value_type>;
    static_assert(check_hooks_in<pipeline_facts<false, false, true>>(static_cast<typename events::tuple*>(nullptr)));

    explicit cursor_state(Job& j) : job_(&j), hooks_{std::get<hooks_slot_i>(j.slots)}, it_(std::ranges::begin(j.source))
    {
        start_ = now();
        if constexpr (events::run_start) {
            hooks_.run_started_(run_started{start_, total()});
        }
        if constexpr (has_tx) {
            chunk_info::policy::check_start(*slot<chunk_slot_i>().tx);
        }
        settle_on_next();
    }
    cursor_state(const cursor_state&) = delete;
    cursor_state& operator=(const cursor_state&) = delete;
    ~cursor_state() = default; // an open scope rolls its chunk back

    [[nodiscard]] bool at_end() const { return !current_; }
    value_type& current() { return *current_; }

    void finish_current()
    {
        if constexpr (has<ledger_slot_i>) {
            slot<ledger_slot_i>().ledger->mark(*current_key_);
        }
        ++report_.done;
        ++in_chunk_;
        ++done_in_chunk_;
        if constexpr (events::commit) {
            last_.emplace(*current_);
        }
        tell(item_outcome::done);
        if (in_chunk_ == chunk_size() || !stop_reason_.empty()) {
            end_chunk();
        }
        ++it_;
        settle_on_next();
    }

private:
    [[nodiscard]] std::size_t chunk_size()
    {
        if constexpr (has<chunk_slot_i>) {
            return slot<chunk_slot_i>().size;
        } else {
            return 1;
        }
    }
    std::optional<std::size_t> total()
    {
        if constexpr (std::ranges::sized_range<source_type>) {
            return static_cast<std::size_t>(std::ranges::size(job_->source));
        } else {
            return std::nullopt;
        }
    }
    time_point now()
    {
        if constexpr (has<clock_slot_i>) {
            return slot<clock_slot_i>().clock->now();
        } else {
            return steady_clock{}.now();
        }
    }

    void tell(item_outcome what)
    {
        if constexpr (events::items) {
            verdict v = hooks_.item_settled_(item_settled{what, *current_key_, {}});
            if (v.stops() && stop_reason_.empty()) {
                stop_reason_ = std::move(v.stop_reason);
            }
        } else {
            (void)what;
        }
    }

    void end_chunk()
    {
        if (scope_) {
            if constexpr (events::commit) {
                hooks_.chunk_committing_(
                    chunk_committing<value_type>{last_ ? &*last_ : nullptr, in_chunk_, done_in_chunk_});
            }
            scope_->commit();
            scope_.reset();
            ++report_.chunks;
            if constexpr (events::chunk_end) {
                const time_point end = now();
                hooks_.chunk_ended_(chunk_ended{end, end - chunk_start_, std::as_const(report_)});
            }
        }
        in_chunk_ = done_in_chunk_ = 0;
        last_.reset();
    }

    // Moves to the next item the loop should see, skipping done keys; at the end, commits.
    void settle_on_next()
    {
        current_.reset();
        for (; stop_reason_.empty() && it_ != std::ranges::end(job_->source); ++it_) {
            if (!scope_) {
                chunk_start_ = now();
                if constexpr (events::chunk_start) {
                    verdict v = hooks_.chunk_starting_(chunk_starting{chunk_start_, start_, std::as_const(report_)});
                    if (v.stops()) {
                        stop_reason_ = std::move(v.stop_reason);
                        break;
                    }
                }
                if constexpr (has_tx) {
                    scope_.emplace(chunk_info::policy::open_chunk(*slot<chunk_slot_i>().tx));
                } else {
                    scope_.emplace();
                }
            }
            ++report_.seen;
            ++in_chunk_;
            current_.emplace(*it_);
            if constexpr (has<ledger_slot_i>) {
                current_key_ = make_key(std::invoke(slot<ledger_slot_i>().key_fn, std::as_const(*current_)));
                if (slot<ledger_slot_i>().ledger->contains(*current_key_)) {
                    ++report_.skipped;
                    if constexpr (events::commit) {
                        last_.emplace(*current_);
                    }
                    tell(item_outcome::skipped);
                    current_.reset();
                    if (in_chunk_ == chunk_size() || !stop_reason_.empty()) {
                        end_chunk();
                    }
                    continue;
                }
            } else {
                current_key_ = key(static_cast<std::int64_t>(report_.seen - 1));
            }
            --in_chunk_; // counted when it finishes
            return;
        }
        end_chunk();
        if (!finished_) {
            report_.stopped_early = stop_reason_;
            if (!stop_reason_.empty()) {
                for (; it_ != std::ranges::end(job_->source); ++it_) {
                    ++report_.remaining;
                }
            }
            report_.elapsed = now() - start_;
            finished_ = true;
            hooks_.run_ended_(std::as_const(report_));
        }
    }

    Job* job_;
    events hooks_;
    std::ranges::iterator_t<source_type> it_;
    std::optional<value_type> current_;
    std::optional<value_type> last_; ///< the chunk's last item, for before_commit
    std::optional<key> current_key_;
    std::optional<scope_type> scope_;
    std::size_t in_chunk_ = 0;
    std::size_t done_in_chunk_ = 0;
    time_point start_{};
    time_point chunk_start_{};
    std::string stop_reason_;
    bool finished_ = false;
    report report_;
};

/// The input iterator of the loop form: move-only, owns the loop's state.
template <class Job> class cursor {
public:
    using value_type = typename cursor_state<Job>::value_type;
    using difference_type = std::ptrdiff_t;

    explicit cursor(Job& j) : state_(std::make_unique<cursor_state<Job>>(j)) {}
    value_type& operator*() const { return state_->current(); }
    cursor& operator++()
    {
        state_->finish_current();
        return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const cursor& c, std::default_sentinel_t) { return c.state_->at_end(); }

private:
    std::unique_ptr<cursor_state<Job>> state_;
};

} // namespace sturdy::detail
