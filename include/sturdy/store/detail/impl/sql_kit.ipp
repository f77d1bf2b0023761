#pragma once
/// sturdy/store/detail/impl/sql_kit.ipp — definitions for sturdy/store/detail/sql_kit.hpp (see
/// sturdy/config.hpp).

#include <sturdy/error.hpp>
#include <sturdy/store/detail/sql_kit.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include <time.h>

namespace sturdy::store_detail {

STURDY_DECL std::string abbreviated(std::string_view sql)
{
    constexpr std::size_t limit = 200;
    std::string out(sql.substr(0, limit));
    if (sql.size() > limit) {
        out += "...";
    }
    return out;
}

STURDY_DECL std::int64_t unix_seconds() noexcept
{
#ifdef CLOCK_REALTIME_COARSE
    // Seconds are all the ledgers keep: the coarse clock skips reading the CPU's counter.
    timespec ts{};
    if (::clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0) {
        return static_cast<std::int64_t>(ts.tv_sec);
    }
#endif
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

STURDY_DECL void require_batch(std::string_view what, std::size_t batch)
{
    if (batch != 0) {
        return;
    }
    std::string message(what);
    message += "::forget_marked_before: batch is 0; pass at least 1 (the default is 10000)";
    throw usage_error(message);
}

} // namespace sturdy::store_detail
