#pragma once
/// sturdy/store/sqlite_src.hpp — the definitions of the SQLite store's functions, for programs
/// built with STURDY_SEPARATE_COMPILATION (see sturdy/config.hpp). Include it in exactly one
/// .cpp file of the program (the same file as sturdy/src.hpp, or another), and link sqlite3.

#ifndef STURDY_SEPARATE_COMPILATION
// Without it, every definition here would clash with the inline ones of the headers.
#error "sturdy/store/sqlite_src.hpp is for STURDY_SEPARATE_COMPILATION builds (see sturdy/config.hpp)"
#endif

#include <sturdy/store/impl/sqlite.ipp>
