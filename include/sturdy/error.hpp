#pragma once
/// sturdy/error.hpp — error codes, the `sturdy::result<T>` type, and how a failure is
/// classified as transient (retry it), permanent (record it and move on) or fatal (stop the
/// run).

// The std flavour of Outcome: <boost/outcome/result.hpp> also pulls in Boost.System and
// Boost.Exception and costs about a second of compile time per translation unit. For an error
// type that is neither a boost::system nor a std error code, both flavours name the very same
// type (basic_result<T, error, error_code_throw_as_system_error<T, error, void>>).
#include <sturdy/config.hpp>

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
    schema_mismatch,   ///< a table or column is missing, or the store holds tables from a newer sturdy
};

/// The kinds of failure the loop distinguishes.
enum class failure_kind {
    transient, ///< retry it: busy, locked, timeout
    permanent, ///< this item cannot succeed: record it, go on with the next
    fatal,     ///< no item can succeed (a missing table, a read-only or corrupt file): stop the run
};
// Which errors are fatal is each store's to say (its header lists them): the SQLite store's
// are a missing table or column, a read-only database, a corrupt file and a full disk; the
// PostgreSQL store's include a missing table or column, permission denied, a read-only
// transaction and a full disk; the memory store raises none. An effect can raise one itself
// with a code whose condition is `fatal_condition()`, such as `errc::store_unavailable` or
// `errc::schema_mismatch`.

/// The category of sturdy's own codes (`errc`).
STURDY_DECL const std::error_category& sturdy_category() noexcept;

STURDY_DECL std::error_code make_error_code(errc e) noexcept;

/// The condition a store's own error category maps its retryable codes onto: give your
/// category a `default_error_condition` returning `sturdy::transient_condition()` for
/// busy/locked/timeout codes and sturdy retries them.
STURDY_DECL std::error_condition transient_condition() noexcept;

/// The condition for errors no item can get past (the store is unusable or the schema is
/// wrong): the loop stops at once, with the reason in the report's `stopped_early`, instead of
/// failing every item, recording a failure for each and, over a few runs, quarantining them
/// all. `errc::store_unavailable` and `errc::schema_mismatch` map here; so do a store
/// category's codes whose `default_error_condition` returns this (see the store's header).
STURDY_DECL std::error_condition fatal_condition() noexcept;

/// An error with the message a person needs: what failed, and what to do.
struct error {
    std::error_code code;
    std::string message;
};

STURDY_DECL const std::error_code& make_error_code(const error& e) noexcept;

/// Thrown for an error that carries a message; `code()` tells transient from permanent.
class failure_error : public std::system_error {
public:
    STURDY_DECL explicit failure_error(error e);
    STURDY_DECL failure_error(std::error_code code, std::string message);
    /// The message alone, without the category suffix `std::system_error::what` adds.
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

private:
    std::string message_;
};

/// Throw this (or derive from it) from an effect for a failure worth retrying.
class transient_error : public failure_error {
public:
    STURDY_DECL explicit transient_error(std::string message);
};

/// Throw this for a failure that retrying cannot fix.
class permanent_error : public failure_error {
public:
    STURDY_DECL explicit permanent_error(std::string message);
};

/// A usage error: an adaptor argument that cannot work, named with the fix.
class usage_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// The death of the process, simulated: no loop in sturdy handles it (each of the loop's
/// catch-alls rethrows it), so it leaves `drain` at once with the chunk in flight uncommitted,
/// as a kill would leave it. sturdy/testing.hpp's crash simulator throws it; an effect of yours
/// that catches everything must rethrow it too (`catch (const sturdy::crash&) { throw; }`).
class crash : public std::exception {
public:
    [[nodiscard]] const char* what() const noexcept override { return "sturdy::crash (a simulated process death)"; }
};

/// Outcome's hook, found by ADL: `value()` on a `sturdy::result` holding an error throws
/// `failure_error` with the error's code and message.
[[noreturn]] STURDY_DECL void outcome_throw_as_system_error_with_payload(error e);

/// `sturdy::result<T>`: a value, or an `error` with its message. `value()` on an error throws
/// `failure_error`; `BOOST_OUTCOME_TRY(auto x, expr)` propagates the error.
template <class T> using result = boost::outcome_v2::std_result<T, error>;

STURDY_DECL bool is_transient(const std::error_code& code) noexcept;

STURDY_DECL bool is_fatal(const std::error_code& code) noexcept;

/// The reason string for an exception: its message, or a plain word when it is not a std::exception.
STURDY_DECL std::string describe(const std::exception_ptr& ex);

} // namespace sturdy

template <> struct std::is_error_code_enum<sturdy::errc> : std::true_type {
};

#ifndef STURDY_SEPARATE_COMPILATION
#include <sturdy/impl/error.ipp>
#endif
