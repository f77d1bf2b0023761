// libsturdy, the library of a separate-compilation build (meson option separate_compilation,
// docs/consuming.md): the definitions of the core's and the memory store's functions, compiled
// once. Built with -DSTURDY_SEPARATE_COMPILATION, like every file of a program that links it.
#include <sturdy/src.hpp>
