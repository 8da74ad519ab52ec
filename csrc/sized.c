/* SizedIterator: an iterator that knows how many items are still to come.
 *
 * chunks(), pages() and their _owned forms return one around the
 * facade's generators, so len() works on them as it does on the Rust
 * crate's exact-size iterators.  It is native because a Python __next__
 * between the loop and the generator cost about as much per item as
 * making a page's view; this one adds a C call and a decrement.
 *
 * The wrapped iterator is dropped as soon as it is exhausted or closed,
 * so a generator that holds a view releases it then (its finally block
 * runs), not when the wrapper goes.
 */
#include "common.h"

typedef struct {
    PyObject_HEAD
    PyObject *items;      /* the wrapped iterator; NULL once done */
    Py_ssize_t left;      /* items still to come */
} SizedIter;

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

#define SIZED_ITER_REFS(X) X(items)
MMAPIO_GC_REFS(SizedIter, SizedIter, SIZED_ITER_REFS)

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
    MMAPIO_GC_SLOTS(SizedIter, mmapio_gc_dealloc)
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
    PyObject *type = PyType_FromModuleAndSpec(module, &SizedIter_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int rc = PyModule_AddType(module, (PyTypeObject *)type);
    Py_DECREF(type);
    return rc;
}
