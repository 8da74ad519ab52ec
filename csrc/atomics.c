/* Atomic views on mapped memory (AtomicU64, AtomicU32 and their slices).
 *
 * Each live view holds one export of its mapping (Mapping.exports), so
 * close()/resize() refuse while it lives and the address cannot move.
 */
#include "common.h"

/* Entries added to Mapping's method table. */
#define ATOMICS_MAPPING_METHODS

static int
atomics_init(PyObject *module, ModState *st)
{
    (void)module;
    (void)st;
    return 0;
}
