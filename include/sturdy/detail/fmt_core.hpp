#pragma once
/// sturdy/detail/fmt_core.hpp — <fmt/core.h>, for the formatters of `sturdy::key` and
/// `sturdy::report` (internal).
///
/// GCC 12 at -O3 reports -Wstringop-overflow inside fmt 9's own code (fill_t::operator=,
/// "writing 1 byte into a region of size 0", a known false positive), although fmt is a system
/// header, and -Werror makes it fatal in every file that includes sturdy and formats with fmt.
/// The warning is switched off for fmt's lines alone: everything else, sturdy and the user's
/// code included, keeps it. A file that includes <fmt/core.h> before sturdy gets fmt's lines
/// as they are.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include <fmt/core.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
