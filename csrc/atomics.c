/* Atomic views on mapped memory (AtomicU64, AtomicU32 and their slices).
 *
 * Each live view holds one export of its mapping (Mapping.exports), so
 * resize()/refresh() refuse while it lives and close() leaves the memory
 * mapped until it goes: the address cannot move, the view caches it and
 * every operation is one sequentially consistent __atomic builtin on it,
 * never a lock.  Because the memory is shared (MAP_SHARED), the same views
 * work across processes mapping the same file.
 *
 * The operations run with the GIL held and take no lock: nothing unmaps or
 * moves the memory while exports > 0.  Each access runs
 * inside the SIGBUS guard (sigbus.c), so touching a page the backing file
 * no longer has (it was truncated by someone else) raises
 * FileTruncatedError instead of killing the process with SIGBUS.
 *
 * AtomicU64, AtomicU32 and AtomicSlice share one header (ATOMIC_HEAD), one
 * lifecycle (release/traverse/clear, Atomic_*; the core's mmapio_gc_dealloc
 * frees them) and one repr frame (atomic_repr_of), and the two view types
 * one method table: the item width is a field, and atomic_do() is the one
 * place that branches on it.
 *
 * Methods are METH_NOARGS/METH_O/METH_FASTCALL and parse their ints with
 * PyLong_AsUnsignedLongLong, whose one-digit case is a plain load: these
 * are hot paths (no lock, no indirect call: one noinline guarded function
 * per width around the __atomic builtin).
 */
#include "common.h"

/* The fields every atomic object starts with (views and slices share one
 * lifecycle: an export of `mapping`, given back by release()). */
#define ATOMIC_HEAD                                                          \
    PyObject_HEAD                                                            \
    Mapping *mapping;   /* strong reference; NULL once released */          \
    char *addr;         /* mapping->data + offset, fixed while exported */  \
    Py_ssize_t offset;                                                       \
    int width;          /* item width: 8 or 4 */                             \
    int can_write;      /* not released and the mapping is not read-only */ \
    int kind;           /* of the export: VIEW_ATOMIC or VIEW_ATOMIC_SLICE */

typedef struct {
    ATOMIC_HEAD
} AtomicHead;

/* AtomicU64 and AtomicU32: one cell. */
typedef AtomicHead AtomicView;

/* AtomicSlice: `count` consecutive cells. */
typedef struct {
    ATOMIC_HEAD
    Py_ssize_t count;
} AtomicSlice;

enum atomic_op {
    AOP_LOAD,
    AOP_STORE,
    AOP_ADD,
    AOP_SUB,
    AOP_AND,
    AOP_OR,
    AOP_XOR,
    AOP_SWAP,
    AOP_CAS,
};

#define ATOMIC_SC __ATOMIC_SEQ_CST

#if defined(__GNUC__)
#define ATOMIC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define ATOMIC_UNLIKELY(x) (x)
#endif

/* ---- the guarded hardware operations --------------------------------- */

/* One operation on *p inside the SIGBUS guard (sigbus.c).  `v` is the
 * operand (the desired value for AOP_CAS); *io receives the previous value
 * (for AOP_CAS it holds the expected value on entry and the value found on
 * exit).  Returns -1 when the access raised SIGBUS (the operation then did
 * not happen: a faulting locked instruction has no effect), else 0, or for
 * AOP_CAS 1 when it swapped. */
#define DEFINE_GUARDED_OP(BITS)                                              \
    __attribute__((noinline)) static int                                     \
    atomic_guarded##BITS(int op, uint##BITS##_t *p, uint##BITS##_t v,        \
                         uint##BITS##_t *io)                                 \
    {                                                                        \
        uint##BITS##_t expected = *io;                                       \
        int faulted;                                                         \
        SIGBUS_GUARDED(faulted, switch (op) {                                \
            case AOP_LOAD:                                                   \
                *io = __atomic_load_n(p, ATOMIC_SC);                         \
                break;                                                       \
            case AOP_STORE:                                                  \
                __atomic_store_n(p, v, ATOMIC_SC);                           \
                break;                                                       \
            case AOP_ADD:                                                    \
                *io = __atomic_fetch_add(p, v, ATOMIC_SC);                   \
                break;                                                       \
            case AOP_SUB:                                                    \
                *io = __atomic_fetch_sub(p, v, ATOMIC_SC);                   \
                break;                                                       \
            case AOP_AND:                                                    \
                *io = __atomic_fetch_and(p, v, ATOMIC_SC);                   \
                break;                                                       \
            case AOP_OR:                                                     \
                *io = __atomic_fetch_or(p, v, ATOMIC_SC);                    \
                break;                                                       \
            case AOP_XOR:                                                    \
                *io = __atomic_fetch_xor(p, v, ATOMIC_SC);                   \
                break;                                                       \
            case AOP_SWAP:                                                   \
                *io = __atomic_exchange_n(p, v, ATOMIC_SC);                  \
                break;                                                       \
            default:                                                         \
                (void)__atomic_compare_exchange_n(p, io, v, 0, ATOMIC_SC,    \
                                                  ATOMIC_SC);                \
                break;                                                       \
        });                                                                  \
        if (faulted) {                                                       \
            return -1;                                                       \
        }                                                                    \
        /* A strong CAS swaps exactly when it finds the expected value. */   \
        return op == AOP_CAS && *io == expected;                             \
    }

