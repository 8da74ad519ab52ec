/* The memory syscalls the stdlib lacks: madvise on ranges, posix_fadvise,
 * page touching, mlock/munlock, mincore.  Linux-only calls are guarded so
 * the core still compiles on macOS. */
#include "common.h"

/* Entries added to Mapping's method table and to the module's. */
#define SYSCALLS_MAPPING_METHODS
#define SYSCALLS_MODULE_METHODS
