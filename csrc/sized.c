/* SizedIterator: an iterator that knows how many items are still to come.
 *
 * chunks_owned() and pages_owned() return one around the facade's
 * generators, so len() works on them as it does on the Rust crate's
 * exact-size iterators.  It is native because a Python __next__ between
 * the loop and the generator cost about as much per item as making a
 * page's view; this one adds a C call and a decrement.
 *
 * The wrapped iterator is dropped as soon as it is exhausted or closed,
 * so a generator that holds a view releases it then (its finally block
 * runs), not when the wrapper goes.
 *
 * chunks(), pages() and chunks_mut() make their views here instead
 * (Mapping._chunk_views, "views mode"): each view is released when the
 * next is asked for, when the iteration ends, is closed, or the iterator
 * goes.  A generator doing the same cost pages() 270 ns a page on top of
 * the 110 ns of making and releasing the view (a crc32 of the page: 1.8
 * µs), which made a warm pages() scan 0.66x the throughput of slicing a
 * memoryview; here it costs a C call.
 */
#include "common.h"

typedef struct {
    PyObject_HEAD
    PyObject *items;      /* the wrapped iterator; NULL once done */
    Py_ssize_t left;      /* items still to come */
    /* Views mode; `mapping` is NULL in the other mode and once done. */
    PyObject *mapping;    /* the Mapping the views are of */
    PyObject *view;       /* the last view handed out; NULL if none */
    PyObject *release;    /* the name "release" (ModState.str_release) */
    PyObject *ahead;      /* read-ahead: ahead(offset) -> next offset due */
    Py_ssize_t off;       /* where the next view starts */
    Py_ssize_t size;      /* bytes per view (the last may be shorter) */
    Py_ssize_t total;     /* the mapping's size when the iteration began */
    Py_ssize_t due;       /* call `ahead` again at this offset */
    int readonly;
    int busy;             /* a next() is running (it can run Python code) */
} SizedIter;

/* Release the last view handed out.  A buffer taken from it (say a numpy
 * array) keeps its own export alive and still blocks close(): release()
 * then raises BufferError, which is not an error here (the view itself
 * goes).  -1 with an exception set on any other failure. */
static int
views_release(SizedIter *self)
{
    PyObject *view = self->view;
    if (view == NULL) {
        return 0;
    }
    self->view = NULL;
#ifndef Py_GIL_DISABLED
    if (Py_REFCNT(view) == 1) { /* nobody else has it: dropping releases */
        Py_DECREF(view);
        return 0;
    }
#endif
    PyObject *call[2] = {NULL, view}; /* call[0]: room for the callee */
    PyObject *res = PyObject_VectorcallMethod(
        self->release, call + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(view);
    if (res == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(res);
    return 0;
}

/* End views mode: release the last view, drop the mapping. */
static int
views_finish(SizedIter *self)
{
    self->left = 0;
    Py_CLEAR(self->mapping);
    Py_CLEAR(self->ahead);
    return views_release(self);
}

/* Call the read-ahead at `off`; -1 with an exception set on failure. */
static int
views_read_ahead(SizedIter *self, Py_ssize_t off)
{
    PyObject *at = PyLong_FromSsize_t(off);
    PyObject *due = at != NULL ? PyObject_CallOneArg(self->ahead, at) : NULL;
    Py_XDECREF(at);
    if (due == NULL) {
        return -1;
    }
    self->due = PyLong_AsSsize_t(due);
    Py_DECREF(due);
    return self->due == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *
views_step(SizedIter *self)
{
    if (views_release(self) < 0) {
        (void)views_finish(self);
        return NULL;
    }
    Py_ssize_t off = self->off;
    if (off >= self->total) {
        (void)views_finish(self);
        return NULL;
    }
    if (self->ahead != NULL && off >= self->due &&
        views_read_ahead(self, off) < 0) {
        (void)views_finish(self);
        return NULL;
    }
    /* The mapping may have been closed or shrunk since the last view was
     * released (by the loop's body, or by the read-ahead's Python code). */
    Mapping *m = (Mapping *)self->mapping;
    Py_ssize_t len = self->total - off < self->size ? self->total - off
                                                    : self->size;
    PyObject *view = NULL;
    if (check_open(m) == 0) {
        if (m->size < off || m->size - off < len) {
            raise_bounds(m, off, len);
        }
        else if (self->readonly || check_writable(m, "chunks_mut()") == 0) {
            view = export_slice(m, off, len, self->readonly, VIEW_MEMORYVIEW);
        }
    }
    if (view == NULL) {
        (void)views_finish(self);
        return NULL;
    }
    self->off = off + len;
    self->left--;
    self->view = Py_NewRef(view);
    return view;
}

/* One step at a time: the release, the read-ahead and the view's
 * allocation can run Python code (a finalizer, another thread) that calls
 * next() or close() on this iterator again, as a generator would refuse.
 * 0 once this call may go on (views_leave() after it), -1 if refused. */
static int
views_enter(SizedIter *self)
{
    if (__atomic_exchange_n(&self->busy, 1, __ATOMIC_ACQUIRE)) {
        PyErr_SetString(PyExc_ValueError, "chunk iterator already executing");
        return -1;
    }
    return 0;
}

static inline void
views_leave(SizedIter *self)
{
    __atomic_store_n(&self->busy, 0, __ATOMIC_RELEASE);
}

static PyObject *
views_next(SizedIter *self)
{
    if (views_enter(self) < 0) {
        return NULL;
    }
    PyObject *view = views_step(self);
    views_leave(self);
    return view;
}

static PyObject *
SizedIter_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"items", "count", NULL};
    PyObject *items;
    Py_ssize_t count;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On:SizedIterator", kwlist,
                                     &items, &count)) {
        return NULL;
    }
    if (count < 0) {
        PyErr_Format(PyExc_ValueError, "count must not be negative, got %zd",
                     count);
        return NULL;
    }
    PyObject *it = PyObject_GetIter(items);
    if (it == NULL) {
        return NULL;
    }
    SizedIter *self = (SizedIter *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    self->items = it;
    self->left = count;
    return (PyObject *)self;
}

