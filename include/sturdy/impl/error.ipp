#pragma once
/// sturdy/impl/error.ipp — definitions for sturdy/error.hpp (see sturdy/config.hpp).

#include <sturdy/error.hpp>

#include <exception>
#include <string>
#include <system_error>
#include <utility>

namespace sturdy {

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

STURDY_DECL const std::error_category& sturdy_category() noexcept
{
    static const detail::errc_category category;
    return category;
}

STURDY_DECL std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), sturdy_category()}; }

STURDY_DECL std::error_condition transient_condition() noexcept { return {1, sturdy_category()}; }

STURDY_DECL std::error_condition fatal_condition() noexcept { return {3, sturdy_category()}; }

STURDY_DECL const std::error_code& make_error_code(const error& e) noexcept { return e.code; }

STURDY_DECL failure_error::failure_error(error e) : std::system_error(e.code, e.message), message_(std::move(e.message))
{
}

STURDY_DECL failure_error::failure_error(std::error_code code, std::string message)
    : std::system_error(code, message), message_(std::move(message))
{
}

STURDY_DECL transient_error::transient_error(std::string message)
    : failure_error(make_error_code(errc::transient), std::move(message))
{
}

STURDY_DECL permanent_error::permanent_error(std::string message)
    : failure_error(make_error_code(errc::permanent), std::move(message))
{
}

STURDY_DECL void outcome_throw_as_system_error_with_payload(error e) { throw failure_error(std::move(e)); }

STURDY_DECL bool is_transient(const std::error_code& code) noexcept
{
    return code && code.default_error_condition() == transient_condition();
}

STURDY_DECL bool is_fatal(const std::error_code& code) noexcept
{
    return code && code.default_error_condition() == fatal_condition();
}

STURDY_DECL std::string describe(const std::exception_ptr& ex)
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