DEFINE_GUARDED_OP(64)
DEFINE_GUARDED_OP(32)

/* The one place the width is branched on: `op` on the cell at a->addr,
 * with atomic_guarded##BITS's arguments and result. */
static inline int
atomic_do(AtomicHead *a, int op, uint64_t v, uint64_t *io)
{
    if (a->width == 8) {
        return atomic_guarded64(op, (uint64_t *)a->addr, v, io);
    }
    uint32_t io32 = (uint32_t)*io;
    int rc = atomic_guarded32(op, (uint32_t *)a->addr, (uint32_t)v, &io32);
    *io = io32;
    return rc;
}

/* ---- shared helpers -------------------------------------------------- */

static const char *
atomic_name(int width)
{
    return width == 8 ? "AtomicU64" : "AtomicU32";
}

/* "AtomicU64", "AtomicU32" or "AtomicSlice": the type's short name. */
static const char *
atomic_kind(PyObject *self)
{
    const char *name = Py_TYPE(self)->tp_name;
    const char *dot = strrchr(name, '.');
    return dot != NULL ? dot + 1 : name;
}

static PyObject *
atomic_raise_released(AtomicHead *a)
{
    ModState *st = state_of((PyObject *)a);
    if (st != NULL) {
        raise_fmt(st->MappingClosedError,
                  "%s at offset %zd is released (its mapping was let go)",
                  atomic_kind((PyObject *)a), a->offset);
    }
    return NULL;
}

/* 0 while the view or slice holds its mapping, else -1 with
 * MappingClosedError. */
static inline int
atomic_open(AtomicHead *a)
{
    if (ATOMIC_UNLIKELY(a->mapping == NULL)) {
        atomic_raise_released(a);
        return -1;
    }
    return 0;
}

/* The error of a write op on a view that cannot write: released, or on a
 * read-only mapping. */
static PyObject *
atomic_raise_not_writable(AtomicView *a, const char *op)
{
    if (a->mapping == NULL) {
        return atomic_raise_released(a);
    }
    return raise_mode(a->mapping, op);
}

static PyObject *
atomic_raise_sigbus(AtomicView *a)
{
    return raise_truncated(a->mapping, a->offset, a->width);
}

/* Replace the pending error of a failed int conversion by one naming the
 * value and the range; OverflowError stays OverflowError. */
static int
atomic_value_error(PyObject *v, int width)
{
    if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
        PyErr_Clear();
        PyObject *text = int_text(v);
        if (text != NULL) {
            PyErr_Format(PyExc_OverflowError,
                         "value %U is out of range for %s (0 <= value < 2**%d)",
                         text, atomic_name(width), width * 8);
            Py_DECREF(text);
        }
    }
    return -1;
}

static int atomic_as_value_slow(PyObject *v, int width, uint64_t *out);

/* A Python int in [0, 2**(8*width)) as a C value. */
static inline int
atomic_as_value(PyObject *v, int width, uint64_t *out)
{
    if (PyLong_CheckExact(v)) {
        unsigned long long x = PyLong_AsUnsignedLongLong(v);
        if (ATOMIC_UNLIKELY(x == (unsigned long long)-1 && PyErr_Occurred())) {
            return atomic_value_error(v, width);
        }
        if (ATOMIC_UNLIKELY(width == 4 && x > UINT32_MAX)) {
            PyErr_SetString(PyExc_OverflowError, "");
            return atomic_value_error(v, width);
        }
        *out = x;
        return 0;
    }
    return atomic_as_value_slow(v, width, out);
}

static int
atomic_as_value_slow(PyObject *v, int width, uint64_t *out)
{
    if (PyFloat_Check(v) || !PyIndex_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s value must be an int, not %.100s",
                     atomic_name(width), Py_TYPE(v)->tp_name);
        return -1;
    }
    PyObject *idx = PyNumber_Index(v);
    if (idx == NULL) {
        return -1;
    }
    int rc = PyLong_CheckExact(idx) ? atomic_as_value(idx, width, out) : -1;
    if (rc < 0 && !PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "%s value must be an int, not %.100s",
                     atomic_name(width), Py_TYPE(v)->tp_name);
    }
    Py_DECREF(idx);
    return rc;
}

/* ---- view construction ----------------------------------------------- */

/* Views take part in the GC (a mapping can hold its own views, through a
 * subclass's __dict__ or a callback), so allocating one may run a
 * collection, and its finalizers may close or shrink the mapping, or
 * release the slice the request came from.  The view builders therefore
 * hold the mapping before allocating and check the range again after.
 * Items and slices of a slice (`from`) come from memory the slice keeps
 * mapped, even after close(), as long as it still holds it. */
