// libsturdy-postgres, the PostgreSQL store's library of a separate-compilation build (meson
// option separate_compilation, docs/consuming.md): its definitions, compiled once. Links
// libsturdy and libpq.
#include <sturdy/store/postgres_src.hpp>
