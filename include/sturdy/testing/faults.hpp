#pragma once
/// sturdy/testing/faults.hpp — the injector: counts store operations and, driven by a seed,
/// makes chosen ones fail or "crashes" the process at the Nth. `faulty<Store>`
/// (sturdy/testing/faulty.hpp) calls it before each operation it forwards; an effect of yours
/// calls `operation()` before a write the wrapper does not see.
///
///     sturdy::testing::injector faults(42, {sturdy::testing::fail(sturdy::testing::op::commit).at_rate(0.1)});
///
/// Deterministic: the same seed and the same sequence of operations give the same faults.

#include <sturdy/error.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sturdy::testing {

/// The store operations the wrappers forward, each a point where a fault or a crash can strike.
/// A transaction's rollback is not one: the loop calls it from destructors, which cannot
/// report, and a process that dies there loses the same as one that dies just after it.
enum class op : std::uint8_t {
    begin,
    commit,
    savepoint,
    release,     ///< a savepoint's release
    rollback_to, ///< a savepoint's rollback
    contains,    ///< ledger
    claim,       ///< ledger
    mark,        ///< ledger
    read_failures,
    record_failure,
    clear_failure,
    requeue,
    checkpoint,     ///< reading a checkpoint
    set_checkpoint, ///< writing one (the watermark)
    read,           ///< the user's own reads (query, rows, a table's get)
    write,          ///< the user's own writes (execute, a table's put)
};

/// The operation's name, as error messages and traces show it.
constexpr std::string_view name(op o) noexcept
{
    constexpr std::string_view names[] = {"begin",         "commit",         "savepoint",     "release",
                                          "rollback_to",   "contains",       "claim",         "mark",
                                          "read_failures", "record_failure", "clear_failure", "requeue",
                                          "checkpoint",    "set_checkpoint", "read",          "write"};
    return names[static_cast<std::size_t>(o)];
}

/// Which error an injected fault throws:
///  - `transient`: a `sturdy::transient_error`, retried by retry_bounded;
///  - `permanent`: a `sturdy::permanent_error`, the item fails and the run goes on;
///  - `fatal`: a `sturdy::failure_error` with `sturdy::errc::schema_mismatch`, whose condition is
///    `sturdy::fatal_condition()`: the run stops at once (the report's `stopped_early` says why,
///    the items not reached are its `remaining`, left for a later run) and records no failure,
///    as when a table is missing. Test that a broken schema stops your run, not fails every item.
enum class fault_kind { transient, permanent, fatal };

/// One rule: which operation fails, with which error, and when. Build it with `fail(op)`.
struct fault {
    op operation;
    fault_kind kind = fault_kind::transient;
    double rate = 0.0;         ///< each call fails with this probability, drawn from the seed
    std::size_t nth = 0;       ///< the nth call (1-based) fails; 0: no such rule
    bool from_then_on = false; ///< once it has struck, every later call fails too (an outage)

    /// Each call fails with probability `p` (0..1).
    [[nodiscard]] fault at_rate(double p) const
    {
        if (!(p >= 0.0 && p <= 1.0)) {
            throw usage_error("sturdy::testing::fault::at_rate: the rate is a probability, from 0 to 1");
        }
        auto f = *this;
        f.rate = p;
        return f;
    }
    /// The `n`th call (1-based) fails.
    [[nodiscard]] fault at_call(std::size_t n) const
    {
        if (n == 0) {
            throw usage_error("sturdy::testing::fault::at_call: calls are counted from 1");
        }
        auto f = *this;
        f.nth = n;
        return f;
    }
    /// The error is a `sturdy::permanent_error` (not retried).
    [[nodiscard]] fault permanently() const
    {
        auto f = *this;
        f.kind = fault_kind::permanent;
        return f;
    }
    /// The error is fatal (`sturdy::errc::schema_mismatch`): the run stops.
    [[nodiscard]] fault fatally() const
    {
        auto f = *this;
        f.kind = fault_kind::fatal;
        return f;
    }
    /// After the first failure, every call fails (the store or the network is down for good).
    [[nodiscard]] fault and_after() const
    {
        auto f = *this;
        f.from_then_on = true;
        return f;
    }
};

/// A rule for operation `o`; say when with `at_rate` or `at_call`.
inline fault fail(op o) { return fault{o}; }

/// Something the injector did, for traces and replay reports.
struct injected {
    std::size_t number; ///< the operation's number, counted from 1 since the injector was made
    op operation;
    std::string what; ///< "crash", "transient fault", "permanent fault", "fatal fault"
};

