/* The memory syscalls the stdlib lacks: madvise on ranges, posix_fadvise,
 * page touching, mlock/munlock, mincore.  Linux-only calls are guarded so
 * the core still compiles on macOS.
 *
 * Every call works on a byte range of the mapping, checked like any other
 * range (check_range) and then widened outward to whole pages, because
 * the kernel wants page-aligned addresses.  The syscall runs either with
 * the GIL held (small, cheap ranges: data cannot move while we hold it) or
 * with the GIL released through without_gil() (nogil.c: map_lock held
 * shared, the range checked again under the lock, since a resize may have
 * moved or shrunk the mapping meanwhile).
 */
#include "common.h"

/* Linux advice values newer than some C libraries; an old kernel answers
 * EINVAL, which is what the caller reports anyway. */
#if defined(__linux__)
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#endif

/* Ranges below this run with the GIL held when the call cannot block on
 * I/O (touching an already-mapped range, mincore). */
#define SYSCALLS_SMALL ((Py_ssize_t)64 * 1024)

/* MmapAdvice values (the enum's .value strings) -> madvise advice. */
typedef struct {
    const char *value;
    const char *cname;
    int available;
    int advice;
} advice_entry;

#define ADV(value, c) {value, #c, 1, c}
#define ADV_MISSING(value, cname) {value, cname, 0, 0}

static const advice_entry advice_table[] = {
    ADV("normal", MADV_NORMAL),
    ADV("random", MADV_RANDOM),
    ADV("sequential", MADV_SEQUENTIAL),
    ADV("will_need", MADV_WILLNEED),
    ADV("dont_need", MADV_DONTNEED),
#ifdef MADV_HUGEPAGE
    ADV("hugepage", MADV_HUGEPAGE),
    ADV("no_hugepage", MADV_NOHUGEPAGE),
#else
    ADV_MISSING("hugepage", "MADV_HUGEPAGE"),
    ADV_MISSING("no_hugepage", "MADV_NOHUGEPAGE"),
#endif
#ifdef MADV_FREE
    ADV("free", MADV_FREE),
#else
    ADV_MISSING("free", "MADV_FREE"),
#endif
/* Each on its own: a C library may have some of these and not others. */
#ifdef MADV_COLD
    ADV("cold", MADV_COLD),
#else
    ADV_MISSING("cold", "MADV_COLD"),
#endif
#ifdef MADV_PAGEOUT
    ADV("pageout", MADV_PAGEOUT),
#else
    ADV_MISSING("pageout", "MADV_PAGEOUT"),
#endif
#ifdef MADV_POPULATE_READ
    ADV("populate_read", MADV_POPULATE_READ),
#else
    ADV_MISSING("populate_read", "MADV_POPULATE_READ"),
#endif
#ifdef MADV_POPULATE_WRITE
    ADV("populate_write", MADV_POPULATE_WRITE),
#else
    ADV_MISSING("populate_write", "MADV_POPULATE_WRITE"),
#endif
#ifdef MADV_COLLAPSE
    ADV("collapse", MADV_COLLAPSE),
#else
    ADV_MISSING("collapse", "MADV_COLLAPSE"),
#endif
#ifdef MADV_DONTFORK
    ADV("dont_fork", MADV_DONTFORK),
    ADV("do_fork", MADV_DOFORK),
#else
    ADV_MISSING("dont_fork", "MADV_DONTFORK"),
    ADV_MISSING("do_fork", "MADV_DOFORK"),
#endif
#ifdef MADV_DONTDUMP
    ADV("dont_dump", MADV_DONTDUMP),
    ADV("do_dump", MADV_DODUMP),
#else
    ADV_MISSING("dont_dump", "MADV_DONTDUMP"),
    ADV_MISSING("do_dump", "MADV_DODUMP"),
#endif
};

#undef ADV
#undef ADV_MISSING

/* What to do on a page span. */
enum span_op {
    OP_MADVISE,
    OP_FADVISE,
    OP_MLOCK,
    OP_MUNLOCK,
    OP_MINCORE,
    OP_TOUCH,
};

