#pragma once
/// sturdy/policy/classify.hpp — deciding whether a failure is transient (retry it) or
/// permanent (record it). The default:
///   - `sturdy::transient_error`, or any `std::system_error` / `std::error_code` whose
///     condition is `sturdy::transient_condition()` (stores map busy/locked there): transient;
///   - codes whose condition is `sturdy::fatal_condition()`: fatal, the run stops at once with
///     the reason and records no failure. Each store lists its fatal errors in its header; on
///     SQLite: a missing table or column, a read-only database, a corrupt file, a full disk
///     (sturdy/store/sqlite.hpp); PostgreSQL: sturdy/store/postgres.hpp; the memory store
///     raises none;
///   - everything else: permanent.
/// Extend it with `retry_on<E...>()` (exception types), `retry_if(pred)` (any predicate on the
/// failure), or your own callable returning `std::optional<failure_kind>` (nullopt: "ask the
/// default").

#include <sturdy/config.hpp>
#include <sturdy/error.hpp>
#include <sturdy/key.hpp>

#include <concepts>
#include <exception>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace sturdy {

/// One failed attempt, as classifiers see it.
struct attempt_failure {
    const key* item_key = nullptr;
    std::exception_ptr exception; ///< set when the effect threw
    std::error_code code;         ///< set when the effect returned an error (or threw a system_error)
    std::string reason;
    /// The ledger says another writer did this item first (sturdy::confirming_ledger): the item
    /// is skipped once its writes are rolled back, not failed.
    bool done_elsewhere = false;
};

/// The error code an exception carries: a `std::system_error`'s, or none.
STURDY_DECL std::error_code code_of(const std::exception_ptr& ex);

/// The exception being handled (call it in a `catch`) as a failure of the item keyed `k`.
STURDY_DECL attempt_failure failure_from_current_exception(const key* k);

/// The kind of failure an error code means: its condition decides (see the header comment).
STURDY_DECL failure_kind kind_of(const std::error_code& code);

/// The default classification; see the header comment.
STURDY_DECL failure_kind default_classify(const attempt_failure& f);

/// A classifier: says transient, permanent or fatal, or nullopt to defer to the default.
template <class C>
concept classifier = requires(C& c, const attempt_failure& f)
{
    {
        c(f)
        } -> std::convertible_to<std::optional<failure_kind>>;
};

/// Treat exceptions of these types (and types derived from them) as transient.
template <class... Exceptions> struct retry_on_fn {
    std::optional<failure_kind> operator()(const attempt_failure& f) const
    {
        if (!f.exception) {
            return std::nullopt;
        }
        return matches<Exceptions...>(f.exception) ? std::optional(failure_kind::transient) : std::nullopt;
    }

private:
    template <class E, class... Rest> static bool matches(const std::exception_ptr& ex)
    {
        try {
            std::rethrow_exception(ex);
        } catch (const E&) {
            return true;
        } catch (...) {
            if constexpr (sizeof...(Rest) > 0) {
                return matches<Rest...>(ex);
            } else {
                return false;
            }
        }
    }
};
template <class... Exceptions> inline constexpr retry_on_fn<Exceptions...> retry_on{};

/// Treat a failure as transient when `pred(failure)` is true.
template <class Pred> struct retry_if_fn {
    Pred pred;
    std::optional<failure_kind> operator()(const attempt_failure& f) const
    {
        return pred(f) ? std::optional(failure_kind::transient) : std::nullopt;
    }
};
template <class Pred> retry_if_fn<Pred> retry_if(Pred pred) { return {std::move(pred)}; }

namespace detail {
/// `retry_category`'s test: the failure's error code, or the `std::system_error` it threw, is
/// in `category`.
struct in_category {
    const std::error_category* category;
    STURDY_DECL bool operator()(const attempt_failure& f) const;
};
} // namespace detail

/// Treat error codes of this category as transient (a remote client's own category, say).
inline retry_if_fn<detail::in_category> retry_category(const std::error_category& category)
{
    return {detail::in_category{&category}};
}

/// The default alone.
struct default_classifier {
    std::optional<failure_kind> operator()(const attempt_failure& /*unused*/) const { return std::nullopt; }
};

template <classifier C> failure_kind classify(C& c, const attempt_failure& f)
{
    if (auto kind = c(f)) {
        return *kind;
    }
    return default_classify(f);
}

} // namespace sturdy

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/policy/impl/classify.ipp>
#endif
