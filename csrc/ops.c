/* The hot methods: zero-copy slices and the three copying calls.
 * All use METH_FASTCALL and parse their ints by hand: these run millions
 * of times a second and argument-clinic-free parsing is most of the cost. */
#include "common.h"

/* The argument-count check of every METH_FASTCALL method, with CPython's
 * wording.  Returns 1 when `nargs` is in [min, max], else 0 with
 * TypeError. */
static int
nargs_error(const char *name, Py_ssize_t nargs, Py_ssize_t min,
            Py_ssize_t max)
{
    if (min == max) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd argument%s "
                     "(%zd given)", name, min, min == 1 ? "" : "s", nargs);
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s() takes from %zd to %zd arguments "
                     "(%zd given)", name, min, max, nargs);
    }
    return 0;
}

static inline int
nargs_between(const char *name, Py_ssize_t nargs, Py_ssize_t min,
              Py_ssize_t max)
{
    return nargs >= min && nargs <= max ? 1
                                        : nargs_error(name, nargs, min, max);
}

static inline int
nargs_ok(const char *name, Py_ssize_t nargs, Py_ssize_t want)
{
    return nargs_between(name, nargs, want, want);
}

/* The (offset, length, ...) arguments of a FASTCALL method taking `want`
 * of them: count checked, the range checked against the mapping. */
static inline int
range_args(Mapping *m, const char *name, PyObject *const *args,
           Py_ssize_t nargs, Py_ssize_t want, Py_ssize_t *off,
           Py_ssize_t *len)
{
    return nargs_ok(name, nargs, want) &&
                   check_range(m, args[0], args[1], off, len) == 0
               ? 0
               : -1;
}

/* as_slice() and as_slice_mut(). */
static PyObject *
slice_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
             int readonly)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off, len;
    if (range_args(m, readonly ? "as_slice" : "as_slice_mut", args, nargs, 2,
                   &off, &len) < 0 ||
        (!readonly && check_writable(m, "as_slice_mut()") < 0)) {
        return NULL;
    }
    return export_slice(m, off, len, readonly, VIEW_MEMORYVIEW);
}

/* as_array()'s view: as_slice(), or as_slice_mut() when `writable`,
 * counted as a numpy array. */
static PyObject *
Mapping_array_view(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off, len;
    if (range_args(m, "_array_view", args, nargs, 3, &off, &len) < 0) {
        return NULL;
    }
    int writable = PyObject_IsTrue(args[2]);
    if (writable < 0 || check_open(m) < 0 ||
        (writable && check_writable(m, "as_array()") < 0)) {
        return NULL;
    }
    return export_slice(m, off, len, !writable, VIEW_ARRAY);
}

/* After a failed PyObject_GetBuffer on an argument: unsuitable objects
 * (no buffer, read-only, not contiguous) become one TypeError naming the
 * type, whatever the exporter raised (memoryview says BufferError, numpy
 * ValueError).  Our own errors (a closed or read-only mapping passed as
 * the buffer) propagate unchanged. */
static void
buffer_arg_error(PyObject *self, PyObject *arg, const char *what)
{
    ModState *st = state_of(self);
    if (st != NULL && PyErr_ExceptionMatches(st->MmapIoError)) {
        return;
    }
    if (PyErr_ExceptionMatches(PyExc_BufferError) ||
        PyErr_ExceptionMatches(PyExc_TypeError) ||
        PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s, not %.100s", what,
                     Py_TYPE(arg)->tp_name);
    }
}

BIND_FASTCALL(Mapping_as_slice, slice_method, 1)

BIND_FASTCALL(Mapping_as_slice_mut, slice_method, 0)

static PyObject *
Mapping_read_bytes(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off, len;
    if (range_args(m, "read_bytes", args, nargs, 2, &off, &len) < 0) {
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, len);
    if (out == NULL) {
        return NULL;
    }
    if (len > 0 && mapping_copy(m, COPY_OUT, off, PyBytes_AS_STRING(out), len) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *
Mapping_read_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off;
    Py_buffer buf;
    if (!nargs_ok("read_into", nargs, 2) ||
        as_offset(args[0], &off, "offset") < 0 || check_open(m) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &buf, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        buffer_arg_error(self, args[1],
                         "read_into() needs a writable C-contiguous buffer");
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *leno = PyLong_FromSsize_t(buf.len);
    Py_ssize_t len = buf.len;
    if (leno != NULL && check_range(m, args[0], leno, &off, &len) == 0 &&
        (len == 0 || mapping_copy(m, COPY_OUT, off, buf.buf, len) == 0)) {
        result = Py_NewRef(leno);
    }
    Py_XDECREF(leno);
    PyBuffer_Release(&buf);
    return result;
}

static int policy_after_write(Mapping *m, Py_ssize_t len);

static PyObject *
Mapping_update_region(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off, len;
    Py_buffer buf;
    if (!nargs_ok("update_region", nargs, 2) ||
        as_offset(args[0], &off, "offset") < 0 || check_open(m) < 0 ||
        check_writable(m, "update_region()") < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &buf, PyBUF_C_CONTIGUOUS) < 0) {
        buffer_arg_error(self, args[1],
                         "update_region() needs a bytes-like C-contiguous "
                         "object");
        return NULL;
    }
    len = buf.len;
    int rc = -1;
    if (m->closed) { /* the export (a __buffer__ method) may have closed it */
        raise_closed(m);
    }
    else if (off < 0 || off > m->size || m->size - off < len) {
        PyObject *leno = PyLong_FromSsize_t(len);
        ModState *st = state_of(self);
        if (leno != NULL && st != NULL) {
            raise_bounds_obj(st, m, args[0], leno, m->size);
        }
        Py_XDECREF(leno);
    }
    else if (len == 0 || mapping_copy(m, COPY_IN, off, buf.buf, len) == 0) {
        rc = policy_after_write(m, len);
    }
    PyBuffer_Release(&buf);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}
