/* The exception hierarchy and the helpers that raise it.
 *
 * Every class derives from MmapIoError and, where a Python user would
 * reach for one, from the matching builtin too (msgspec-style), so both
 * `except MmapIoError` and `except IndexError` work.  Operating-system
 * failures use one class per builtin OSError subclass, created on first
 * use and cached in ModState.os_errors (an errno -> exception table in
 * the manner of py-lmdb, keyed by the class CPython picks for the errno).
 *
 * Messages that the Python facade also needs (the bounds error, an int
 * too long to print) are written here only and exported as
 * _core._out_of_bounds and _core._int_text, which mmap_io.errors wraps.
 */
#include "common.h"

static PyObject *
new_exc(PyObject *module, const char *qualname, const char *doc,
        PyObject *base1, PyObject *base2)
{
    PyObject *bases = base2 ? PyTuple_Pack(2, base1, base2)
                            : PyTuple_Pack(1, base1);
    if (bases == NULL) {
        return NULL;
    }
    PyObject *cls = PyErr_NewExceptionWithDoc(qualname, doc, bases, NULL);
    Py_DECREF(bases);
    if (cls == NULL) {
        return NULL;
    }
    const char *dot = strrchr(qualname, '.');
    if (PyModule_AddObjectRef(module, dot + 1, cls) < 0) {
        Py_DECREF(cls);
        return NULL;
    }
    return cls;
}

static int
errors_init(PyObject *module, ModState *st)
{
#define EXC(field, name, doc, b2)                                            \
    st->field = new_exc(module, "mmap_io." name, doc, st->MmapIoError, b2); \
    if (st->field == NULL) {                                                 \
        return -1;                                                           \
    }
    st->MmapIoError = new_exc(
        module, "mmap_io.MmapIoError",
        "Base class of every error mmap_io raises on purpose.  OS failures\n"
        "are also the matching builtin (FileNotFoundError, ...).\n\n"
        "    >>> try:\n"
        "    ...     MemoryMappedFile.open_ro('missing.bin')\n"
        "    ... except MmapIoError as exc:\n"
        "    ...     isinstance(exc, FileNotFoundError), exc.filename\n"
        "    (True, 'missing.bin')",
        PyExc_Exception, NULL);
    if (st->MmapIoError == NULL) {
        return -1;
    }
    EXC(OutOfBoundsError, "OutOfBoundsError",
        "A range lies outside the mapping; has .offset, .length, .total.\n"
        "Also an IndexError.\n\n"
        "    >>> try:\n"
        "    ...     m.read_bytes(len(m), 1)\n"
        "    ... except OutOfBoundsError as exc:\n"
        "    ...     exc.offset, exc.length, exc.total\n"
        "    (4096, 1, 4096)",
        PyExc_IndexError);
    EXC(InvalidModeError, "InvalidModeError",
        "The operation is not allowed in this mapping's mode (a write on a\n"
        "read-only mapping, resize of a copy-on-write one, ...).  Also a\n"
        "ValueError.\n\n"
        "    >>> MemoryMappedFile.open_ro('data.bin').update_region(0, b'x')\n"
        "    Traceback (most recent call last):\n"
        "    InvalidModeError: update_region() is not allowed on the read-only "
        "mapping of 'data.bin'",
        PyExc_ValueError);
    EXC(MisalignedError, "MisalignedError",
        "An atomic view's offset is not aligned; has .required, .offset.\n"
        "Also a ValueError.\n\n"
        "    >>> try:\n"
        "    ...     m.atomic_u64(3)\n"
        "    ... except MisalignedError as exc:\n"
        "    ...     exc.required, exc.offset\n"
        "    (8, 3)",
        PyExc_ValueError);
    EXC(ResizeFailedError, "ResizeFailedError",
        "A size is zero or above the platform maximum, or a resize was\n"
        "refused or failed.  Also a ValueError.\n\n"
        "    >>> m.resize(0)\n"
        "    Traceback (most recent call last):\n"
        "    ResizeFailedError: cannot resize mapping of 'data.bin' to 0 "
        "bytes: ...", PyExc_ValueError);
    EXC(FlushFailedError, "FlushFailedError",
        "msync/fsync failed; errno and filename are set.  Also an OSError.\n\n"
        "    >>> try:\n"
        "    ...     m.flush()\n"
        "    ... except FlushFailedError as exc:   # say, EIO from the disk\n"
        "    ...     print(exc.errno, exc.filename)",
        PyExc_OSError);
    EXC(AdviceFailedError, "AdviceFailedError",
        "madvise/posix_fadvise failed (EINVAL: the platform lacks the\n"
        "advice).  Also an OSError.\n\n"
        "    >>> try:\n"
        "    ...     m.advise(0, len(m), MmapAdvice.COLLAPSE)\n"
        "    ... except AdviceFailedError as exc:  # kernels before 6.1\n"
        "    ...     exc.errno == errno.EINVAL\n"
        "    True",
        PyExc_OSError);
    EXC(LockFailedError, "LockFailedError",
        "mlock failed (for example RLIMIT_MEMLOCK).  Also an OSError.\n\n"
        "    >>> try:\n"
        "    ...     m.lock_all()\n"
        "    ... except LockFailedError as exc:\n"
        "    ...     errno.errorcode[exc.errno]\n"
        "    'ENOMEM'",
        PyExc_OSError);
    EXC(UnlockFailedError, "UnlockFailedError",
        "munlock failed.  Also an OSError.\n\n"
        "    >>> try:\n"
        "    ...     m.unlock(0, len(m))\n"
        "    ... except UnlockFailedError as exc:\n"
        "    ...     print(exc.strerror)",
        PyExc_OSError);
    EXC(WatchFailedError, "WatchFailedError",
        "The operating-system file watch could not be set up (say, the\n"
        "inotify watch limit is reached).  Also an OSError.\n\n"
        "    >>> try:\n"
        "    ...     handle = m.watch(print)\n"
        "    ... except WatchFailedError as exc:\n"
        "    ...     print(exc.filename, exc.strerror)",
        PyExc_OSError);
    EXC(MappingClosedError, "MappingClosedError",
        "The mapping (or view) was used after close().  Also a ValueError.\n\n"
        "    >>> m.close(); len(m)\n"
        "    Traceback (most recent call last):\n"
        "    MappingClosedError: mapping of 'data.bin' is closed",
        PyExc_ValueError);
    EXC(BusyError, "BusyError",
        "close/resize/unmap refused while exported views are alive; the\n"
        "mapping stays open and usable.  Also a BufferError.\n\n"
        "    >>> view = m.as_slice(0, 4)\n"
        "    >>> m.close()\n"
        "    Traceback (most recent call last):\n"
        "    BusyError: ...\n"
        "    >>> view.release(); m.close()",
        PyExc_BufferError);
    EXC(FileTruncatedError, "FileTruncatedError",
        "A copy touched pages the backing file cannot provide: raised\n"
        "instead of the process dying of SIGBUS.  Also an OSError, whose\n"
        "errno says why: EFAULT when the file no longer covers the page\n"
        "(truncated by someone else; the message gives its current size),\n"
        "ENOSPC for a write into a sparse file on a full disk, EIO for a\n"
        "read error.\n\n"
        "    >>> os.truncate('data.bin', 0)\n"
        "    >>> m.read_bytes(0, 1)\n"
        "    Traceback (most recent call last):\n"
        "    FileTruncatedError: ...",
        PyExc_OSError);
#undef EXC
    st->os_errors = PyDict_New();
    return st->os_errors == NULL ? -1 : 0;
}