static int
atomic_recheck(Mapping *m, Py_ssize_t off, Py_ssize_t nbytes,
               const AtomicHead *from)
{
    if (from != NULL ? from->mapping != m : m->closed) {
        raise_closed(m);
        return -1;
    }
    if (off > m->size || m->size - off < nbytes) {
        raise_bounds(m, off, nbytes);
        return -1;
    }
    return 0;
}

/* A view (tp AtomicU64/AtomicU32, count 1) or an AtomicSlice of `count`
 * items of `width` bytes at `off` (see atomic_recheck).  The allocation
 * is tp's basic size, so one path makes both. */
static PyObject *
atomic_new(ModState *st, PyTypeObject *tp, Mapping *m, Py_ssize_t off,
           Py_ssize_t count, int width, const AtomicHead *from)
{
    Py_INCREF(m);
    AtomicHead *a = PyObject_GC_New(AtomicHead, tp);
    if (a == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    a->mapping = NULL;
    a->addr = NULL;
    a->offset = off;
    a->width = width;
    a->can_write = 0;
    a->kind = VIEW_ATOMIC;
    if (tp == st->AtomicSliceType) {
        ((AtomicSlice *)a)->count = count;
        a->kind = VIEW_ATOMIC_SLICE;
    }
    if (atomic_recheck(m, off, count * width, from) < 0) {
        Py_DECREF(a);
        Py_DECREF(m);
        return NULL;
    }
    a->mapping = m; /* takes the reference */
    a->addr = m->data ? m->data + off : NULL;
    a->can_write = m->access != ACCESS_READ;
    take_export(m, a->kind, a->can_write);
    PyObject_GC_Track(a);
    return (PyObject *)a;
}

static PyObject *
atomic_new_view(ModState *st, Mapping *m, Py_ssize_t off, int width,
                const AtomicHead *from)
{
    return atomic_new(st, width == 8 ? st->AtomicU64Type : st->AtomicU32Type,
                      m, off, 1, width, from);
}

static PyObject *
atomic_new_slice(ModState *st, Mapping *m, Py_ssize_t off, Py_ssize_t count,
                 int width, const AtomicHead *from)
{
    return atomic_new(st, st->AtomicSliceType, m, off, count, width, from);
}

/* offset % width, computed exactly even when `off` saturated. */
static int
atomic_misalignment(PyObject *offo, Py_ssize_t off, int width, long *rem)
{
    if (off != -1 && off != PY_SSIZE_T_MAX) {
        Py_ssize_t r = off % width;
        *rem = (long)(r < 0 ? r + width : r);
        return 0;
    }
    PyObject *idx = PyNumber_Index(offo);
    PyObject *w = idx ? PyLong_FromLong(width) : NULL;
    PyObject *r = w ? PyNumber_Remainder(idx, w) : NULL;
    Py_XDECREF(idx);
    Py_XDECREF(w);
    if (r == NULL) {
        return -1;
    }
    *rem = PyLong_AsLong(r);
    Py_DECREF(r);
    return 0;
}

static PyObject *
atomic_raise_misaligned(ModState *st, Mapping *m, PyObject *offo, int width)
{
    PyObject *idx = PyNumber_Index(offo);
    PyObject *req = idx ? PyLong_FromLong(width) : NULL;
    PyObject *w = req ? where(m) : NULL;
    PyObject *text = w ? int_text(idx) : NULL;
    if (text != NULL) {
        raise_exc(exc_with_attrs(st->MisalignedError, "required", req,
                                 "offset", idx, NULL, NULL,
                                 "offset %U is not aligned for %s: it must "
                                 "be a multiple of %d (mapping%U)", text,
                                 atomic_name(width), width, w));
    }
    Py_XDECREF(idx);
    Py_XDECREF(req);
    Py_XDECREF(w);
    Py_XDECREF(text);
    return NULL;
}

/* Check (offset[, count]) for a view of `width`-byte items: type, open,
 * alignment, then bounds.  counto == NULL means a single item. */
static int
atomic_check_args(ModState *st, Mapping *m, PyObject *offo, PyObject *counto,
                  int width, Py_ssize_t *off, Py_ssize_t *count)
{
    *count = 1;
    if (as_offset(offo, off, "offset") < 0 ||
        (counto != NULL && as_offset(counto, count, "count") < 0) ||
        check_open(m) < 0) {
        return -1;
    }
    long rem;
    if (atomic_misalignment(offo, *off, width, &rem) < 0) {
        return -1;
    }
    if (rem != 0) {
        atomic_raise_misaligned(st, m, offo, width);
        return -1;
    }
    if (check_open(m) < 0) { /* an __index__ above may have closed it */
        return -1;
    }
    if (*off < 0 || *off > m->size || *count < 0 ||
        (m->size - *off) / width < *count) {
        PyObject *w = PyLong_FromLong(width);
        PyObject *c = counto ? PyNumber_Index(counto) : PyLong_FromLong(1);
        PyObject *len = w && c ? PyNumber_Multiply(c, w) : NULL;
        PyObject *o = len ? PyNumber_Index(offo) : NULL;
        if (o != NULL) {
            raise_bounds_obj(st, m, o, len, m->size);
        }
        Py_XDECREF(w);
        Py_XDECREF(c);
        Py_XDECREF(len);
        Py_XDECREF(o);
        return -1;
    }
    return 0;
}

static PyObject *
atomic_make_view(PyObject *self, PyObject *offo, int width)
{
    Mapping *m = (Mapping *)self;
    ModState *st = state_of(self);
    Py_ssize_t off, count;
    if (st == NULL ||
        atomic_check_args(st, m, offo, NULL, width, &off, &count) < 0) {
        return NULL;
    }
    return atomic_new_view(st, m, off, width, NULL);
}

static PyObject *
atomic_make_slice(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                  int width)
{
    Mapping *m = (Mapping *)self;
    if (!nargs_ok(width == 8 ? "atomic_u64_slice" : "atomic_u32_slice", nargs,
                  2)) {
        return NULL;
    }
    ModState *st = state_of(self);
    Py_ssize_t off, count;
    if (st == NULL ||
        atomic_check_args(st, m, args[0], args[1], width, &off, &count) < 0) {
        return NULL;
    }
    return atomic_new_slice(st, m, off, count, width, NULL);
}

/* ---- Mapping methods ------------------------------------------------- */

BIND_O(Mapping_atomic_u64, atomic_make_view, 8)

BIND_O(Mapping_atomic_u32, atomic_make_view, 4)

BIND_FASTCALL(Mapping_atomic_u64_slice, atomic_make_slice, 8)

BIND_FASTCALL(Mapping_atomic_u32_slice, atomic_make_slice, 4)

/* Entries added to Mapping's method table. */
#define ATOMICS_MAPPING_METHODS                                              \
    {"atomic_u64", Mapping_atomic_u64, METH_O, Mapping_atomic_u64_doc},      \
    {"atomic_u32", Mapping_atomic_u32, METH_O, Mapping_atomic_u32_doc},      \
    {"atomic_u64_slice",                                                     \
     (PyCFunction)(void (*)(void))Mapping_atomic_u64_slice, METH_FASTCALL,   \
     Mapping_atomic_u64_slice_doc},                                          \
    {"atomic_u32_slice",                                                     \
     (PyCFunction)(void (*)(void))Mapping_atomic_u32_slice, METH_FASTCALL,   \
     Mapping_atomic_u32_slice_doc},

/* ---- AtomicU64 / AtomicU32 ------------------------------------------- */

/* Run `op` with argument v; returns the old value as a Python int. */
static inline PyObject *
atomic_rmw(AtomicView *a, int op, uint64_t v)
{
    uint64_t old = 0;
    if (ATOMIC_UNLIKELY(atomic_do(a, op, v, &old) < 0)) {
        return atomic_raise_sigbus(a);
    }
    return PyLong_FromUnsignedLongLong(old);
}

/* The operand of a write op as a C value.  The view must be able to write
 * before the conversion and after it (the value's __index__ may have
 * released the view). */
static inline int
atomic_write_arg(AtomicView *a, PyObject *arg, const char *op, uint64_t *v)
{
    if (ATOMIC_UNLIKELY(!a->can_write)) {
        atomic_raise_not_writable(a, op);
        return -1;
    }
    if (atomic_as_value(arg, a->width, v) < 0) {
        return -1;
    }
    if (ATOMIC_UNLIKELY(!a->can_write)) {
        atomic_raise_not_writable(a, op);
        return -1;
    }
    return 0;
}

static PyObject *
Atomic_load(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    AtomicView *a = (AtomicView *)self;
    return atomic_open(a) < 0 ? NULL : atomic_rmw(a, AOP_LOAD, 0);
}

static PyObject *
Atomic_store(PyObject *self, PyObject *arg)
{
    AtomicView *a = (AtomicView *)self;
    uint64_t v, unused = 0;
    if (atomic_write_arg(a, arg, "store()", &v) < 0) {
        return NULL;
    }
    if (ATOMIC_UNLIKELY(atomic_do(a, AOP_STORE, v, &unused) < 0)) {
        return atomic_raise_sigbus(a);
    }
    Py_RETURN_NONE;
}

#define DEFINE_RMW_METHOD(NAME, OP)                                          \
    static PyObject *Atomic_##NAME(PyObject *self, PyObject *arg)            \
    {                                                                        \
        AtomicView *a = (AtomicView *)self;                                  \
        uint64_t v;                                                          \
        if (atomic_write_arg(a, arg, #NAME "()", &v) < 0) {                  \
            return NULL;                                                     \
        }                                                                    \
        return atomic_rmw(a, OP, v);                                         \
    }

DEFINE_RMW_METHOD(fetch_add, AOP_ADD)
DEFINE_RMW_METHOD(fetch_sub, AOP_SUB)
DEFINE_RMW_METHOD(fetch_and, AOP_AND)
DEFINE_RMW_METHOD(fetch_or, AOP_OR)
DEFINE_RMW_METHOD(fetch_xor, AOP_XOR)
DEFINE_RMW_METHOD(swap, AOP_SWAP)

static PyObject *
Atomic_compare_exchange(PyObject *self, PyObject *const *args,
                        Py_ssize_t nargs)
{
    AtomicView *a = (AtomicView *)self;
    uint64_t expected, desired;
    if (!nargs_ok("compare_exchange", nargs, 2) ||
        atomic_write_arg(a, args[0], "compare_exchange()", &expected) < 0 ||
        atomic_write_arg(a, args[1], "compare_exchange()", &desired) < 0) {
        return NULL;
    }
    int ok = atomic_do(a, AOP_CAS, desired, &expected);
    if (ATOMIC_UNLIKELY(ok < 0)) {
        return atomic_raise_sigbus(a);
    }
    /* `expected` now holds the value found. */
    PyObject *p = PyLong_FromUnsignedLongLong(expected);
    if (p == NULL) {
        return NULL;
    }
    PyObject *t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(p);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, Py_NewRef(ok ? Py_True : Py_False));
    PyTuple_SET_ITEM(t, 1, p);
    return t;
}

/* ---- the lifecycle of views and slices -------------------------------- */

/* Give back the export; idempotent. */
static void
atomic_release(AtomicHead *a)
{
    Mapping *m = a->mapping;
    if (m != NULL) {
        /* Let go first: dropping the export may unmap the memory of a
         * closed mapping, which releases the GIL. */
        int writable = a->can_write;
        a->mapping = NULL;
        a->can_write = 0;
        a->addr = NULL;
        drop_export(m, a->kind, writable);
        Py_DECREF(m);
    }
}

static PyObject *
Atomic_release(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    atomic_release((AtomicHead *)self);
    Py_RETURN_NONE;
}

static PyObject *
Atomic_enter(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (atomic_open((AtomicHead *)self) < 0) {
        return NULL;
    }
    return Py_NewRef(self);
}

static PyObject *
Atomic_exit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)args;
    if (!nargs_between("__exit__", nargs, 0, 3)) {
        return NULL;
    }
    atomic_release((AtomicHead *)self);
    Py_RETURN_FALSE;
}

