// libsturdy-sqlite, the SQLite store's library of a separate-compilation build (meson option
// separate_compilation, docs/consuming.md): its definitions, compiled once. Links libsturdy
// and sqlite3.
#include <sturdy/store/sqlite_src.hpp>
