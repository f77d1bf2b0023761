#pragma once
/// sturdy/policy/impl/classify.ipp — definitions for sturdy/policy/classify.hpp (see sturdy/config.hpp).

#include <sturdy/policy/classify.hpp>

#include <exception>
#include <system_error>

namespace sturdy {

STURDY_DECL std::error_code code_of(const std::exception_ptr& ex)
{
    try {
        std::rethrow_exception(ex);
    } catch (const std::system_error& e) {
        return e.code();
    } catch (...) {
        return {};
    }
}

STURDY_DECL attempt_failure failure_from_current_exception(const key* k)
{
    auto ex = std::current_exception();
    return {k, ex, code_of(ex), describe(ex)};
}

STURDY_DECL failure_kind kind_of(const std::error_code& code)
{
    if (is_transient(code)) {
        return failure_kind::transient;
    }
    return is_fatal(code) ? failure_kind::fatal : failure_kind::permanent;
}

STURDY_DECL failure_kind default_classify(const attempt_failure& f)
{
    if (f.exception) {
        try {
            std::rethrow_exception(f.exception);
        } catch (const std::system_error& e) {
            return kind_of(e.code());
        } catch (...) {
            return failure_kind::permanent;
        }
    }
    return kind_of(f.code);
}

STURDY_DECL bool detail::in_category::operator()(const attempt_failure& f) const
{
    if (f.code && f.code.category() == *category) {
        return true;
    }
    if (f.exception) {
        try {
            std::rethrow_exception(f.exception);
        } catch (const std::system_error& e) {
            return e.code().category() == *category;
        } catch (...) {
            return false;
        }
    }
    return false;
}

} // namespace sturdy
