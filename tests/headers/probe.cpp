// Compiled as part of the build so that compile_commands.json holds the exact command line
// sturdy's own code is compiled with; scripts/compile_check.py reuses it for the header and
// compile-fail checks. Including the umbrella header makes it a check of its own.
#include <sturdy/sturdy.hpp>