typedef struct {
    enum span_op op;
    int advice;              /* OP_MADVISE */
    Py_ssize_t off, len;     /* the caller's range, re-checked under lock */
    Py_ssize_t start, span;  /* the page-widened span */
    unsigned char *vec;      /* OP_MINCORE: one byte per page */
    Py_ssize_t resident;     /* OP_MINCORE: pages with bit 0 set */
} span_req;

/* Widen the request's range outward to whole pages (page_widen). */
static void
page_span(Mapping *m, span_req *r)
{
    Py_ssize_t end;
    page_widen(m, r->off, r->len, &r->start, &end);
    r->span = end - r->start;
}

/* The syscall itself; the caller holds the GIL or map_lock shared.
 * Returns 0, an errno or NOGIL_SIGBUS. */
static int
span_do(Mapping *m, span_req *r)
{
    char *p = m->data + r->start;
    size_t n = (size_t)r->span;
    switch (r->op) {
    case OP_MADVISE:
        return madvise(p, n, r->advice) == 0 ? 0 : errno;
    case OP_FADVISE:
        if (m->anonymous) {
            return madvise(p, n, MADV_WILLNEED) == 0 ? 0 : errno;
        }
#ifdef POSIX_FADV_WILLNEED
        /* posix_fadvise returns the error instead of setting errno; it
         * takes file offsets, and a mapping starts at file offset 0. */
        return posix_fadvise(m->fd, (off_t)r->start, (off_t)n,
                             POSIX_FADV_WILLNEED);
#else
        return madvise(p, n, MADV_WILLNEED) == 0 ? 0 : errno;
#endif
    case OP_MLOCK:
        return mlock(p, n) == 0 ? 0 : errno;
    case OP_MUNLOCK:
        return munlock(p, n) == 0 ? 0 : errno;
    case OP_MINCORE: {
        int err = page_mincore(m, r->start, r->span, r->vec);
        if (err != 0) {
            return err;
        }
        Py_ssize_t pages = (r->span + page_size_value() - 1) / page_size_value();
        Py_ssize_t resident = 0;
        for (Py_ssize_t i = 0; i < pages; i++) {
            r->vec[i] &= 1;
            resident += r->vec[i];
        }
        r->resident = resident;
        return 0;
    }
    case OP_TOUCH: {
        unsigned char sink;
        return guarded_touch(p, n, (size_t)page_size_value(), &sink) == 0
                   ? 0
                   : NOGIL_SIGBUS;
    }
    }
    return EINVAL;
}

/* span_do() for without_gil(), which re-checked the caller's range; the
 * page-widened span must still lie in the mapping too. */
static int
span_work(Mapping *m, void *arg)
{
    span_req *r = arg;
    if (m->map_size - r->start < r->span) {
        return NOGIL_MOVED;
    }
    return span_do(m, r);
}

/* Run `r` on its span: directly when `release` is 0 (GIL held), else with
 * the GIL released and map_lock held shared. */
static int
span_run(Mapping *m, span_req *r, int release)
{
    if (!release) {
        return span_do(m, r);
    }
    return without_gil(m, r->off, r->len, span_work, r);
}

/* Turn a span_run result into an exception; `cls` NULL picks the class of
 * the errno table.  Always returns NULL. */
static PyObject *
span_error(Mapping *m, span_req *r, int rc, PyObject *cls, const char *call)
{
    char ctx[200];
    snprintf(ctx, sizeof ctx, "%s failed on bytes %zd..%zd (widened to %zd..%zd)",
             call, r->off, r->off + r->len, r->start, r->start + r->span);
    return raise_nogil(m, rc, r->off, r->len, cls, ctx);
}

/* Run `r` (nothing to do for an empty range) and raise its failure as
 * `cls` (NULL: by errno) naming `call`; `release`: see span_run. */
static PyObject *
span_call(Mapping *m, span_req *r, int release, PyObject *cls,
          const char *call)
{
    if (r->len == 0) {
        Py_RETURN_NONE;
    }
    int rc = span_run(m, r, release);
    return rc == 0 ? Py_NewRef(Py_None) : span_error(m, r, rc, cls, call);
}

/* The whole mapping as a request for `op`; -1 when it is closed. */
static int
whole_span(PyObject *self, enum span_op op, span_req *r)
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0) {
        return -1;
    }
    *r = (span_req){.op = op, .off = 0, .len = m->size};
    page_span(m, r);
    return 0;
}

