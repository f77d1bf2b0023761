#pragma once
/// The loop form of a pipeline without an effect: `for (auto& x : input | adaptors...) body(x);`.
/// The loop body is the effect. Moving past an item finishes it: its key is marked (when
/// `idempotent_by` is present) and, every n items, the chunk commits (when `chunked(tx, n)` is).
/// Leaving the loop early, by `break` or an exception, rolls back the chunk in flight; finished
/// chunks stay committed. Progress is logged when `logged_every` is present, as items finish.
/// `watermark`, `time_budget`, `failure_budget`, `retry_bounded` and hooks (`sturdy::hook`) are
/// refused at compile time (job.hpp): they need `| sturdy::drain`.

#include <sturdy/clock.hpp>
#include <sturdy/concepts.hpp>
#include <sturdy/detail/slots.hpp>
#include <sturdy/key.hpp>
#include <sturdy/log.hpp>
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

    explicit cursor_state(Job& j) : job_(&j), it_(std::ranges::begin(j.source))
    {
        if constexpr (has<log_slot_i>) {
            auto& s = slot<log_slot_i>();
            log_.emplace(s.every, s.sink);
            log_->start(now(), total());
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
        if (log_) {
            log_->tick(report_.seen, report_, [this] { return now(); });
        }
        if constexpr (has<chunk_slot_i>) {
            if (in_chunk_ == slot<chunk_slot_i>().size) {
                end_chunk();
            }
        }
        ++it_;
        settle_on_next();
    }

private:
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

    void end_chunk()
    {
        if (scope_) {
            scope_->commit();
            scope_.reset();
            ++report_.chunks;
        }
        in_chunk_ = 0;
    }

    // Moves to the next item the loop should see, skipping done keys; at the end, commits.
    void settle_on_next()
    {
        current_.reset();
        for (; it_ != std::ranges::end(job_->source); ++it_) {
            ++report_.seen;
            if (!scope_) {
                if constexpr (has_tx) {
                    scope_.emplace(chunk_info::policy::open_chunk(*slot<chunk_slot_i>().tx));
                } else {
                    scope_.emplace();
                }
            }
            current_.emplace(*it_);
            if constexpr (has<ledger_slot_i>) {
                current_key_ = make_key(std::invoke(slot<ledger_slot_i>().key_fn, std::as_const(*current_)));
                if (slot<ledger_slot_i>().ledger->contains(*current_key_)) {
                    ++report_.skipped;
                    current_.reset();
                    continue;
                }
            }
            return;
        }
        end_chunk();
        if (log_) {
            log_->summary(report_);
        }
    }

    Job* job_;
    std::ranges::iterator_t<source_type> it_;
    std::optional<value_type> current_;
    std::optional<key> current_key_;
    std::optional<scope_type> scope_;
    std::optional<progress_log> log_;
    std::size_t in_chunk_ = 0;
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
