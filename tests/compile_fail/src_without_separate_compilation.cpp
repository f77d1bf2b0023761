// sturdy/src.hpp in a program built header-only (STURDY_SEPARATE_COMPILATION not defined):
// every definition in it would clash with the headers' inline ones, so it is refused with the fix.
// expect: sturdy/src.hpp is for STURDY_SEPARATE_COMPILATION builds
#ifdef STURDY_COMPILE_FAIL_CONTROL
#define STURDY_SEPARATE_COMPILATION
#endif
#include <sturdy/src.hpp>

int main() { return 0; }