/* Parse (offset, length), check the range and fill the request. */
static int
span_args(Mapping *m, const char *name, PyObject *const *args,
          Py_ssize_t nargs, Py_ssize_t want, span_req *r)
{
    if (range_args(m, name, args, nargs, want, &r->off, &r->len) < 0) {
        return -1;
    }
    page_span(m, r);
    return 0;
}

/* ---- advise / prefetch ------------------------------------------------ */

static PyObject *
Mapping_advise(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    span_req r = {.op = OP_MADVISE};
    if (nargs == 3 && !PyUnicode_Check(args[2])) {
        return PyErr_Format(PyExc_TypeError,
                            "advice must be an MmapAdvice, not %.100s",
                            Py_TYPE(args[2])->tp_name);
    }
    if (span_args(m, "_advise", args, nargs, 3, &r) < 0) {
        return NULL;
    }
    const char *value = PyUnicode_AsUTF8(args[2]);
    if (value == NULL) {
        return NULL;
    }
    const advice_entry *e = NULL;
    for (size_t i = 0; i < sizeof advice_table / sizeof advice_table[0]; i++) {
        if (strcmp(advice_table[i].value, value) == 0) {
            e = &advice_table[i];
            break;
        }
    }
    if (e == NULL) {
        return PyErr_Format(PyExc_ValueError, "unknown advice %R", args[2]);
    }
    ModState *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    char call[64];
    snprintf(call, sizeof call, "madvise(%s)", e->cname);
    if (!e->available) {
        char ctx[128];
        snprintf(ctx, sizeof ctx, "%s is not available on this platform",
                 e->cname);
        return raise_os_error(m, st->AdviceFailedError, EINVAL, ctx);
    }
    r.advice = e->advice;
    PyObject *res = span_call(m, &r, 1, st->AdviceFailedError, call);
    if (res != NULL && r.len > 0) {
        note_advice(m, r.advice, r.start, r.span);
    }
#ifdef MADV_DONTFORK
    /* A forked child will not have this memory: fork.c closes the
     * mapping there.  Only DOFORK on all of it undoes that. */
    if (res != NULL && r.len > 0) {
        if (r.advice == MADV_DONTFORK) {
            m->dont_fork = 1;
        }
        else if (r.advice == MADV_DOFORK && r.start == 0 &&
                 r.span >= m->map_size) {
            m->dont_fork = 0;
        }
    }
#endif
    return res;
}

static PyObject *
Mapping_prefetch_range(PyObject *self, PyObject *const *args,
                       Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    span_req r = {.op = OP_FADVISE};
    ModState *st = state_of(self);
    if (st == NULL || span_args(m, "prefetch_range", args, nargs, 2, &r) < 0) {
        return NULL;
    }
    return span_call(m, &r, 1, st->AdviceFailedError,
                     m->anonymous ? "madvise(MADV_WILLNEED)"
                                  : "posix_fadvise(WILLNEED)");
}

/* ---- touching ---------------------------------------------------------- */

static PyObject *
touch(Mapping *m, span_req *r)
{
    return span_call(m, r, r->span >= SYSCALLS_SMALL, NULL, "touch");
}

static PyObject *
Mapping_touch_pages(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    span_req r;
    return whole_span(self, OP_TOUCH, &r) < 0 ? NULL
                                               : touch((Mapping *)self, &r);
}

static PyObject *
Mapping_touch_pages_range(PyObject *self, PyObject *const *args,
                          Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    span_req r = {.op = OP_TOUCH};
    if (span_args(m, "touch_pages_range", args, nargs, 2, &r) < 0) {
        return NULL;
    }
    return touch(m, &r);
}

/* ---- residency --------------------------------------------------------- */

