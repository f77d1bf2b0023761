// docs/consuming.md's first program, compiled and run as written (extracted at build time by
// check_docs.py extract): it exits 0 when its report is clean.
#include "consuming_first_program.inc"
