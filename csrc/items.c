/* Item access: m[i], m[a:b:s] and their assignment, with stdlib mmap's
 * rules.
 *
 * An index is an int (or has __index__), counted from the end when
 * negative; a slice clips as every Python slice does.  Reads return an
 * int or a bytes copy; writes take an int in range(0, 256), or a
 * C-contiguous buffer exactly as long as the slice.  Every byte moves
 * through copy.c, so item access is SIGBUS-guarded and never tears
 * against read_bytes()/update_region() of other threads, and writes count
 * toward the flush policy as update_region()'s do.
 *
 * Converting a key, a value or the data's buffer can run Python code
 * (__index__, __buffer__) that closes or resizes the mapping.  So a key is
 * converted first, then resolved against the mapping as it is, and the
 * mapping is checked once more after the value's conversion, right before
 * bytes move (nothing between that check and the copy runs Python code).
 *
 * Iteration and `in` come from the sequence protocol and see ints, as
 * m[i] does (and bytes, memoryview and subclasses of mmap.mmap; a plain
 * mmap.mmap alone yields 1-byte bytes objects).
 */
#include "common.h"

/* A converted key: an index (`index` set) or a slice. */
typedef struct {
    PyObject *index;                /* the key as an int; NULL for a slice */
    Py_ssize_t start, stop, step;   /* the slice as PySlice_Unpack left it */
    Py_ssize_t at;                  /* resolved: first byte (an index's) */
    Py_ssize_t len;                 /* resolved: bytes addressed */
} ItemKey;

/* Convert `key`, running its __index__ methods; 0, or -1 with TypeError
 * (neither an index nor a slice) or ValueError (a zero step). */
static inline int
key_convert(PyObject *key, ItemKey *k)
{
    k->index = NULL;
    k->step = 1;
    if (PySlice_Check(key)) {
        return PySlice_Unpack(key, &k->start, &k->stop, &k->step);
    }
    if (PyLong_CheckExact(key)) {
        k->index = Py_NewRef(key);
        return 0;
    }
    if (!PyIndex_Check(key)) {
        PyErr_Format(PyExc_TypeError,
                     "mapping indices must be integers or slices, not %.200s",
                     Py_TYPE(key)->tp_name);
        return -1;
    }
    k->index = PyNumber_Index(key);
    return k->index != NULL ? 0 : -1;
}

/* Resolve a converted key against the mapping as it is now: open, an
 * index within it (else OutOfBoundsError naming the key as given), a
 * slice clipped to it.  Runs no Python code. */
static inline int
key_resolve(Mapping *m, ItemKey *k)
{
    if (check_open(m) < 0) {
        return -1;
    }
    if (k->index == NULL) {
        k->len = PySlice_AdjustIndices(m->size, &k->start, &k->stop, k->step);
        k->at = k->start;
        return 0;
    }
    Py_ssize_t i = PyLong_AsSsize_t(k->index);
    if (i == -1 && PyErr_Occurred()) {
        /* Saturate: beyond Py_ssize_t is out of bounds either way. */
        PyErr_Clear();
        i = PyNumber_AsSsize_t(k->index, NULL);
    }
    if (i < 0) {
        i += m->size;
    }
    if (i < 0 || i >= m->size) {
        ModState *st = state_of((PyObject *)m);
        PyObject *one = st != NULL ? PyLong_FromLong(1) : NULL;
        if (one != NULL) {
            raise_bounds_obj(st, m, k->index, one, m->size);
            Py_DECREF(one);
        }
        return -1;
    }
    k->at = i;
    k->len = 1;
    return 0;
}

/* After the value's conversion: the bytes resolved before must still be
 * there (the mapping may have been closed or shrunk meanwhile). */
static int
key_recheck(Mapping *m, const ItemKey *k)
{
    if (check_open(m) < 0) {
        return -1;
    }
    if (k->len == 0) {
        return 0;
    }
    Py_ssize_t last = k->at + (k->len - 1) * k->step;
    Py_ssize_t lo = last < k->at ? last : k->at;
    Py_ssize_t hi = last < k->at ? k->at : last;
    if (hi >= m->size) {
        raise_bounds(m, lo, hi - lo + 1);
        return -1;
    }
    return 0;
}

