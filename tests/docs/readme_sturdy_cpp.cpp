// The sturdy.cpp of README.md (separate compilation), compiled as written (extracted at build time
// by check_docs.py extract) and linked with the first program of docs/consuming.md.
#include "readme_sturdy_cpp.inc"
