/* mmap_io._core: the native core of mmap_io.
 *
 * One translation unit: every concern lives in its own .c file, included
 * here in dependency order, so everything stays static and visible to the
 * optimiser.  The docstrings live in docstrings.h; docs/architecture.md
 * draws what each file owns. */
#include "common.h"
#include "docstrings.h"
#include "errors.c"
#include "sigbus.c"
#include "nogil.c"
#include "futex.c"
#include "pread.c"
#include "copy.c"
#include "memfd.c"
#include "mapping.c"
#include "fork.c"
#include "ops.c"
#include "durability.c"
#include "atomics.c"
#include "syscalls.c"
#include "items.c"
#include "sized.c"

static PyMethodDef Mapping_methods[] = {
    {"close", Mapping_close, METH_NOARGS, Mapping_close_doc},
    {"_close_idle", Mapping_close_idle, METH_O, Mapping_close_idle_doc},
    {"is_empty", Mapping_is_empty, METH_NOARGS, Mapping_is_empty_doc},
    {"fileno", Mapping_fileno, METH_NOARGS, Mapping_fileno_doc},
    {"as_ptr", Mapping_as_ptr, METH_NOARGS, Mapping_as_ptr_doc},
    {"as_mut_ptr", Mapping_as_mut_ptr, METH_NOARGS, Mapping_as_mut_ptr_doc},
    {"as_slice", (PyCFunction)(void (*)(void))Mapping_as_slice, METH_FASTCALL,
     Mapping_as_slice_doc},
    {"as_slice_mut", (PyCFunction)(void (*)(void))Mapping_as_slice_mut,
     METH_FASTCALL, Mapping_as_slice_mut_doc},
    {"_array_view", (PyCFunction)(void (*)(void))Mapping_array_view,
     METH_FASTCALL, Mapping_array_view_doc},
    {"read_bytes", (PyCFunction)(void (*)(void))Mapping_read_bytes,
     METH_FASTCALL, Mapping_read_bytes_doc},
    {"read_into", (PyCFunction)(void (*)(void))Mapping_read_into,
     METH_FASTCALL, Mapping_read_into_doc},
    {"update_region", (PyCFunction)(void (*)(void))Mapping_update_region,
     METH_FASTCALL, Mapping_update_region_doc},
    {"flush", Mapping_flush, METH_NOARGS, Mapping_flush_doc},
    {"flush_range", (PyCFunction)(void (*)(void))Mapping_flush_range,
     METH_FASTCALL, Mapping_flush_range_doc},
    {"resize", Mapping_resize, METH_O, Mapping_resize_doc},
    {"refresh", Mapping_refresh, METH_NOARGS, Mapping_refresh_doc},
    {"_set_flush_policy", Mapping_set_policy, METH_VARARGS,
     Mapping_set_policy_doc},
    ATOMICS_MAPPING_METHODS
    DURABILITY_MAPPING_METHODS
    SYSCALLS_MAPPING_METHODS
    SIZED_MAPPING_METHODS
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Mapping_getset[] = {
    {"closed", Mapping_get_closed, NULL,
     "True once the mapping is closed.\n\n"
     "    >>> m.close(); m.closed\n    True", NULL},
    {"_views", Mapping_get_views, NULL,
     "The live exported views by kind, as text (\"\" for none).", NULL},
    {"_needs_flush", Mapping_get_needs_flush, NULL,
     "Dirty data may be waiting (counted writes or writable views).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Mapping_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(Mapping, weakreflist), READONLY, NULL},
    {"pending_bytes", T_PYSSIZET, offsetof(Mapping, pending_bytes), READONLY,
     "Bytes written through update_region since the last flush (writes\n"
     "through writable views such as as_slice_mut are not counted).\n\n"
     "    >>> m.update_region(0, b'abc'); m.pending_bytes\n    3\n"
     "    >>> m.flush(); m.pending_bytes\n    0"},
    {"_cold_reads", T_INT, offsetof(Mapping, cold_reads), READONLY,
     "1 while reads of a RANDOM mapping go through pread() (pread.c)."},
    {"_access", T_INT, offsetof(Mapping, access), READONLY,
     "0 read-only, 1 read-write, 2 COW."},
    {"_exports", T_PYSSIZET, offsetof(Mapping, exports), READONLY,
     "Live exported views."},
    {"_path", T_OBJECT, offsetof(Mapping, path), READONLY,
     "Path used in messages."},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Mapping_slots[] = {
    {Py_tp_doc, (void *)Mapping_init_doc},
    {Py_tp_new, Mapping_new},
    {Py_tp_init, Mapping_init},
    MMAPIO_GC_SLOTS(Mapping, Mapping_dealloc)
    {Py_tp_methods, Mapping_methods},
    {Py_tp_getset, Mapping_getset},
    {Py_tp_members, Mapping_members},
    {Py_sq_length, Mapping_length},
    {Py_mp_length, Mapping_length},
    {Py_bf_getbuffer, Mapping_getbuffer},
    {Py_bf_releasebuffer, Mapping_releasebuffer},
    ITEMS_MAPPING_SLOTS
    {0, NULL},
};

static PyType_Spec Mapping_spec = MMAPIO_TYPE_SPEC(
    "mmap_io._core.Mapping", Mapping,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
        MMAPIO_TPFLAGS_IMMUTABLE,
    Mapping_slots);

/* ---- module-level helpers ------------------------------------------- */

static PyObject *
mod_page_size(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    (void)mod;
    return PyLong_FromSsize_t(page_size_value());
}

static PyObject *
mod_os_error(PyObject *mod, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"errno", "filename", "context", NULL};
    int err;
    PyObject *filename = Py_None;
    const char *context = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "i|Oz:os_error", kwlist, &err,
                                     &filename, &context)) {
        return NULL;
    }
    return make_os_error(PyModule_GetState(mod), NULL, err, filename, context);
}