static PyObject *
Atomic_get_released(PyObject *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(((AtomicHead *)self)->mapping == NULL);
}

static int
Atomic_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((AtomicHead *)self)->mapping);
    return 0;
}

static int
Atomic_clear(PyObject *self)
{
    atomic_release((AtomicHead *)self);
    return 0;
}

/* Method-table entries and type slots every atomic type has. */
#define ATOMIC_LIFECYCLE_METHODS(RELEASE_DOC, WHAT)                          \
    {"release", Atomic_release, METH_NOARGS, RELEASE_DOC},                   \
    {"__enter__", Atomic_enter, METH_NOARGS,                                 \
     "__enter__($self, /)\n--\n\nReturn the " WHAT " itself."},              \
    {"__exit__", (PyCFunction)(void (*)(void))Atomic_exit, METH_FASTCALL,    \
     "__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n"   \
     "--\n\nRelease the " WHAT "."},

#define ATOMIC_LIFECYCLE_SLOTS MMAPIO_GC_SLOTS(Atomic, mmapio_gc_dealloc)

#define ATOMIC_TPFLAGS                                                       \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION |                \
     Py_TPFLAGS_HAVE_GC | MMAPIO_TPFLAGS_IMMUTABLE)

/* " path='/x'" or " anonymous" (or "" without a mapping). */
static PyObject *
atomic_describe(Mapping *m)
{
    if (m == NULL) {
        return PyUnicode_FromString(" released");
    }
    if (m->path == NULL || m->path == Py_None) {
        return PyUnicode_FromString(m->anonymous ? " anonymous" : "");
    }
    return PyUnicode_FromFormat(" path=%R", m->path);
}