/* The `len` addressed bytes of a resolved key into `buf`, or from it. */
static inline int
key_copy(Mapping *m, const ItemKey *k, enum copy_dir dir, char *buf)
{
    if (k->len == 0) {
        return 0;
    }
    if (k->index != NULL || k->step == 1) {
        return mapping_copy(m, dir, k->at, buf, k->len);
    }
    return mapping_copy_strided(m, dir, k->at, k->step, buf, k->len);
}

/* ---- reading ---------------------------------------------------------- */

/* The byte a resolved index key addresses, as an int. */
static PyObject *
read_byte(Mapping *m, const ItemKey *k)
{
    unsigned char byte;
    if (key_copy(m, k, COPY_OUT, (char *)&byte) < 0) {
        return NULL;
    }
    return PyLong_FromLong(byte);
}

static PyObject *
Mapping_subscript(PyObject *self, PyObject *key)
{
    Mapping *m = (Mapping *)self;
    ItemKey k;
    if (check_open(m) < 0 || key_convert(key, &k) < 0) {
        return NULL;
    }
    PyObject *out = NULL;
    if (key_resolve(m, &k) == 0) {
        if (k.index != NULL) {
            out = read_byte(m, &k);
        }
        else {
            /* Allocating a bytes object runs no Python code (bytes are
             * not tracked by the GC), so the resolved key still holds. */
            out = PyBytes_FromStringAndSize(NULL, k.len);
            if (out != NULL && key_copy(m, &k, COPY_OUT, PyBytes_AS_STRING(out)) < 0) {
                Py_CLEAR(out);
            }
        }
    }
    Py_XDECREF(k.index);
    return out;
}

/* sq_item, for iteration and `in`: m[i] for an index the caller already
 * made non-negative when it could. */
static PyObject *
Mapping_item(PyObject *self, Py_ssize_t i)
{
    Mapping *m = (Mapping *)self;
    ItemKey k = {NULL, 0, 0, 1, i, 1};
    if (check_open(m) < 0) {
        return NULL;
    }
    if (i < 0 || i >= m->size) {
        raise_bounds(m, i, 1);
        return NULL;
    }
    return read_byte(m, &k);
}

/* ---- writing ---------------------------------------------------------- */

/* m[i] = value: an int in range(0, 256), checked after the index (as
 * stdlib does). */
