// The definitions of the core and the memory store, compiled once (sturdy/config.hpp).
#include <sturdy/src.hpp>