/* "<{body}{where}>": a repr's text (a new reference, consumed; NULL
 * passes an error through) followed by where the object's memory is. */
static PyObject *
atomic_repr_of(AtomicHead *a, PyObject *body)
{
    PyObject *desc = body ? atomic_describe(a->mapping) : NULL;
    PyObject *r = desc ? PyUnicode_FromFormat("<%U%U>", body, desc) : NULL;
    Py_XDECREF(body);
    Py_XDECREF(desc);
    return r;
}

static PyObject *
Atomic_repr(PyObject *self)
{
    AtomicView *a = (AtomicView *)self;
    const char *name = atomic_name(a->width);
    if (a->mapping == NULL) {
        return atomic_repr_of(
            a, PyUnicode_FromFormat("%s offset=%zd", name, a->offset));
    }
    /* A repr never fails: a value that cannot be read (the file was
     * truncated under the mapping) shows as '?'. */
    PyObject *value = atomic_rmw(a, AOP_LOAD, 0);
    if (value == NULL) {
        PyErr_Clear();
        value = PyUnicode_FromString("?");
    }
    PyObject *body = value ? PyUnicode_FromFormat("%s offset=%zd value=%S",
                                                  name, a->offset, value)
                           : NULL;
    Py_XDECREF(value);
    return atomic_repr_of(a, body);
}