/// Counts operations, throws the faults its rules and seed choose, and the crash it is armed with.
class injector {
public:
    explicit injector(std::uint64_t seed = 0, std::vector<fault> faults = {})
        : seed_(seed), state_(seed), faults_(std::move(faults)), calls_(faults_.size(), 0), struck_(faults_.size())
    {
    }
    injector(const injector&) = delete;
    injector& operator=(const injector&) = delete;

    void add(fault f)
    {
        faults_.push_back(f);
        calls_.push_back(0);
        struck_.push_back(false);
    }

    /// The `n`th operation from now (1: the next one) throws `sturdy::crash` instead of running;
    /// 0 disarms. After a crash every operation runs untouched and uncounted (the unwinding's
    /// rollbacks) until `revive()`.
    void crash_in(std::size_t n) { crash_at_ = n == 0 ? 0 : count_ + n; }

    /// Called before each operation: counts it, then crashes or throws an injected fault when
    /// one is due. Your effect calls it (through `faulty::operation()`) before its own writes.
    void operation(op o)
    {
        if (crashed_) {
            return;
        }
        ++count_;
        if (count_ == crash_at_) {
            crashed_ = true;
            crash_at_ = 0;
            events_.push_back({count_, o, "crash"});
            throw crash();
        }
        for (std::size_t i = 0; i < faults_.size(); ++i) {
            const fault& f = faults_[i];
            if (f.operation != o) {
                continue;
            }
            const std::size_t call = ++calls_[i];
            bool strikes = (f.from_then_on && struck_[i]) || call == f.nth;
            if (f.rate > 0.0) {
                strikes = next_unit() < f.rate || strikes; // always draw: the sequence stays the same
            }
            if (strikes) {
                struck_[i] = true;
                throw_fault(f, o);
            }
        }
    }

    /// A crash was thrown and the process is "dead": operations run untouched.
    [[nodiscard]] bool crashed() const noexcept { return crashed_; }

    /// After a crash: rolls back every store still registered (what a dead process's database
    /// does), then lets operations count and fail again, as a new process would.
    void revive()
    {
        bury();
        crashed_ = false;
    }

    /// Rolls back every registered store that is in a transaction.
    void bury()
    {
        for (auto& [owner, rollback] : stores_) {
            rollback();
        }
    }

    /// Operations counted so far (crash points are numbered this way).
    [[nodiscard]] std::size_t operations() const noexcept { return count_; }
    [[nodiscard]] std::size_t faults_injected() const noexcept { return faults_thrown_; }
    /// Every crash and fault so far, in order.
    [[nodiscard]] const std::vector<injected>& events() const noexcept { return events_; }
    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

    /// A wrapper registers how to roll its store back after a crash, and unregisters when it dies.
    void register_store(const void* owner, std::function<void()> rollback)
    {
        stores_.emplace_back(owner, std::move(rollback));
    }
    void unregister_store(const void* owner) noexcept
    {
        std::erase_if(stores_, [owner](const auto& s) { return s.first == owner; });
    }

    /// A number in [0, 1) from the seed's sequence (the rules' draws use it too).
    double next_unit() noexcept { return static_cast<double>(next() >> 11U) * 0x1.0p-53; }
    /// The seed's next 64 bits (splitmix64).
    std::uint64_t next() noexcept
    {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31U);
    }

private:
    [[noreturn]] void throw_fault(const fault& f, op o)
    {
        ++faults_thrown_;
        const std::string_view kind = f.kind == fault_kind::transient   ? "transient"
                                      : f.kind == fault_kind::permanent ? "permanent"
                                                                        : "fatal";
        events_.push_back({count_, o, std::string(kind) + " fault"});
        std::string what = "injected " + std::string(kind) + " fault: " + std::string(name(o)) + " (operation #" +
                           std::to_string(count_) + ", seed " + std::to_string(seed_) + ")";
        switch (f.kind) {
        case fault_kind::transient: throw transient_error(std::move(what));
        case fault_kind::permanent: throw permanent_error(std::move(what));
        case fault_kind::fatal: break;
        }
        throw failure_error(make_error_code(errc::schema_mismatch), std::move(what));
    }

    std::uint64_t seed_;
    std::uint64_t state_;
    std::vector<fault> faults_;
    std::vector<std::size_t> calls_;
    std::vector<bool> struck_;
    std::size_t count_ = 0;
    std::size_t crash_at_ = 0;
    bool crashed_ = false;
    std::size_t faults_thrown_ = 0;
    std::vector<injected> events_;
    std::vector<std::pair<const void*, std::function<void()>>> stores_;
};

} // namespace sturdy::testing
