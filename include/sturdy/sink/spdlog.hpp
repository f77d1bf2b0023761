#pragma once
/// sturdy/sink/spdlog.hpp — `spdlog_sink`: the progress log through an spdlog logger.
///
///     ... | sturdy::logged_every(1000, sturdy::spdlog_sink())                       // spdlog's default logger
///     ... | sturdy::logged_every(1000, sturdy::spdlog_sink(spdlog::get("billing")))
///
/// Needs spdlog (Debian: libspdlog-dev; Meson: dependency('spdlog'), which brings its defines
/// and links it): only programs that include this header do; the rest of sturdy does not.
/// Levels: sturdy's info, warning and error are spdlog's info, warn and err, so the logger's
/// level and its sinks' filter them as any other line. Each line of the progress log is one
/// spdlog message (the summary keeps its continuation lines in one message): progress, each
/// failure with its key and reason (the first three of one reason, then "... and 120 more like
/// this: <reason>" at the end), "stopped early: ..." and "finished: <report>".
/// The logger is held by `std::shared_ptr`, so it lives as long as the pipeline that uses it.

#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>
#include <utility>

namespace sturdy {

/// sturdy's level as spdlog's.
[[nodiscard]] inline spdlog::level::level_enum to_spdlog_level(level l) noexcept
{
    switch (l) {
    case level::info: return spdlog::level::info;
    case level::warning: return spdlog::level::warn;
    case level::error: return spdlog::level::err;
    }
    return spdlog::level::err;
}

class spdlog_sink {
public:
    /// Logs to spdlog's default logger (as it is when the sink is made).
    spdlog_sink() : spdlog_sink(spdlog::default_logger()) {}

    /// Logs to `logger`, which must not be null (`spdlog::get(name)` returns null for a name
    /// no logger was registered with).
    explicit spdlog_sink(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger))
    {
        if (!logger_) {
            throw usage_error(
                "sturdy::spdlog_sink: the logger is null (spdlog::get(name) finds no logger of that name: create it "
                "first, e.g. spdlog::stdout_color_mt(name))");
        }
    }

    void operator()(level l, std::string_view message) const
    {
        logger_->log(to_spdlog_level(l), spdlog::string_view_t(message.data(), message.size()));
    }

    [[nodiscard]] const std::shared_ptr<spdlog::logger>& logger() const noexcept { return logger_; }

private:
    std::shared_ptr<spdlog::logger> logger_;
};

static_assert(log_sink<spdlog_sink>);

} // namespace sturdy