/* Two views are equal when they are the same cell: the same type (width)
 * on the same mapping object at the same offset.  A released view has
 * let go of its mapping and equals only itself.  The hash uses the
 * offset and width alone, so it is stable across release(). */
static PyObject *
Atomic_richcompare(PyObject *self, PyObject *other, int op)
{
    if ((op != Py_EQ && op != Py_NE) || Py_TYPE(other) != Py_TYPE(self)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    AtomicView *a = (AtomicView *)self, *b = (AtomicView *)other;
    int same = self == other || (a->mapping != NULL && a->mapping == b->mapping &&
                                 a->offset == b->offset);
    return PyBool_FromLong(op == Py_EQ ? same : !same);
}

static Py_hash_t
Atomic_hash(PyObject *self)
{
    AtomicView *a = (AtomicView *)self;
    Py_hash_t h = (Py_hash_t)((size_t)a->offset * 2u + (a->width == 8));
    return h == -1 ? -2 : h;
}

/* AtomicU32's wait()/notify() (futex.c); they use the view helpers above. */
#include "wait.c"

/* One method table and one getset for both view types: the width is a
 * field of the view, not a property of the type.  Only AtomicU32 adds
 * wait/notify: futex(2) sleeps on 32-bit words. */
#define ATOMIC_VIEW_METHODS                                                  \
    {"load", Atomic_load, METH_NOARGS, Atomic_load_doc},                     \
    {"store", Atomic_store, METH_O, Atomic_store_doc},                       \
    {"fetch_add", Atomic_fetch_add, METH_O, Atomic_fetch_add_doc},           \
    {"fetch_sub", Atomic_fetch_sub, METH_O, Atomic_fetch_sub_doc},           \
    {"fetch_and", Atomic_fetch_and, METH_O, Atomic_fetch_and_doc},           \
    {"fetch_or", Atomic_fetch_or, METH_O, Atomic_fetch_or_doc},              \
    {"fetch_xor", Atomic_fetch_xor, METH_O, Atomic_fetch_xor_doc},           \
    {"swap", Atomic_swap, METH_O, Atomic_swap_doc},                          \
    {"compare_exchange",                                                     \
     (PyCFunction)(void (*)(void))Atomic_compare_exchange, METH_FASTCALL,    \
     Atomic_compare_exchange_doc},                                           \
    ATOMIC_LIFECYCLE_METHODS(Atomic_release_doc, "view")                     \
    {NULL, NULL, 0, NULL},

static PyMethodDef AtomicU64_methods[] = {ATOMIC_VIEW_METHODS};
static PyMethodDef AtomicU32_methods[] = {ATOMIC_WAIT_METHODS ATOMIC_VIEW_METHODS};

static PyMemberDef Atomic_members[] = {
    {"offset", T_PYSSIZET, offsetof(AtomicView, offset), READONLY,
     "Byte offset in the mapping.\n\n"
     "    >>> m.atomic_u64(16).offset\n    16"},
    {NULL, 0, 0, 0, NULL},
};

/* Shared by views and slices. */
static PyGetSetDef Atomic_getset[] = {
    {"released", Atomic_get_released, NULL,
     "True once release() was called (or the with block ended).\n\n"
     "    >>> with m.atomic_u64(0) as c:\n    ...     pass\n"
     "    >>> c.released\n    True", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define ATOMIC_VIEW_SLOTS(DOC, METHODS)                                      \
    {                                                                        \
        {Py_tp_doc, (void *)(DOC)},                                          \
        ATOMIC_LIFECYCLE_SLOTS                                               \
        {Py_tp_repr, Atomic_repr},                                           \
        {Py_tp_methods, (METHODS)},                                          \
        {Py_tp_getset, Atomic_getset},                                       \
        {Py_tp_members, Atomic_members},                                     \
        {Py_tp_richcompare, Atomic_richcompare},                             \
        {Py_tp_hash, Atomic_hash},                                           \
        {0, NULL},                                                           \
    }

static PyType_Slot AtomicU64_slots[] =
    ATOMIC_VIEW_SLOTS(AtomicU64_doc, AtomicU64_methods);
static PyType_Slot AtomicU32_slots[] =
    ATOMIC_VIEW_SLOTS(AtomicU32_doc, AtomicU32_methods);

static PyType_Spec AtomicU64_spec = MMAPIO_TYPE_SPEC(
    "mmap_io.AtomicU64", AtomicView, ATOMIC_TPFLAGS, AtomicU64_slots);
static PyType_Spec AtomicU32_spec = MMAPIO_TYPE_SPEC(
    "mmap_io.AtomicU32", AtomicView, ATOMIC_TPFLAGS, AtomicU32_slots);

/* ---- AtomicSlice ----------------------------------------------------- */

static inline int
atomic_slice_open(AtomicSlice *s)
{
    return atomic_open((AtomicHead *)s);
}

static Py_ssize_t
Slice_length(PyObject *self)
{
    AtomicSlice *s = (AtomicSlice *)self;
    return atomic_slice_open(s) < 0 ? -1 : s->count;
}

/* OutOfBoundsError for item i (adjusted for negatives); the message shows
 * `key`, the index as given, when there is one. */
static PyObject *
atomic_raise_index(AtomicSlice *s, Py_ssize_t i, PyObject *key)
{
    ModState *st = state_of((PyObject *)s);
    if (st == NULL || atomic_slice_open(s) < 0) {
        return NULL;
    }
    /* offset = s->offset + i * width, exactly (i may be huge). */
    PyObject *io = PyLong_FromSsize_t(i);
    PyObject *w = PyLong_FromLong(s->width);
    PyObject *prod = io && w ? PyNumber_Multiply(io, w) : NULL;
    PyObject *base = prod ? PyLong_FromSsize_t(s->offset) : NULL;
    PyObject *off = base ? PyNumber_Add(base, prod) : NULL;
    PyObject *tot = off ? PyLong_FromSsize_t(s->mapping->size) : NULL;
    PyObject *shown = tot ? int_text(key != NULL ? key : io) : NULL;
    PyObject *desc = shown ? atomic_describe(s->mapping) : NULL;
    if (desc != NULL) {
        raise_exc(exc_with_attrs(st->OutOfBoundsError, "offset", off,
                                 "length", w, "total", tot,
                                 "index %U is out of range for an AtomicSlice "
                                 "of %zd %s at offset %zd%U", shown, s->count,
                                 atomic_name(s->width), s->offset, desc));
    }
    Py_XDECREF(io);
    Py_XDECREF(w);
    Py_XDECREF(prod);
    Py_XDECREF(base);
    Py_XDECREF(off);
    Py_XDECREF(tot);
    Py_XDECREF(shown);
    Py_XDECREF(desc);
    return NULL;
}

/* Item i; `i` already adjusted for negatives by the caller. */
static PyObject *
Slice_item(PyObject *self, Py_ssize_t i)
{
    AtomicSlice *s = (AtomicSlice *)self;
    if (atomic_slice_open(s) < 0) {
        return NULL;
    }
    if (i < 0 || i >= s->count) {
        return atomic_raise_index(s, i, NULL);
    }
    ModState *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return atomic_new_view(st, s->mapping, s->offset + i * s->width, s->width,
                           (AtomicHead *)s);
}

static PyObject *
Slice_subscript(PyObject *self, PyObject *key)
{
    AtomicSlice *s = (AtomicSlice *)self;
    if (atomic_slice_open(s) < 0) {
        return NULL;
    }
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, NULL);
        if ((i == -1 && PyErr_Occurred()) ||
            atomic_slice_open(s) < 0) { /* __index__ may have released it */
            return NULL;
        }
        if (i < 0 && i != PY_SSIZE_T_MIN) {
            i += s->count;
        }
        if (i < 0 || i >= s->count) {
            return atomic_raise_index(s, i, key);
        }
        return Slice_item(self, i);
    }
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0 ||
            atomic_slice_open(s) < 0) { /* __index__ may have released it */
            return NULL;
        }
        Py_ssize_t n = PySlice_AdjustIndices(s->count, &start, &stop, step);
        if (step != 1) {
            PyErr_Format(PyExc_ValueError,
                         "AtomicSlice slicing needs step 1, not %zd", step);
            return NULL;
        }
        ModState *st = state_of(self);
        if (st == NULL) {
            return NULL;
        }
        return atomic_new_slice(st, s->mapping, s->offset + start * s->width,
                                n, s->width, (AtomicHead *)s);
    }
    PyErr_Format(PyExc_TypeError,
                 "AtomicSlice indices must be integers or slices, not %.100s",
                 Py_TYPE(key)->tp_name);
    return NULL;
}