static PyMethodDef module_methods[] = {
    {"page_size", mod_page_size, METH_NOARGS, page_size_doc},
    {"os_error", (PyCFunction)(void (*)(void))mod_os_error,
     METH_VARARGS | METH_KEYWORDS, os_error_doc},
    {"_guard_sigbus", mod_guard_sigbus, METH_NOARGS, guard_sigbus_doc},
    SYSCALLS_MODULE_METHODS
    ERRORS_MODULE_METHODS
    MEMFD_MODULE_METHODS
    {NULL, NULL, 0, NULL},
};

/* The facade builds MmapMode's access codes, FlushPolicy's kinds and
 * MmapAdvice's values from these, so each is written only in C. */
static int
add_shared_constants(PyObject *module)
{
    if (PyModule_AddIntConstant(module, "ACCESS_READ", ACCESS_READ) < 0 ||
        PyModule_AddIntConstant(module, "ACCESS_WRITE", ACCESS_WRITE) < 0 ||
        PyModule_AddIntConstant(module, "ACCESS_COPY", ACCESS_COPY) < 0 ||
        PyModule_AddIntConstant(module, "POLICY_NEVER", POLICY_NEVER) < 0 ||
        PyModule_AddIntConstant(module, "POLICY_ALWAYS", POLICY_ALWAYS) < 0 ||
        PyModule_AddIntConstant(module, "POLICY_BYTES", POLICY_BYTES) < 0 ||
        PyModule_AddIntConstant(module, "POLICY_WRITES", POLICY_WRITES) < 0 ||
        PyModule_AddIntConstant(module, "POLICY_MILLIS", POLICY_MILLIS) < 0) {
        return -1;
    }
    /* Every advice _advise() knows, available here or not: the enum lists
     * them all and _advise() reports the missing ones with EINVAL. */
    const Py_ssize_t n = (Py_ssize_t)(sizeof advice_table / sizeof advice_table[0]);
    PyObject *names = PyTuple_New(n);
    if (names == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyUnicode_FromString(advice_table[i].value);
        if (name == NULL) {
            Py_DECREF(names);
            return -1;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    int rc = PyModule_AddObjectRef(module, "_ADVICE_NAMES", names);
    Py_DECREF(names);
    return rc;
}

static int
module_exec(PyObject *module)
{
    ModState *st = PyModule_GetState(module);
    if (fork_init() < 0 || errors_init(module, st) < 0) {
        return -1;
    }
    st->MappingType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &Mapping_spec, NULL);
    if (st->MappingType == NULL ||
        PyModule_AddObjectRef(module, "Mapping", (PyObject *)st->MappingType) < 0) {
        return -1;
    }
    st->SliceRequestType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &SliceRequest_spec, NULL);
    if (st->SliceRequestType == NULL) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "MAX_SIZE", MMAPIO_MAX_SIZE) < 0 ||
        PyModule_AddIntConstant(module, "BIG_COPY", MMAPIO_BIG_COPY) < 0 ||
        add_shared_constants(module) < 0) {
        return -1;
    }
    if (sized_init(module) < 0) {
        return -1;
    }
    return atomics_init(module, st);
}

/* Visit every reference of the module state, or clear them all when
 * `visit` is NULL: one list (MODSTATE_FIELDS) for both. */
static int
modstate_refs(PyObject *module, visitproc visit, void *arg)
{
    ModState *st = PyModule_GetState(module);
#define EACH_FIELD(name)                                                     \
    if (visit == NULL) {                                                     \
        Py_CLEAR(st->name);                                                  \
    }                                                                        \
    else {                                                                   \
        Py_VISIT(st->name);                                                  \
    }
    MODSTATE_FIELDS(EACH_FIELD)
#undef EACH_FIELD
    return 0;
}

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    return modstate_refs(module, visit, arg);
}

static int
module_clear(PyObject *module)
{
    return modstate_refs(module, NULL, NULL);
}

static void
module_free(void *module)
{
    (void)module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED},
#endif
    {0, NULL},
};

static PyModuleDef mmapio_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mmap_io._core",
    .m_doc = "Native core of mmap_io: mappings, copies, atomics, syscalls.",
    .m_size = sizeof(ModState),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&mmapio_module);
}
