// The one file of a program built with STURDY_SEPARATE_COMPILATION that compiles sturdy's
// definitions (sturdy/config.hpp). .ci/run builds main.cpp and this file with
// -DSTURDY_SEPARATE_COMPILATION against the installed headers.
#include <sturdy/src.hpp>
#ifdef STURDY_CONSUMER_SQLITE
#include <sturdy/store/sqlite_src.hpp>
#endif
#ifdef STURDY_CONSUMER_POSTGRES
#include <sturdy/store/postgres_src.hpp>
#endif