static int
assign_item(Mapping *m, ItemKey *k, PyObject *value)
{
    if (!PyIndex_Check(value)) {
        PyErr_Format(PyExc_TypeError,
                     "mapping item value must be an int, not %.200s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    PyObject *v = PyNumber_Index(value);
    if (v == NULL) {
        return -1;
    }
    int overflow;
    long byte = PyLong_AsLongAndOverflow(v, &overflow);
    if (overflow != 0 || byte < 0 || byte > 255) {
        PyObject *text = int_text(v);
        if (text != NULL) {
            PyErr_Format(PyExc_ValueError,
                         "mapping item value must be in range(0, 256), not %U",
                         text);
            Py_DECREF(text);
        }
        Py_DECREF(v);
        return -1;
    }
    Py_DECREF(v);
    char c = (char)byte;
    if (key_recheck(m, k) < 0 || key_copy(m, k, COPY_IN, &c) < 0) {
        return -1;
    }
    return policy_after_write(m, 1);
}

/* OutOfBoundsError (an IndexError, as stdlib raises) for data of `got`
 * bytes assigned to a slice of k->len. */
static int
raise_wrong_size(Mapping *m, const ItemKey *k, Py_ssize_t got)
{
    PyObject *w;
    ModState *st = state_and_where(m, &w);
    if (st == NULL) {
        return -1;
    }
    PyObject *start = PyLong_FromSsize_t(k->at);
    PyObject *len = PyLong_FromSsize_t(got);
    PyObject *total = PyLong_FromSsize_t(k->len);
    if (start && len && total) {
        raise_exc(exc_with_attrs(st->OutOfBoundsError, "offset", start,
                                 "length", len, "total", total,
                                 "slice assignment is the wrong size: %zd "
                                 "bytes for a slice of %zd bytes of the "
                                 "mapping%U", got, k->len, w));
    }
    Py_XDECREF(start);
    Py_XDECREF(len);
    Py_XDECREF(total);
    Py_DECREF(w);
    return -1;
}

/* Where data of `len` bytes at `p` lies within the mapping (a view of
 * it), else -1.  Compared as integers: `p` may point anywhere. */
static Py_ssize_t
offset_within(Mapping *m, const char *p, Py_ssize_t len)
{
    uintptr_t base = (uintptr_t)m->data, at = (uintptr_t)p;
    if (m->data == NULL || len == 0 || at < base ||
        at - base > (uintptr_t)m->size ||
        (uintptr_t)m->size - (at - base) < (uintptr_t)len) {
        return -1;
    }
    return (Py_ssize_t)(at - base);
}

/* Scattering data that is this mapping's own bytes (m[::-1] = m) would
 * overwrite some before reading them: copy them out first. */
static int
assign_strided_from_self(Mapping *m, const ItemKey *k, Py_ssize_t from)
{
    char *copy = PyMem_Malloc((size_t)k->len);
    if (copy == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = mapping_copy(m, COPY_OUT, from, copy, k->len);
    if (rc == 0) {
        rc = key_copy(m, k, COPY_IN, copy);
    }
    PyMem_Free(copy);
    return rc;
}

/* m[a:b:s] = value: a C-contiguous buffer as long as the slice. */
static int
assign_slice(Mapping *m, ItemKey *k, PyObject *value)
{
    Py_buffer buf;
    if (PyObject_GetBuffer(value, &buf, PyBUF_C_CONTIGUOUS) < 0) {
        buffer_arg_error((PyObject *)m, value,
                         "slice assignment needs a bytes-like C-contiguous "
                         "object");
        return -1;
    }
    int rc = -1;
    Py_ssize_t from;
    if (key_recheck(m, k) < 0) {
        /* closed or shrunk by the buffer's export */
    }
    else if (buf.len != k->len) {
        raise_wrong_size(m, k, buf.len);
    }
    else if (k->step != 1 && (from = offset_within(m, buf.buf, buf.len)) >= 0) {
        rc = assign_strided_from_self(m, k, from);
    }
    else {
        rc = key_copy(m, k, COPY_IN, buf.buf);
    }
    PyBuffer_Release(&buf);
    return rc < 0 ? -1 : policy_after_write(m, k->len);
}

static int
Mapping_ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
    Mapping *m = (Mapping *)self;
    ItemKey k;
    if (check_open(m) < 0 || check_writable(m, "item assignment") < 0 ||
        key_convert(key, &k) < 0) {
        return -1;
    }
    int rc = -1;
    if (key_resolve(m, &k) < 0) {
        /* closed meanwhile, or an index out of bounds */
    }
    else if (value == NULL) {
        PyErr_Format(PyExc_TypeError, "mapping %s cannot be deleted",
                     k.index != NULL ? "items" : "slices");
    }
    else {
        rc = k.index != NULL ? assign_item(m, &k, value)
                             : assign_slice(m, &k, value);
    }
    Py_XDECREF(k.index);
    return rc;
}

/* sq_ass_item (PySequence_SetItem): m[i] = value for an adjusted index. */
static int
Mapping_ass_item(PyObject *self, Py_ssize_t i, PyObject *value)
{
    PyObject *key = PyLong_FromSsize_t(i);
    if (key == NULL) {
        return -1;
    }
    int rc = Mapping_ass_subscript(self, key, value);
    Py_DECREF(key);
    return rc;
}

#define ITEMS_MAPPING_SLOTS                                                  \
    {Py_mp_subscript, Mapping_subscript},                                    \
    {Py_mp_ass_subscript, Mapping_ass_subscript},                            \
    {Py_sq_item, Mapping_item},                                              \
    {Py_sq_ass_item, Mapping_ass_item},
