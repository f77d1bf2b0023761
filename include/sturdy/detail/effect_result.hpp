#pragma once
/// What an effect's return value says: nothing (void, success) or a failure, read from a
/// `std::error_code`, a `sturdy::result`, or any Boost.Outcome `result` or `outcome`.

#include <sturdy/error.hpp>
#include <sturdy/key.hpp>
#include <sturdy/policy/classify.hpp>

#include <concepts>
#include <exception>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

namespace sturdy::detail {

template <class E> inline constexpr bool readable_error_always_false = false;

/// A result's error as a failure: a `sturdy::error`; an exception pointer (std or boost, rethrown
/// through `rethrow_exception` found by ADL), classified as if the effect had thrown it; an error
/// code (std, or boost::system, which converts to std keeping its category); or a type made an
/// error code by `make_error_code(e)` found by ADL.
template <class E> attempt_failure failure_of_error(const E& e, const key* k)
{
    if constexpr (std::same_as<E, error>) {
        return {k, nullptr, e.code, e.message};
    } else if constexpr (requires { rethrow_exception(e); }) {
        if (!e) {
            return {k, nullptr, {}, "the effect returned an error holding no exception"};
        }
        std::exception_ptr ex;
        try {
            rethrow_exception(e);
        } catch (...) {
            ex = std::current_exception();
        }
        return {k, ex, code_of(ex), describe(ex)};
    } else if constexpr (std::convertible_to<const E&, std::error_code>) {
        const std::error_code code = e;
        if constexpr (requires { std::string(e.message()); }) {
            return {k, nullptr, code, std::string(e.message())};
        } else {
            return {k, nullptr, code, code.message()};
        }
    } else if constexpr (requires { std::error_code(make_error_code(e)); }) { // ADL, as Outcome itself requires
        const std::error_code code = make_error_code(e);
        return {k, nullptr, code, code.message()};
    } else {
        static_assert(readable_error_always_false<E>,
                      "guarded: the effect's result holds an error sturdy cannot read; use sturdy::error, "
                      "an error code (std or boost::system), an exception pointer, or a type with "
                      "make_error_code(e) found by ADL");
        return {};
    }
}

/// What an effect's return value says: nothing (void, success) or a failure.
template <class R> std::optional<attempt_failure> failure_of_result(R&& r, const key* k)
{
    using T = std::remove_cvref_t<R>;
    if constexpr (std::same_as<T, std::error_code>) {
        if (r) {
            return attempt_failure{k, nullptr, r, r.message()};
        }
        return std::nullopt;
    } else {
        static_assert(
            requires {
                r.has_error();
                r.error();
            },
            "guarded: the effect must return void, std::error_code, or a result type "
            "(sturdy::result<T>, a Boost.Outcome result or outcome)");
        if constexpr (requires {
                          r.has_exception();
                          r.exception();
                      }) {
            // An outcome: an error, an exception, or both (then the exception says more, and the
            // error code is kept for the classifier when the exception carries none).
            if (r.has_exception()) {
                attempt_failure f = failure_of_error(r.exception(), k);
                if (!f.code && r.has_error()) {
                    f.code = failure_of_error(r.error(), k).code;
                }
                return f;
            }
        }
        if (!r.has_error()) {
            return std::nullopt;
        }
        return failure_of_error(r.error(), k);
    }
}

} // namespace sturdy::detail