static PyObject *
SizedIter_next(PyObject *op)
{
    SizedIter *self = (SizedIter *)op;
    if (self->mapping != NULL) {
        return views_next(self);
    }
    if (self->items == NULL) {
        return NULL;
    }
    PyObject *item = PyIter_Next(self->items);
    if (item == NULL) {
        if (!PyErr_Occurred()) { /* exhausted */
            self->left = 0;
            Py_CLEAR(self->items);
        }
        return NULL;
    }
    if (self->left > 0) {
        self->left--;
    }
    return item;
}

static Py_ssize_t
SizedIter_length(PyObject *op)
{
    return ((SizedIter *)op)->left;
}

static PyObject *
SizedIter_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    SizedIter *self = (SizedIter *)op;
    if (self->mapping != NULL) {
        if (views_enter(self) < 0) {
            return NULL;
        }
        int rc = views_finish(self);
        views_leave(self);
        if (rc < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyObject *items = self->items;
    self->items = NULL;
    self->left = 0;
    if (items == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *close = PyObject_GetAttrString(items, "close");
    PyObject *res = close != NULL ? PyObject_CallNoArgs(close) : NULL;
    if (close == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear(); /* nothing to close: dropping it is all there is */
        res = Py_NewRef(Py_None);
    }
    Py_XDECREF(close);
    Py_DECREF(items);
    if (res == NULL) {
        return NULL;
    }
    Py_DECREF(res);
    Py_RETURN_NONE;
}

#define SIZED_ITER_REFS(X) X(items) X(mapping) X(view) X(ahead) X(release)
MMAPIO_GC_REFS(SizedIter, SizedIter, SIZED_ITER_REFS)

/* The last view goes with the iterator, released as a generator's
 * finally block would release it. */
static void
SizedIter_dealloc(PyObject *op)
{
    SizedIter *self = (SizedIter *)op;
    PyObject_GC_UnTrack(op);
    if (self->view != NULL) {
        PyObject *type, *value, *tb; /* 3.11 has no PyErr_GetRaisedException */
        PyErr_Fetch(&type, &value, &tb);
        if (views_release(self) < 0) {
            PyErr_WriteUnraisable(op);
        }
        PyErr_Restore(type, value, tb);
    }
    mmapio_gc_dealloc(op);
}

/* Mapping._chunk_views(size, readonly, ahead): the views of chunks(),
 * pages() and chunks_mut() (views mode, above). */
static PyObject *
Mapping_chunk_views(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    ModState *st = state_of(self);
    Py_ssize_t size;
    if (st == NULL || !nargs_ok("_chunk_views", nargs, 3) ||
        as_offset(args[0], &size, "size") < 0) {
        return NULL;
    }
    if (size < 1) {
        return PyErr_Format(PyExc_ValueError,
                            "chunk size must be positive, got %zd", size);
    }
    int readonly = PyObject_IsTrue(args[1]);
    PyObject *ahead = args[2] == Py_None ? NULL : args[2];
    if (readonly < 0) {
        return NULL;
    }
    if (ahead != NULL && !PyCallable_Check(ahead)) {
        return PyErr_Format(PyExc_TypeError, "ahead must be callable or None");
    }
    if (check_open(m) < 0) { /* after the conversions: they run Python */
        return NULL;
    }
    PyTypeObject *tp = st->SizedIterType;
    SizedIter *it = (SizedIter *)tp->tp_alloc(tp, 0);
    if (it == NULL) {
        return NULL;
    }
    it->mapping = Py_NewRef(self);
    it->release = Py_NewRef(st->str_release);
    it->ahead = Py_XNewRef(ahead);
    it->size = size;
    it->total = m->size;
    it->left = m->size / size + (m->size % size != 0);
    it->readonly = readonly;
    return (PyObject *)it;
}

#define SIZED_MAPPING_METHODS                                                \
    {"_chunk_views", (PyCFunction)(void (*)(void))Mapping_chunk_views,       \
     METH_FASTCALL, Mapping_chunk_views_doc},

static PyMethodDef SizedIter_methods[] = {
    {"close", SizedIter_close, METH_NOARGS, SizedIter_close_doc},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     "__class_getitem__($cls, item, /)\n--\n\n"
     "SizedIterator[bytes] in annotations."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot SizedIter_slots[] = {
    {Py_tp_doc, (void *)SizedIter_doc},
    {Py_tp_new, SizedIter_new},
    MMAPIO_GC_SLOTS(SizedIter, SizedIter_dealloc)
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, SizedIter_next},
    {Py_tp_methods, SizedIter_methods},
    {Py_mp_length, SizedIter_length},
    {0, NULL},
};

static PyType_Spec SizedIter_spec = MMAPIO_TYPE_SPEC(
    "mmap_io._core.SizedIterator", SizedIter,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | MMAPIO_TPFLAGS_IMMUTABLE,
    SizedIter_slots);

static int
sized_init(PyObject *module)
{
    ModState *st = PyModule_GetState(module);
    st->str_release = PyUnicode_InternFromString("release");
    if (st->str_release == NULL) {
        return -1;
    }
    st->SizedIterType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &SizedIter_spec, NULL);
    if (st->SizedIterType == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->SizedIterType);
}
