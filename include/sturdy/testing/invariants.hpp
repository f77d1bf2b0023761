#pragma once
/// sturdy/testing/invariants.hpp — the usual invariants of a job, over plain lists of keys, so
/// they work with any store and any test framework. Each returns an empty string when the
/// invariant holds, else what broke (the first few offending keys):
///
///     CHECK(sturdy::testing::exactly_once(expected, effects, failing) == "");
///
/// Read the lists from your store after the job: the keys whose effect is committed (one entry
/// per effect, so a duplicate shows twice), the ledger's done keys, its failure records.

#include <sturdy/concepts.hpp>
#include <sturdy/key.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h> // fmt::join (in <fmt/format.h> before fmt 11)

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sturdy::testing {

namespace detail {
/// Collects offenders of one kind and says how many there were, with the first few.
class offenders {
public:
    explicit offenders(std::string what) : what_(std::move(what)) {}
    void add(const std::string& k)
    {
        if (++count_ <= shown) {
            keys_.push_back(k);
        }
    }
    void append_to(std::string& out) const
    {
        if (count_ == 0) {
            return;
        }
        if (!out.empty()) {
            out += "; ";
        }
        out += fmt::format("{} key(s) {}: {}{}", count_, what_, fmt::join(keys_, ", "), count_ > shown ? ", ..." : "");
    }

private:
    static constexpr std::size_t shown = 5;
    std::string what_;
    std::vector<std::string> keys_;
    std::size_t count_ = 0;
};

inline std::unordered_map<key, std::size_t> count_keys(const std::vector<key>& keys)
{
    std::unordered_map<key, std::size_t> n;
    for (const auto& k : keys) {
        ++n[k];
    }
    return n;
}
} // namespace detail

/// Every key of `expected` has its effect committed exactly once, except the keys in `not_done`
/// (failing or quarantined: the job may leave them), whose effects must have been rolled back
/// entirely; and no effect belongs to a key outside `expected`. `effects`: one entry per
/// committed effect.
inline std::string exactly_once(const std::vector<key>& expected, const std::vector<key>& effects,
                                const std::vector<key>& not_done = {})
{
    const auto n = detail::count_keys(effects);
    const std::unordered_set<key> excused(not_done.begin(), not_done.end());
    const std::unordered_set<key> wanted(expected.begin(), expected.end());
    detail::offenders missing("never done");
    detail::offenders twice("done more than once");
    detail::offenders partial("not done (failing or quarantined) but with a committed effect");
    detail::offenders stray("done but not expected");
    for (const auto& k : expected) {
        const auto it = n.find(k);
        const std::size_t c = it == n.end() ? 0 : it->second;
        if (excused.contains(k)) {
            if (c > 0) {
                partial.add(k.str());
            }
        } else if (c == 0) {
            missing.add(k.str());
        } else if (c > 1) {
            twice.add(k.str());
        }
    }
    for (const auto& [k, c] : n) {
        if (!wanted.contains(k)) {
            stray.add(k.str());
        }
    }
    std::string out;
    for (const auto* o : {&missing, &twice, &partial, &stray}) {
        o->append_to(out);
    }
    return out;
}

/// The ledger says done exactly for the keys whose effect is committed: the mark and the effect
/// committed or vanished together. `effects`: one entry per committed effect.
inline std::string ledger_matches_effects(const std::vector<key>& done, const std::vector<key>& effects)
{
    const auto n = detail::count_keys(effects);
    const std::unordered_set<key> marked(done.begin(), done.end());
    detail::offenders unmarked("with a committed effect but not in the ledger");
    detail::offenders empty("in the ledger with no committed effect");
    for (const auto& [k, c] : n) {
        if (!marked.contains(k)) {
            unmarked.add(k.str());
        }
    }
    for (const auto& k : marked) {
        if (!n.contains(k)) {
            empty.add(k.str());
        }
    }
    std::string out;
    unmarked.append_to(out);
    empty.append_to(out);
    return out;
}

/// No key is both done and quarantined, and no done key keeps a failure record (success clears it).
inline std::string not_done_and_failing(const std::vector<key>& done, const std::vector<failure_info>& failures)
{
    const std::unordered_set<key> marked(done.begin(), done.end());
    detail::offenders quarantined("both done and quarantined");
    detail::offenders failing("done but still with a failure record");
    for (const auto& f : failures) {
        if (marked.contains(f.item_key)) {
            (f.quarantined ? quarantined : failing).add(f.item_key.str());
        }
    }
    std::string out;
    quarantined.append_to(out);
    failing.append_to(out);
    return out;
}

/// An item of a watermarked input: its watermark value and its key.
template <class V> struct watermarked {
    V value;
    key item_key;
};

/// The watermark is never ahead of a committed item: every item at or below `checkpoint` is done
/// or has a failure record (a later run retries it by key), so moving past it lost nothing.
template <class V>
std::string watermark_not_ahead(const std::optional<V>& checkpoint, const std::vector<watermarked<V>>& items,
                                const std::vector<key>& done, const std::vector<failure_info>& failures)
{
    if (!checkpoint) {
        return {};
    }
    std::unordered_set<key> settled(done.begin(), done.end());
    for (const auto& f : failures) {
        settled.insert(f.item_key);
    }
    detail::offenders lost("at or below the watermark but neither done nor failing (lost)");
    for (const auto& i : items) {
        if (!(*checkpoint < i.value) && !settled.contains(i.item_key)) {
            lost.add(i.item_key.str());
        }
    }
    std::string out;
    lost.append_to(out);
    return out;
}

} // namespace sturdy::testing
