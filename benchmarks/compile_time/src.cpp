// Compile-time subject (scripts/compile-time): the one file of a program built with
// STURDY_SEPARATE_COMPILATION that compiles the core's and the memory store's definitions.
#include <sturdy/src.hpp>