/* Name a path for messages: " of '<path>'", or "" without one. */
static PyObject *
where_path(PyObject *path)
{
    if (path == NULL || path == Py_None) {
        return PyUnicode_FromString("");
    }
    return PyUnicode_FromFormat(" of %R", path);
}

/* Describe the mapping for messages: " of '<path>'" or "". */
static PyObject *
where(Mapping *m)
{
    return where_path(m != NULL ? m->path : NULL);
}

/* The module state and where(m) that every message about `m` needs; NULL
 * with an exception set when either cannot be had. */
static ModState *
state_and_where(Mapping *m, PyObject **w)
{
    ModState *st = state_of((PyObject *)m);
    *w = st != NULL ? where(m) : NULL;
    return *w != NULL ? st : NULL;
}

/* Raise `cls(message)`; message built by PyUnicode_FromFormatV. */
static PyObject *
raise_fmt(PyObject *cls, const char *fmt, ...)
{
    va_list va;
    va_start(va, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    if (msg != NULL) {
        PyErr_SetObject(cls, msg);
        Py_DECREF(msg);
    }
    return NULL;
}

/* Raise `cls("cannot <op> mapping<where><rest>")`, `rest` formatted from
 * fmt: the one form of every refusal or failure of an operation on the
 * whole mapping (resize, refresh, close while views live, ...). */
static PyObject *
raise_cannot(Mapping *m, PyObject *cls, const char *op, const char *fmt, ...)
{
    va_list va;
    va_start(va, fmt);
    PyObject *rest = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    PyObject *w = rest ? where(m) : NULL;
    if (w != NULL) {
        raise_fmt(cls, "cannot %s mapping%U%U", op, w, rest);
        Py_DECREF(w);
    }
    Py_XDECREF(rest);
    return NULL;
}

static PyObject *
raise_closed(Mapping *m)
{
    PyObject *w;
    ModState *st = state_and_where(m, &w);
    if (st == NULL) {
        return NULL;
    }
    raise_fmt(st->MappingClosedError, "mapping%U is closed", w);
    Py_DECREF(w);
    return NULL;
}

static PyObject *
raise_mode(Mapping *m, const char *what)
{
    static const char *names[] = {"read-only", "read-write", "copy-on-write"};
    PyObject *w;
    ModState *st = state_and_where(m, &w);
    if (st == NULL) {
        return NULL;
    }
    raise_fmt(st->InvalidModeError, "%s is not allowed on the %s mapping%U",
              what, m->anonymous ? "anonymous" : names[m->access], w);
    Py_DECREF(w);
    return NULL;
}

/* cls(message) with up to three attributes set on it (k NULL: none), the
 * message made by PyUnicode_FromFormatV from fmt; a new reference, or
 * NULL with an exception. */
static PyObject *
exc_with_attrs(PyObject *cls, const char *k1, PyObject *v1, const char *k2,
               PyObject *v2, const char *k3, PyObject *v3, const char *fmt,
               ...)
{
    va_list va;
    va_start(va, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    PyObject *exc = msg ? PyObject_CallOneArg(cls, msg) : NULL;
    Py_XDECREF(msg);
    if (exc == NULL) {
        return NULL;
    }
    if ((k1 && PyObject_SetAttrString(exc, k1, v1) < 0) ||
        (k2 && PyObject_SetAttrString(exc, k2, v2) < 0) ||
        (k3 && PyObject_SetAttrString(exc, k3, v3) < 0)) {
        Py_DECREF(exc);
        return NULL;
    }
    return exc;
}

/* Raise an exception made by exc_with_attrs() (NULL passes through). */
static PyObject *
raise_exc(PyObject *exc)
{
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* str(int) for messages; an int too long to print (more digits than
 * sys.set_int_max_str_digits allows) is described by its size instead,
 * so a bad value can never turn the error into a ValueError. */
static PyObject *
int_text(PyObject *v)
{
    PyObject *s = PyObject_Str(v);
    if (s != NULL || !PyErr_ExceptionMatches(PyExc_ValueError)) {
        return s;
    }
    PyErr_Clear();
    PyObject *bits = PyObject_CallMethod(v, "bit_length", NULL);
    PyObject *zero = PyLong_FromLong(0);
    int negative = bits && zero ? PyObject_RichCompareBool(v, zero, Py_LT) : -1;
    s = negative >= 0 ? PyUnicode_FromFormat("<%s%S-bit int>",
                                             negative ? "negative " : "", bits)
                      : NULL;
    Py_XDECREF(bits);
    Py_XDECREF(zero);
    return s;
}

/* The OutOfBoundsError (not raised) for (offset, length) against `total`,
 * the one place its message is written; the Python facade builds its
 * bounds errors through _core._out_of_bounds.  off and len are Python
 * ints, so values beyond Py_ssize_t are reported exactly; `path` may be
 * NULL or None; `within` names what the range must fit in. */
static PyObject *
bounds_error(ModState *st, PyObject *off, PyObject *len, Py_ssize_t total,
             PyObject *path, const char *within)
{
    PyObject *tot = PyLong_FromSsize_t(total);
    PyObject *w = tot ? where_path(path) : NULL;
    PyObject *offs = w ? int_text(off) : NULL;
    PyObject *lens = offs ? int_text(len) : NULL;
    PyObject *exc = lens ? exc_with_attrs(st->OutOfBoundsError, "offset", off,
                                          "length", len, "total", tot,
                                          "range offset=%U length=%U is "
                                          "outside %s%U (length %zd)", offs,
                                          lens, within, w, total)
                         : NULL;
    Py_XDECREF(tot);
    Py_XDECREF(w);
    Py_XDECREF(offs);
    Py_XDECREF(lens);
    return exc;
}

/* Raise OutOfBoundsError for (off, len), Python ints, outside `m`. */
static PyObject *
raise_bounds_obj(ModState *st, Mapping *m, PyObject *off, PyObject *len,
                 Py_ssize_t total)
{
    return raise_exc(bounds_error(st, off, len, total, m->path, "the mapping"));
}

static PyObject *
raise_bounds(Mapping *m, Py_ssize_t off, Py_ssize_t len)
{
    ModState *st = state_of((PyObject *)m);
    if (st == NULL) {
        return NULL;
    }
    PyObject *o = PyLong_FromSsize_t(off);
    PyObject *l = PyLong_FromSsize_t(len);
    if (o && l) {
        raise_bounds_obj(st, m, o, l, m->size);
    }
    Py_XDECREF(o);
    Py_XDECREF(l);
    return NULL;
}

/* The class used for an OS error: ours for the builtin CPython would pick
 * for this errno (FileNotFoundError for ENOENT, ...), made on first use. */
static PyObject *
os_error_class(ModState *st, int err)
{
    PyObject *probe = PyObject_CallFunction(PyExc_OSError, "is", err, "");
    if (probe == NULL) {
        return NULL;
    }
    PyObject *builtin = (PyObject *)Py_TYPE(probe);
    Py_INCREF(builtin);
    Py_DECREF(probe);
    PyObject *cls = PyDict_GetItemWithError(st->os_errors, builtin);
    if (cls != NULL || PyErr_Occurred()) {
        Py_XINCREF(cls);
        Py_DECREF(builtin);
        return cls;
    }
    PyObject *name = PyObject_GetAttrString(builtin, "__name__");
    if (name == NULL) {
        Py_DECREF(builtin);
        return NULL;
    }
    PyObject *qual = PyUnicode_FromFormat("mmap_io.errors.%U", name);
    Py_DECREF(name);
    if (qual == NULL) {
        Py_DECREF(builtin);
        return NULL;
    }
    PyObject *bases = PyTuple_Pack(2, st->MmapIoError, builtin);
    cls = bases ? PyErr_NewExceptionWithDoc(
                      PyUnicode_AsUTF8(qual),
                      "An operating-system error raised by mmap_io.", bases,
                      NULL)
                : NULL;
    Py_XDECREF(bases);
    Py_DECREF(qual);
    if (cls && PyDict_SetItem(st->os_errors, builtin, cls) < 0) {
        Py_CLEAR(cls);
    }
    Py_DECREF(builtin);
    return cls;
}

/* Build (not raise) an OS error: `cls` if given (FlushFailedError, ...),
 * else the class of the errno table.  `filename` may be NULL/None. */
static PyObject *
make_os_error(ModState *st, PyObject *cls, int err, PyObject *filename,
              const char *context)
{
    PyObject *owned = NULL;
    if (cls == NULL) {
        cls = owned = os_error_class(st, err);
        if (cls == NULL) {
            return NULL;
        }
    }
    PyObject *msg = context && *context
                        ? PyUnicode_FromFormat("%s: %s", context, strerror(err))
                        : PyUnicode_FromString(strerror(err));
    PyObject *exc = NULL;
    if (msg != NULL) {
        exc = PyObject_CallFunction(cls, "iOO", err, msg,
                                    filename ? filename : Py_None);
        Py_DECREF(msg);
    }
    Py_XDECREF(owned);
    return exc;
}

static PyObject *
raise_os_error(Mapping *m, PyObject *cls, int err, const char *context)
{
    ModState *st = state_of((PyObject *)m);
    if (st == NULL) {
        return NULL;
    }
    return raise_exc(make_os_error(st, cls, err, m->path, context));
}

/* Turn a Python int (or __index__ object) into a Py_ssize_t offset or
 * length.  Values beyond Py_ssize_t saturate (to -1 or PY_SSIZE_T_MAX) so
 * the caller's bounds check rejects them; only non-integers fail here. */
static int
as_offset(PyObject *obj, Py_ssize_t *out, const char *what)
{
    if (PyLong_CheckExact(obj)) {
        Py_ssize_t v = PyLong_AsSsize_t(obj);
        if (!(v == -1 && PyErr_Occurred())) {
            *out = v;
            return 0;
        }
        PyErr_Clear();
        int overflow = 0;
        (void)PyLong_AsLongLongAndOverflow(obj, &overflow);
        *out = overflow < 0 ? -1 : PY_SSIZE_T_MAX;
        return 0;
    }
    if (!PyIndex_Check(obj) || PyFloat_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyObject *idx = PyNumber_Index(obj);
    if (idx == NULL) {
        return -1;
    }
    int rc = as_offset(idx, out, what);
    Py_DECREF(idx);
    return rc;
}

/* ---- module functions: the rules above, for the Python facade -------- */

static PyObject *
mod_out_of_bounds(PyObject *mod, PyObject *args)
{
    PyObject *off, *len, *path = Py_None;
    Py_ssize_t total;
    const char *within = "the mapping";
    if (!PyArg_ParseTuple(args, "O!O!n|Os:_out_of_bounds", &PyLong_Type, &off,
                          &PyLong_Type, &len, &total, &path, &within)) {
        return NULL;
    }
    return bounds_error(PyModule_GetState(mod), off, len, total, path, within);
}

static PyObject *
mod_int_text(PyObject *mod, PyObject *value)
{
    (void)mod;
    if (!PyLong_Check(value)) {
        return PyErr_Format(PyExc_TypeError, "_int_text() needs an int, not "
                            "%.100s", Py_TYPE(value)->tp_name);
    }
    return int_text(value);
}

#define ERRORS_MODULE_METHODS                                                 \
    {"_out_of_bounds", mod_out_of_bounds, METH_VARARGS,                       \
     mod_out_of_bounds_doc},                                                  \
    {"_int_text", mod_int_text, METH_O, mod_int_text_doc},