static PyObject *
Slice_repr(PyObject *self)
{
    AtomicSlice *s = (AtomicSlice *)self;
    PyObject *body = PyUnicode_FromFormat("AtomicSlice of %zd %s offset=%zd",
                                          s->count, atomic_name(s->width),
                                          s->offset);
    return atomic_repr_of((AtomicHead *)s, body);
}

/* The index of the item `value` is, or -1: a live view of this slice's
 * item type on the same mapping, at one of the slice's offsets. */
static Py_ssize_t
atomic_slice_find(AtomicSlice *s, PyObject *value)
{
    ModState *st = state_of((PyObject *)s);
    if (st == NULL) {
        return -2;
    }
    PyTypeObject *item = s->width == 8 ? st->AtomicU64Type : st->AtomicU32Type;
    if (Py_TYPE(value) != item) {
        return -1;
    }
    AtomicView *a = (AtomicView *)value;
    if (a->mapping == NULL || a->mapping != s->mapping || a->offset < s->offset) {
        return -1;
    }
    Py_ssize_t d = a->offset - s->offset;
    if (d % s->width != 0 || d / s->width >= s->count) {
        return -1;
    }
    return d / s->width;
}

static int
Slice_contains(PyObject *self, PyObject *value)
{
    AtomicSlice *s = (AtomicSlice *)self;
    if (atomic_slice_open(s) < 0) {
        return -1;
    }
    Py_ssize_t i = atomic_slice_find(s, value);
    return i < -1 ? -1 : i >= 0;
}

