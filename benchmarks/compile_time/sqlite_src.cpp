// Compile-time subject (scripts/compile-time): the one file of a program built with
// STURDY_SEPARATE_COMPILATION that compiles the SQLite store's definitions.
#include <sturdy/store/sqlite_src.hpp>
