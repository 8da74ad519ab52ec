/* AtomicU32.wait() / notify() / notify_all(): futex.c for Python.
 *
 * A wait holds one export of the mapping of its own (and a reference)
 * while the GIL is released, so the memory stays mapped even if another
 * thread releases the view or closes the mapping meanwhile: the kernel
 * would not mind (a futex sleeps on a key, not on the mapping), but the
 * address must stay ours until the wait is over.
 *
 * Signals are handled the way time.sleep() handles them: the futex call
 * returns EINTR, the handlers run with the GIL (PyErr_CheckSignals), an
 * exception they raise (KeyboardInterrupt) ends the wait, and otherwise
 * the wait resumes until the same absolute deadline.
 *
 * notify() keeps the GIL: FUTEX_WAKE never blocks, and a wake-up costs
 * less than releasing and taking the GIL back.
 */
#include "common.h"

/* Waiters and wakers of other processes share a futex only through
 * MAP_SHARED memory; everything else is private to this process. */
static int
wait_is_shared(Mapping *m)
{
    return m->access != ACCESS_COPY && (!m->anonymous || m->shared);
}

static PyObject *
wait_unsupported(const char *what)
{
    PyErr_Format(PyExc_NotImplementedError,
                 "AtomicU32.%s() needs futex(2), which this platform lacks "
                 "(only Linux has it)", what);
    return NULL;
}

/* `timeout` (None, or seconds >= 0) as a deadline. */
static int
wait_deadline(PyObject *timeout, futex_deadline *d)
{
    if (timeout == Py_None) {
        d->forever = 1;
        return 0;
    }
    double s = PyFloat_AsDouble(timeout);
    if (s == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            goto bad_type;
        }
        if (!PyErr_ExceptionMatches(PyExc_OverflowError) ||
            !PyLong_Check(timeout)) {
            return -1;
        }
        /* an int too big for a double: forever, or very negative */
        PyErr_Clear();
        PyObject *zero = PyLong_FromLong(0);
        int neg = zero ? PyObject_RichCompareBool(timeout, zero, Py_LT) : -1;
        Py_XDECREF(zero);
        if (neg < 0) {
            return -1;
        }
        s = neg ? -1.0 : HUGE_VAL;
    }
    if (isnan(s) || s < 0) {
        PyErr_Format(PyExc_ValueError,
                     "timeout must be a non-negative number of seconds or "
                     "None, not %R", timeout);
        return -1;
    }
    futex_deadline_after(s, d);
    return 0;

bad_type:
    PyErr_Format(PyExc_TypeError,
                 "timeout must be a number of seconds or None, not %.100s",
                 Py_TYPE(timeout)->tp_name);
    return -1;
}

/* The exception for a futex failure on the word at `off` of `m`; NULL. */
static PyObject *
wait_raise(Mapping *m, Py_ssize_t off, enum futex_result r, int err,
           const char *what)
{
    if (r == FUTEX_FAULT) {
        return raise_truncated(m, off, 4);
    }
    if (r == FUTEX_UNSUPPORTED) {
        return wait_unsupported(what);
    }
    return raise_os_error(m, NULL, err, "futex(2) failed");
}

static PyObject *
Atomic_wait(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"expected", "timeout", NULL};
    AtomicView *a = (AtomicView *)self;
    PyObject *expo, *timeo = Py_None;
    uint64_t expected;
    futex_deadline d;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:wait", kwlist, &expo,
                                     &timeo)) {
        return NULL;
    }
#ifndef MMAPIO_HAVE_FUTEX
    return wait_unsupported("wait");
#endif
    if (atomic_open(a) < 0 || atomic_as_value(expo, 4, &expected) < 0 ||
        wait_deadline(timeo, &d) < 0 ||
        atomic_open(a) < 0) { /* __index__/__float__ released the view */
        return NULL;
    }
    uint64_t now = 0;
    if (atomic_do(a, AOP_LOAD, 0, &now) < 0) {
        return atomic_raise_sigbus(a);
    }
    if (now != expected) {
        Py_RETURN_TRUE;
    }
    Mapping *m = a->mapping;
    uint32_t *addr = (uint32_t *)a->addr;
    int shared = wait_is_shared(m), err = 0;
    enum futex_result r;
    Py_INCREF(m);
    take_export(m, VIEW_ATOMIC, 0); /* counted as the view it waits on */
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        r = futex_wait(addr, (uint32_t)expected, shared, &d, &err);
        Py_END_ALLOW_THREADS
        if (r != FUTEX_INTERRUPTED || PyErr_CheckSignals() < 0) {
            break;
        }
    }
    PyObject *res = NULL;
    if (r == FUTEX_WOKEN || r == FUTEX_TIMED_OUT) {
        res = Py_NewRef(r == FUTEX_WOKEN ? Py_True : Py_False);
    }
    else if (r != FUTEX_INTERRUPTED) { /* interrupted: a handler raised */
        wait_raise(m, a->offset, r, err, "wait");
    }
    drop_export(m, VIEW_ATOMIC, 0); /* may finish a deferred close */
    Py_DECREF(m);
    return res;
}

/* Wake up to n waiters of view `self`; the count woken, as an int. */
static PyObject *
wait_wake(PyObject *self, int n, const char *what)
{
    AtomicView *a = (AtomicView *)self;
    if (atomic_open(a) < 0) {
        return NULL;
    }
#ifndef MMAPIO_HAVE_FUTEX
    return wait_unsupported(what);
#endif
    if (n == 0) { /* FUTEX_WAKE with 0 would still wake one */
        return PyLong_FromLong(0);
    }
    int woken = 0, err = 0;
    enum futex_result r = futex_wake((uint32_t *)a->addr, n,
                                     wait_is_shared(a->mapping), &woken, &err);
    if (r != FUTEX_WOKEN) {
        return wait_raise(a->mapping, a->offset, r, err, what);
    }
    return PyLong_FromLong(woken);
}

static PyObject *
Atomic_notify(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"n", NULL};
    PyObject *no = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:notify", kwlist, &no)) {
        return NULL;
    }
    Py_ssize_t n = 1;
    if (no != NULL) {
        if (PyFloat_Check(no) || !PyIndex_Check(no)) {
            PyErr_Format(PyExc_TypeError,
                         "notify() count must be an int, not %.100s",
                         Py_TYPE(no)->tp_name);
            return NULL;
        }
        n = PyNumber_AsSsize_t(no, NULL); /* clamps huge values */
        if (n == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (n < 0) {
            PyErr_Format(PyExc_ValueError,
                         "notify() count must be >= 0, not %zd", n);
            return NULL;
        }
    }
    return wait_wake(self, n > FUTEX_WAKE_ALL ? FUTEX_WAKE_ALL : (int)n,
                     "notify");
}

static PyObject *
Atomic_notify_all(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return wait_wake(self, FUTEX_WAKE_ALL, "notify_all");
}

/* Entries of AtomicU32's method table (AtomicU64 has no futex). */
#define ATOMIC_WAIT_METHODS                                                  \
    {"wait", (PyCFunction)(void (*)(void))Atomic_wait,                       \
     METH_VARARGS | METH_KEYWORDS, Atomic_wait_doc},                         \
    {"notify", (PyCFunction)(void (*)(void))Atomic_notify,                   \
     METH_VARARGS | METH_KEYWORDS, Atomic_notify_doc},                       \
    {"notify_all", Atomic_notify_all, METH_NOARGS, Atomic_notify_all_doc},
