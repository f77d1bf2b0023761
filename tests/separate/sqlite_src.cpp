// The definitions of the SQLite store, compiled once (sturdy/config.hpp).
#include <sturdy/store/sqlite_src.hpp>
