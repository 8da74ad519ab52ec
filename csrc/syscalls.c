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
#ifdef MADV_COLD
    ADV("cold", MADV_COLD),
    ADV("pageout", MADV_PAGEOUT),
    ADV("populate_read", MADV_POPULATE_READ),
    ADV("populate_write", MADV_POPULATE_WRITE),
    ADV("collapse", MADV_COLLAPSE),
#else
    ADV_MISSING("cold", "MADV_COLD"),
    ADV_MISSING("pageout", "MADV_PAGEOUT"),
    ADV_MISSING("populate_read", "MADV_POPULATE_READ"),
    ADV_MISSING("populate_write", "MADV_POPULATE_WRITE"),
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
#ifdef __APPLE__
        if (mincore(p, n, (char *)r->vec) != 0) {
#else
        if (mincore(p, n, r->vec) != 0) {
#endif
            return errno;
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

/* Parse (offset, length), check the range and fill the request. */
static int
span_args(Mapping *m, const char *name, PyObject *const *args,
          Py_ssize_t nargs, Py_ssize_t want, span_req *r)
{
    if (!nargs_ok(name, nargs, want) ||
        check_range(m, args[0], args[1], &r->off, &r->len) < 0) {
        return -1;
    }
    page_span(m, r);
    return 0;
}

/* ---- advise / prefetch ------------------------------------------------ */

PyDoc_STRVAR(Mapping_advise_doc,
"_advise($self, offset, length, advice, /)\n--\n\n"
"madvise() on [offset, offset+length) widened to whole pages. `advice` is\n"
"an MmapAdvice value string ('sequential', ...). Use advise() instead.\n\n"
"    >>> m._advise(0, 4096, 'sequential')");

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
    if (r.len == 0) {
        Py_RETURN_NONE;
    }
    r.advice = e->advice;
    int rc = span_run(m, &r, 1);
    if (rc != 0) {
        return span_error(m, &r, rc, st->AdviceFailedError, call);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Mapping_prefetch_range_doc,
"prefetch_range($self, offset, length, /)\n--\n\n"
"Ask the kernel to read [offset, offset+length) of the backing file into\n"
"the page cache soon: posix_fadvise(POSIX_FADV_WILLNEED) on the file\n"
"(madvise(MADV_WILLNEED) for anonymous memory). Returns at once; the\n"
"reads happen in the background. A zero length is a no-op. Raises\n"
"AdviceFailedError if the kernel refuses.\n\n"
"    >>> m.prefetch_range(0, 1 << 20)");

static PyObject *
Mapping_prefetch_range(PyObject *self, PyObject *const *args,
                       Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    span_req r = {.op = OP_FADVISE};
    if (span_args(m, "prefetch_range", args, nargs, 2, &r) < 0) {
        return NULL;
    }
    if (r.len == 0) {
        Py_RETURN_NONE;
    }
    int rc = span_run(m, &r, 1);
    if (rc != 0) {
        ModState *st = state_of(self);
        return st ? span_error(m, &r, rc, st->AdviceFailedError,
                               m->anonymous ? "madvise(MADV_WILLNEED)"
                                            : "posix_fadvise(WILLNEED)")
                  : NULL;
    }
    Py_RETURN_NONE;
}

/* ---- touching ---------------------------------------------------------- */

static PyObject *
touch(Mapping *m, span_req *r)
{
    if (r->len == 0) {
        Py_RETURN_NONE;
    }
    int rc = span_run(m, r, r->span >= SYSCALLS_SMALL);
    if (rc != 0) {
        return span_error(m, r, rc, NULL, "touch");
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Mapping_touch_pages_doc,
"touch_pages($self, /)\n--\n\n"
"Fault every page of the mapping in by reading one byte per page, in one\n"
"native loop (with the GIL released from 64 KiB up). Raises\n"
"FileTruncatedError if the backing file lost pages (truncated by someone\n"
"else).\n\n"
"    >>> m.touch_pages()\n"
"    >>> m.residency().fraction\n    1.0");

static PyObject *
Mapping_touch_pages(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0) {
        return NULL;
    }
    span_req r = {.op = OP_TOUCH, .off = 0, .len = m->size};
    page_span(m, &r);
    return touch(m, &r);
}

PyDoc_STRVAR(Mapping_touch_pages_range_doc,
"touch_pages_range($self, offset, length, /)\n--\n\n"
"touch_pages() for the pages overlapping [offset, offset+length).\n\n"
"    >>> m.touch_pages_range(0, 64 * 1024)");

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

PyDoc_STRVAR(Mapping_residency_doc,
"_residency($self, offset, length, /)\n--\n\n"
"mincore() of the pages overlapping [offset, offset+length); `length`\n"
"None means to the end. Returns (first_page_offset, page_size, pages,\n"
"resident) where `pages` holds one byte per page, 1 when resident. Use\n"
"residency() instead.\n\n"
"    >>> m._residency(0, None)[3]\n    16");

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
            return raise_bounds(m, r.off, 0);
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
    if (r->len == 0) {
        Py_RETURN_NONE;
    }
    int rc = span_run(m, r, 1);
    if (rc != 0) {
        ModState *st = state_of((PyObject *)m);
        if (st == NULL) {
            return NULL;
        }
        int locking = r->op == OP_MLOCK;
        return span_error(m, r, rc,
                          locking ? st->LockFailedError : st->UnlockFailedError,
                          locking ? "mlock" : "munlock");
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Mapping_lock_doc,
"lock($self, offset, length, /)\n--\n\n"
"mlock() the pages overlapping [offset, offset+length): fault them in and\n"
"keep them in RAM. Raises LockFailedError (errno ENOMEM or EPERM) past\n"
"RLIMIT_MEMLOCK without CAP_IPC_LOCK. On a copy-on-write mapping locking\n"
"makes private copies of the pages, as the kernel must.\n\n"
"    >>> m.lock(0, 4096); m.unlock(0, 4096)");

static PyObject *
Mapping_lock(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    span_req r = {.op = OP_MLOCK};
    if (span_args((Mapping *)self, "lock", args, nargs, 2, &r) < 0) {
        return NULL;
    }
    return lock_span((Mapping *)self, &r);
}

PyDoc_STRVAR(Mapping_unlock_doc,
"unlock($self, offset, length, /)\n--\n\n"
"munlock() the pages overlapping [offset, offset+length). Unlocking pages\n"
"that are not locked is fine. Raises UnlockFailedError if the kernel\n"
"refuses.\n\n"
"    >>> m.unlock(0, 4096)");

static PyObject *
Mapping_unlock(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    span_req r = {.op = OP_MUNLOCK};
    if (span_args((Mapping *)self, "unlock", args, nargs, 2, &r) < 0) {
        return NULL;
    }
    return lock_span((Mapping *)self, &r);
}

static PyObject *
lock_whole(PyObject *self, enum span_op op)
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0) {
        return NULL;
    }
    span_req r = {.op = op, .off = 0, .len = m->size};
    page_span(m, &r);
    return lock_span(m, &r);
}

PyDoc_STRVAR(Mapping_lock_all_doc,
"lock_all($self, /)\n--\n\n"
"lock() the whole mapping (this mapping only, not the process).\n\n"
"    >>> m.lock_all(); m.unlock_all()");

static PyObject *
Mapping_lock_all(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return lock_whole(self, OP_MLOCK);
}

PyDoc_STRVAR(Mapping_unlock_all_doc,
"unlock_all($self, /)\n--\n\n"
"unlock() the whole mapping.\n\n"
"    >>> m.unlock_all()");

static PyObject *
Mapping_unlock_all(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return lock_whole(self, OP_MUNLOCK);
}

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
