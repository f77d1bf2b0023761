#pragma once
/// sturdy/src.hpp — the definitions of the core's and the memory store's functions, for
/// programs built with STURDY_SEPARATE_COMPILATION (see sturdy/config.hpp). Include it in
/// exactly one .cpp file of the program:
///
///     // sturdy.cpp, compiled with -DSTURDY_SEPARATE_COMPILATION like every other file
///     #include <sturdy/src.hpp>
///
/// The SQL stores' definitions are in sturdy/store/sqlite_src.hpp and postgres_src.hpp. sturdy's
/// Meson option separate_compilation compiles each into a library (src/) and defines the macro
/// for their users.

#ifndef STURDY_SEPARATE_COMPILATION
// Without it, every definition here would clash with the inline ones of the headers.
#error "sturdy/src.hpp is for STURDY_SEPARATE_COMPILATION builds: define it for every file (sturdy/config.hpp)"
#endif

#include <sturdy/detail/impl/chunk_book.ipp>
#include <sturdy/hook/impl/prometheus.ipp>
#include <sturdy/impl/clock.ipp>
#include <sturdy/impl/error.ipp>
#include <sturdy/impl/log.ipp>
#include <sturdy/impl/report.ipp>
#include <sturdy/policy/impl/backoff.ipp>
#include <sturdy/policy/impl/classify.ipp>
#include <sturdy/sink/impl/json_lines.ipp>
#include <sturdy/store/detail/impl/ledger_kit.ipp>
#include <sturdy/store/detail/impl/sql_kit.ipp>
#include <sturdy/store/impl/effect_ledger.ipp>
#include <sturdy/store/impl/memory.ipp>