static PyObject *
Mapping_residency(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    span_req r = {.op = OP_MINCORE};
    if (!nargs_ok("_residency", nargs, 2)) {
        return NULL;
    }
    if (args[1] == Py_None) {
        if (as_offset(args[0], &r.off, "offset") < 0 || check_open(m) < 0) {
            return NULL;
        }
        if (r.off < 0 || r.off > m->size) {
            /* The offset as given: r.off saturated for huge values. */
            ModState *st = state_of(self);
            PyObject *o = st ? PyNumber_Index(args[0]) : NULL;
            PyObject *zero = o ? PyLong_FromLong(0) : NULL;
            if (zero != NULL) {
                raise_bounds_obj(st, m, o, zero, m->size);
            }
            Py_XDECREF(o);
            Py_XDECREF(zero);
            return NULL;
        }
        r.len = m->size - r.off;
        page_span(m, &r);
    }
    else if (span_args(m, "_residency", args, nargs, 2, &r) < 0) {
        return NULL;
    }
    Py_ssize_t ps = page_size_value();
    Py_ssize_t pages = r.len == 0 ? 0 : (r.span + ps - 1) / ps;
    PyObject *vec = PyBytes_FromStringAndSize(NULL, pages);
    if (vec == NULL) {
        return NULL;
    }
    if (pages > 0) {
        r.vec = (unsigned char *)PyBytes_AS_STRING(vec);
        int rc = span_run(m, &r, r.span >= 64 * SYSCALLS_SMALL);
        if (rc != 0) {
            Py_DECREF(vec);
            return span_error(m, &r, rc, NULL, "mincore");
        }
    }
    return Py_BuildValue("nnNn", r.len == 0 ? r.off : r.start, ps, vec,
                         r.resident);
}

/* ---- locking ----------------------------------------------------------- */

static PyObject *
lock_span(Mapping *m, span_req *r)
{
    ModState *st = state_of((PyObject *)m);
    if (st == NULL) {
        return NULL;
    }
    int locking = r->op == OP_MLOCK;
    return span_call(m, r, 1,
                     locking ? st->LockFailedError : st->UnlockFailedError,
                     locking ? "mlock" : "munlock");
}

/* lock() and unlock(). */
static PyObject *
lock_range(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
           enum span_op op)
{
    span_req r = {.op = op};
    if (span_args((Mapping *)self, op == OP_MLOCK ? "lock" : "unlock", args,
                  nargs, 2, &r) < 0) {
        return NULL;
    }
    return lock_span((Mapping *)self, &r);
}

BIND_FASTCALL(Mapping_lock, lock_range, OP_MLOCK)

BIND_FASTCALL(Mapping_unlock, lock_range, OP_MUNLOCK)

static PyObject *
lock_whole(PyObject *self, enum span_op op)
{
    span_req r;
    return whole_span(self, op, &r) < 0 ? NULL
                                        : lock_span((Mapping *)self, &r);
}

BIND_NOARGS(Mapping_lock_all, lock_whole, OP_MLOCK)

BIND_NOARGS(Mapping_unlock_all, lock_whole, OP_MUNLOCK)

/* Entries added to Mapping's method table and to the module's. */
#define SYSCALLS_MAPPING_METHODS                                              \
    {"_advise", (PyCFunction)(void (*)(void))Mapping_advise, METH_FASTCALL,   \
     Mapping_advise_doc},                                                     \
    {"prefetch_range", (PyCFunction)(void (*)(void))Mapping_prefetch_range,   \
     METH_FASTCALL, Mapping_prefetch_range_doc},                              \
    {"touch_pages", Mapping_touch_pages, METH_NOARGS,                         \
     Mapping_touch_pages_doc},                                                \
    {"touch_pages_range",                                                     \
     (PyCFunction)(void (*)(void))Mapping_touch_pages_range, METH_FASTCALL,   \
     Mapping_touch_pages_range_doc},                                          \
    {"_residency", (PyCFunction)(void (*)(void))Mapping_residency,            \
     METH_FASTCALL, Mapping_residency_doc},                                   \
    {"lock", (PyCFunction)(void (*)(void))Mapping_lock, METH_FASTCALL,        \
     Mapping_lock_doc},                                                       \
    {"unlock", (PyCFunction)(void (*)(void))Mapping_unlock, METH_FASTCALL,    \
     Mapping_unlock_doc},                                                     \
    {"lock_all", Mapping_lock_all, METH_NOARGS, Mapping_lock_all_doc},        \
    {"unlock_all", Mapping_unlock_all, METH_NOARGS, Mapping_unlock_all_doc},
#define SYSCALLS_MODULE_METHODS