/* start/stop of index(): ints clamped like list.index's. */
static int
atomic_slice_bound(PyObject *arg, Py_ssize_t count, Py_ssize_t *out)
{
    if (!PyIndex_Check(arg)) {
        PyErr_Format(PyExc_TypeError,
                     "AtomicSlice.index() bounds must be integers, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    Py_ssize_t v = PyNumber_AsSsize_t(arg, NULL); /* clamps huge values */
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < 0) {
        v = v < -count ? 0 : v + count;
    }
    *out = v;
    return 0;
}

static PyObject *
Slice_index(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    AtomicSlice *s = (AtomicSlice *)self;
    if (!nargs_between("index", nargs, 1, 3) || atomic_slice_open(s) < 0) {
        return NULL;
    }
    Py_ssize_t start = 0, stop = PY_SSIZE_T_MAX;
    if ((nargs > 1 && atomic_slice_bound(args[1], s->count, &start) < 0) ||
        (nargs > 2 && atomic_slice_bound(args[2], s->count, &stop) < 0) ||
        atomic_slice_open(s) < 0) { /* __index__ may have released it */
        return NULL;
    }
    Py_ssize_t i = atomic_slice_find(s, args[0]);
    if (i < -1) {
        return NULL;
    }
    if (i >= 0 && i >= start && i < stop) {
        return PyLong_FromSsize_t(i);
    }
    PyObject *desc = atomic_describe(s->mapping);
    if (desc != NULL) {
        PyErr_Format(PyExc_ValueError,
                     "%R is not in the AtomicSlice of %zd %s at offset %zd%U%s",
                     args[0], s->count, atomic_name(s->width), s->offset, desc,
                     i >= 0 ? " (outside start/stop)" : "");
        Py_DECREF(desc);
    }
    return NULL;
}

static PyObject *
Slice_count(PyObject *self, PyObject *value)
{
    int found = Slice_contains(self, value);
    return found < 0 ? NULL : PyLong_FromLong(found);
}

static PyMethodDef Slice_methods[] = {
    {"index", (PyCFunction)(void (*)(void))Slice_index, METH_FASTCALL,
     Slice_index_doc},
    {"count", Slice_count, METH_O, Slice_count_doc},
    ATOMIC_LIFECYCLE_METHODS(Slice_release_doc, "slice")
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     "See PEP 585."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Slice_members[] = {
    {"offset", T_PYSSIZET, offsetof(AtomicSlice, offset), READONLY,
     "Byte offset of item 0.\n\n"
     "    >>> m.atomic_u32_slice(64, 4).offset\n    64"},
    {"itemsize", T_INT, offsetof(AtomicSlice, width), READONLY,
     "8 for AtomicU64, 4 for AtomicU32.\n\n"
     "    >>> m.atomic_u32_slice(0, 4).itemsize\n    4"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot AtomicSlice_slots[] = {
    {Py_tp_doc, (void *)AtomicSlice_doc},
    ATOMIC_LIFECYCLE_SLOTS
    {Py_tp_repr, Slice_repr},
    {Py_tp_methods, Slice_methods},
    {Py_tp_getset, Atomic_getset},
    {Py_tp_members, Slice_members},
    {Py_sq_length, Slice_length},
    {Py_sq_item, Slice_item},
    {Py_sq_contains, Slice_contains},
    {Py_mp_length, Slice_length},
    {Py_mp_subscript, Slice_subscript},
    {0, NULL},
};

static PyType_Spec AtomicSlice_spec = MMAPIO_TYPE_SPEC(
    "mmap_io.AtomicSlice", AtomicSlice, ATOMIC_TPFLAGS | Py_TPFLAGS_SEQUENCE,
    AtomicSlice_slots);

static int
atomics_init(PyObject *module, ModState *st)
{
    struct {
        PyType_Spec *spec;
        PyTypeObject **type;
    } types[] = {
        {&AtomicU64_spec, &st->AtomicU64Type},
        {&AtomicU32_spec, &st->AtomicU32Type},
        {&AtomicSlice_spec, &st->AtomicSliceType},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        *types[i].type = (PyTypeObject *)PyType_FromModuleAndSpec(
            module, types[i].spec, NULL);
        /* Added under the name after the spec's last dot. */
        if (*types[i].type == NULL ||
            PyModule_AddType(module, *types[i].type) < 0) {
            return -1;
        }
    }
    return 0;
}
