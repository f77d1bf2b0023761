#pragma once
/// sturdy/store/postgres_src.hpp — the definitions of the PostgreSQL store's functions, for
/// programs built with STURDY_SEPARATE_COMPILATION (see sturdy/config.hpp). Include it in exactly
/// one .cpp file of the program (the same file as sturdy/src.hpp, or another), and link libpq.

#ifndef STURDY_SEPARATE_COMPILATION
// Without it, every definition here would clash with the inline ones of the headers.
#error "sturdy/store/postgres_src.hpp is for STURDY_SEPARATE_COMPILATION builds (see sturdy/config.hpp)"
#endif

#include <sturdy/store/impl/postgres.ipp>
