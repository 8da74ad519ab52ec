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

PyDoc_STRVAR(Mapping_as_slice_doc,
"as_slice($self, offset, length, /)\n--\n\n"
"Read-only zero-copy memoryview of [offset, offset+length). Works in\n"
"every mode. While it is alive the mapping cannot be closed or resized.\n\n"
"    >>> bytes(m.as_slice(0, 5))\n    b'hello'");

static PyObject *
Mapping_as_slice(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off, len;
    if (!nargs_ok("as_slice", nargs, 2) ||
        check_range(m, args[0], args[1], &off, &len) < 0) {
        return NULL;
    }
    return export_slice(m, off, len, 1);
}

PyDoc_STRVAR(Mapping_as_slice_mut_doc,
"as_slice_mut($self, offset, length, /)\n--\n\n"
"Writable zero-copy memoryview of [offset, offset+length); read-write and\n"
"copy-on-write mappings only. Writes through it bypass the flush-policy\n"
"counters (pending_bytes, ALWAYS, every_bytes, every_writes): call flush(),\n"
"or use every_millis, which flushes while writable views are alive.\n\n"
"    >>> m.as_slice_mut(0, 5)[:] = b'HELLO'");

static PyObject *
Mapping_as_slice_mut(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off, len;
    if (!nargs_ok("as_slice_mut", nargs, 2) ||
        check_range(m, args[0], args[1], &off, &len) < 0 ||
        check_writable(m, "as_slice_mut()") < 0) {
        return NULL;
    }
    return export_slice(m, off, len, 0);
}

PyDoc_STRVAR(Mapping_read_bytes_doc,
"read_bytes($self, offset, length, /)\n--\n\n"
"Copy [offset, offset+length) into a new bytes object (owned: it\n"
"survives close()).\n\n"
"    >>> m.read_bytes(0, 5)\n    b'hello'");

static PyObject *
Mapping_read_bytes(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off, len;
    if (!nargs_ok("read_bytes", nargs, 2) ||
        check_range(m, args[0], args[1], &off, &len) < 0) {
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

PyDoc_STRVAR(Mapping_read_into_doc,
"read_into($self, offset, buf, /)\n--\n\n"
"Copy memoryview(buf).nbytes bytes from `offset` into the writable,\n"
"C-contiguous buffer `buf`; returns the count.\n\n"
"    >>> buf = bytearray(5); m.read_into(0, buf)\n    5");

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

PyDoc_STRVAR(Mapping_update_region_doc,
"update_region($self, offset, data, /)\n--\n\n"
"Copy the bytes-like `data` into the mapping at `offset` (read-write and\n"
"copy-on-write). Counts toward the flush policy. Atomic with respect to\n"
"read_into/read_bytes/update_region on this mapping.\n\n"
"    >>> m.update_region(0, b'hello')");

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
