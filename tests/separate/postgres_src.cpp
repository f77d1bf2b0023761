// The definitions of the PostgreSQL store, compiled once (sturdy/config.hpp).
#include <sturdy/store/postgres_src.hpp>
