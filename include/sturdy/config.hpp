#pragma once
/// sturdy/config.hpp — header-only (the default) or separate compilation.
///
/// By default every function is defined in the headers, `inline`. Defined for the whole
/// program (-DSTURDY_SEPARATE_COMPILATION on every translation unit, sturdy's included),
/// STURDY_SEPARATE_COMPILATION makes the headers declare the functions that are not templates
/// and not on the per-item path (stores, report and log text, error categories), and one .cpp
/// file of the program defines them once:
///
///     #include <sturdy/src.hpp>               // core and memory store
///     #include <sturdy/store/sqlite_src.hpp>  // the SQLite store, if the program uses it
///
/// so they are compiled once instead of in every translation unit. The definitions live in
/// `impl/*.ipp` files next to their headers, which include them at their end in header-only mode.
/// Define the macro for every translation unit or for none: a program that mixes the modes
/// breaks the one-definition rule. Built with the Meson option separate_compilation, sturdy's
/// Meson dependencies, .pc files and CMake targets carry the macro and link the definitions
/// compiled once (libsturdy, libsturdy-<store>, from src/), so no file sets it by hand
/// (docs/consuming.md).

#ifdef STURDY_SEPARATE_COMPILATION
/// Declares (in a header) and defines (in an .ipp) a function compiled once, in the .cpp that
/// includes sturdy/src.hpp.
#define STURDY_DECL
#else
/// Declares and defines a function defined in the headers: `inline`.
#define STURDY_DECL inline
#endif
