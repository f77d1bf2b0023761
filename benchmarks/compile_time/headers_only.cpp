// Compile-time reference point (scripts/compile-time): sturdy's and the memory store's headers,
// included and not used. What a translation unit pays before it writes a single adaptor.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>
