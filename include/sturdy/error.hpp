#pragma once
/// sturdy/error.hpp — error codes, the `sturdy::result<T>` type, and how a failure is
/// classified as transient (retry it) or permanent (record it and move on).

// The std flavour of Outcome: <boost/outcome/result.hpp> also pulls in Boost.System and
// Boost.Exception and costs about a second of compile time per translation unit. For an error
// type that is neither a boost::system nor a std error code, both flavours name the very same
// type (basic_result<T, error, error_code_throw_as_system_error<T, error, void>>).
#include <boost/outcome/std_result.hpp>
#include <boost/outcome/try.hpp>

#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace sturdy {

/// Error codes raised by sturdy itself and by its stores.
enum class errc {
    transient = 1,     ///< worth retrying: busy, locked, timeout, remote unavailable
    permanent,         ///< retrying cannot help: a constraint, bad data
    bad_argument,      ///< an adaptor was given an argument it cannot work with
    key_failed,        ///< the key function threw
    store_unavailable, ///< the store cannot be opened or reached
    schema_mismatch,   ///< the store holds tables this version cannot understand
};

/// The kinds of failure the loop distinguishes.
enum class failure_kind {
    transient, ///< retry it: busy, locked, timeout
    permanent, ///< this item cannot succeed: record it, go on with the next
    fatal,     ///< no item can succeed (a missing table, a read-only or corrupt file): stop the run
};

namespace detail {
class errc_category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "sturdy"; }
    [[nodiscard]] std::string message(int value) const override
    {
        switch (static_cast<errc>(value)) {
        case errc::transient: return "transient failure";
        case errc::permanent: return "permanent failure";
        case errc::bad_argument: return "bad argument";
        case errc::key_failed: return "key function failed";
        case errc::store_unavailable: return "store unavailable";
        case errc::schema_mismatch: return "schema mismatch";
        }
        return "unknown sturdy error";
    }
    [[nodiscard]] std::error_condition default_error_condition(int value) const noexcept override
    {
        // Every sturdy code maps onto one of the three conditions the loop tests.
        switch (static_cast<errc>(value)) {
        case errc::transient: return {1, *this};
        case errc::store_unavailable:
        case errc::schema_mismatch: return {3, *this};
        default: return {2, *this};
        }
    }
};
} // namespace detail

inline const std::error_category& sturdy_category() noexcept
{
    static const detail::errc_category category;
    return category;
}

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), sturdy_category()}; }

/// The condition a store's own error category maps its retryable codes onto: give your
/// category a `default_error_condition` returning `sturdy::transient_condition()` for
/// busy/locked/timeout codes and sturdy retries them.
inline std::error_condition transient_condition() noexcept { return {1, sturdy_category()}; }

/// The condition for errors no item can get past (the store is unusable or the schema is
/// wrong): the loop stops at once instead of failing every item and quarantining them all.
inline std::error_condition fatal_condition() noexcept { return {3, sturdy_category()}; }

/// An error with the message a person needs: what failed, and what to do.
struct error {
    std::error_code code;
    std::string message;
};

inline const std::error_code& make_error_code(const error& e) noexcept { return e.code; }

/// Thrown for an error that carries a message; `code()` tells transient from permanent.
class failure_error : public std::system_error {
public:
    explicit failure_error(error e) : std::system_error(e.code, e.message), message_(std::move(e.message)) {}
    failure_error(std::error_code code, std::string message)
        : std::system_error(code, message), message_(std::move(message))
    {
    }
    /// The message alone, without the category suffix `std::system_error::what` adds.
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

private:
    std::string message_;
};

/// Throw this (or derive from it) from an effect for a failure worth retrying.
class transient_error : public failure_error {
public:
    explicit transient_error(std::string message) : failure_error(make_error_code(errc::transient), std::move(message))
    {
    }
};

/// Throw this for a failure that retrying cannot fix.
class permanent_error : public failure_error {
public:
    explicit permanent_error(std::string message) : failure_error(make_error_code(errc::permanent), std::move(message))
    {
    }
};

/// A usage error: an adaptor argument that cannot work, named with the fix.
class usage_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// Outcome's hook, found by ADL: `value()` on a `sturdy::result` holding an error throws
/// `failure_error` with the error's code and message.
[[noreturn]] inline void outcome_throw_as_system_error_with_payload(error e) { throw failure_error(std::move(e)); }

/// `sturdy::result<T>`: a value, or an `error` with its message. `value()` on an error throws
/// `failure_error`; `BOOST_OUTCOME_TRY(auto x, expr)` propagates the error.
template <class T> using result = boost::outcome_v2::std_result<T, error>;

inline bool is_transient(const std::error_code& code) noexcept
{
    return code && code.default_error_condition() == transient_condition();
}

inline bool is_fatal(const std::error_code& code) noexcept
{
    return code && code.default_error_condition() == fatal_condition();
}

/// The reason string for an exception: its message, or a plain word when it is not a std::exception.
inline std::string describe(const std::exception_ptr& ex)
{
    try {
        std::rethrow_exception(ex);
    } catch (const failure_error& e) {
        return e.message();
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown exception";
    }
}

} // namespace sturdy

template <> struct std::is_error_code_enum<sturdy::errc> : std::true_type {
};
