/* The Mapping type: lifetime, bounds checks and buffer export.
 *
 * Modelled on CPython's mmapmodule.c: a heap type with module state, bounds
 * checks by subtraction (`size - off < len`, which cannot overflow), and
 * the data pointer cleared before the GIL is released to unmap.  An
 * exports counter (kept per kind of view, for messages) makes resize()
 * refuse while buffers are alive.  close() does not refuse: it marks the
 * mapping closed and leaves the memory and the fd to the last export, as
 * numpy.memmap and pyarrow do, so no view ever points at unmapped memory
 * and `with` never replaces a user's exception with a BusyError.
 *
 * as_slice() passes its range to the export in a small object made for the
 * request (SliceRequest): a range parked on the mapping for the next
 * bf_getbuffer would be taken by any buffer request that ran first (a
 * finalizer run by the memoryview's allocation, another thread).
 */
#include "common.h"

static char empty_buffer[1];

static int
check_open(Mapping *m)
{
    if (m->closed) {
        raise_closed(m);
        return -1;
    }
    return 0;
}

/* Validate (off, len) given as Python objects; fills the C values. */
static int
check_range(Mapping *m, PyObject *offo, PyObject *leno, Py_ssize_t *off,
            Py_ssize_t *len)
{
    if (as_offset(offo, off, "offset") < 0 ||
        as_offset(leno, len, "length") < 0) {
        return -1;
    }
    if (check_open(m) < 0) {
        return -1;
    }
    if (*off < 0 || *len < 0 || *off > m->size || m->size - *off < *len) {
        ModState *st = state_of((PyObject *)m);
        if (st != NULL) {
            raise_bounds_obj(st, m, offo, leno, m->size);
        }
        return -1;
    }
    return 0;
}

static int
check_writable(Mapping *m, const char *what)
{
    if (m->access == ACCESS_READ) {
        raise_mode(m, what);
        return -1;
    }
    return 0;
}

/* Create the mapping's locks; 0, or -1 with none of them left behind.
 * Also run in a forked child (fork.c), where the threads that held them
 * are gone: nothing here may allocate or take a lock. */
static int
mapping_init_locks(Mapping *m)
{
    /* map_lock prefers writers: its readers (GIL-less copies, flushes,
     * syscalls) of several threads overlap without end, and glibc's
     * default, which lets a new reader in while a writer waits, kept
     * close()/resize() waiting for seconds.  Nothing takes it shared twice
     * in one thread, so the non-recursive kind is safe.  copy_lock keeps
     * the default and is made fair by copy_gate instead (see copy.c). */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_t *attrp = NULL;
    if (pthread_rwlockattr_init(&attr) == 0) {
        attrp = &attr;
#if defined(__GLIBC__) && defined(__USE_GNU) /* the kinds are an enum */
        (void)pthread_rwlockattr_setkind_np(
            &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    }
    int made = 0;
    if (pthread_rwlock_init(&m->map_lock, attrp) == 0) {
        made = 1;
        if (pthread_rwlock_init(&m->copy_lock, NULL) == 0) {
            made = 2;
            if (pthread_mutex_init(&m->copy_gate, NULL) == 0) {
                made = 3;
                if (pthread_mutex_init(&m->flush_lock, NULL) == 0) {
                    made = 4;
                }
            }
        }
    }
    if (attrp != NULL) {
        pthread_rwlockattr_destroy(&attr);
    }
    if (made < 4) {
        if (made >= 3) {
            pthread_mutex_destroy(&m->copy_gate);
        }
        if (made >= 2) {
            pthread_rwlock_destroy(&m->copy_lock);
        }
        if (made >= 1) {
            pthread_rwlock_destroy(&m->map_lock);
        }
        return -1;
    }
    return 0;
}

static void fork_list_add(Mapping *m);
static void fork_list_remove(Mapping *m);

static PyObject *
Mapping_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    Mapping *m = (Mapping *)type->tp_alloc(type, 0);
    if (m == NULL) {
        return NULL;
    }
    m->fd = -1;
    m->read_fd = -1;
    m->closed = 1;
    m->path = Py_NewRef(Py_None);
    if (mapping_init_locks(m) < 0) {
        Py_DECREF(m);
        PyErr_SetString(PyExc_MemoryError, "cannot create the mapping locks");
        return NULL;
    }
    m->locks_ready = 1;
    fork_list_add(m);
    return (PyObject *)m;
}

static int
map_anonymous(Mapping *m, Py_ssize_t size, int huge)
{
    void *p = MAP_FAILED;
    int share = m->shared ? MAP_SHARED : MAP_PRIVATE;
    m->map_size = size;
#ifdef MAP_HUGETLB
    if (huge && !m->shared) {
        /* Explicit huge pages need a reserved pool; fall back silently. */
        Py_ssize_t hsz = (size + (2 << 20) - 1) & ~(Py_ssize_t)((2 << 20) - 1);
        p = mmap(NULL, (size_t)hsz, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        if (p != MAP_FAILED) {
            m->map_size = hsz;
        }
    }
#endif
    if (p == MAP_FAILED) {
        p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                 share | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            return -1;
        }
#ifdef MADV_HUGEPAGE
        if (huge) {
            (void)madvise(p, (size_t)size, MADV_HUGEPAGE);
        }
#endif
    }
    m->data = p;
    return 0;
}

/* Fault every page of a fresh file mapping in for reading (TouchHint.EAGER)
 * by reading one byte per page.  Reading never breaks copy-on-write, and
 * it is faster than MAP_POPULATE or MADV_POPULATE_READ (about 55 against
 * 200+ ns per page for a cached file on Linux 6.x): a read fault maps a
 * whole large folio and its neighbours at once, while populating takes
 * the pages one at a time.  Best effort: a SIGBUS (the file was truncated
 * meanwhile) just stops it. */
static void
prefault_read(char *p, size_t n)
{
    unsigned char sink;
    (void)guarded_touch(p, n, (size_t)page_size_value(), &sink);
}

/* mmap() protection and flags of a file mapping in m's mode. */
static void
map_protection(Mapping *m, int *prot, int *flags)
{
    *prot = m->access == ACCESS_READ ? PROT_READ : PROT_READ | PROT_WRITE;
    *flags = m->access == ACCESS_COPY ? MAP_PRIVATE : MAP_SHARED;
}

static int
map_file(Mapping *m, Py_ssize_t size, int populate, int huge)
{
    int prot, flags;
    map_protection(m, &prot, &flags);
    int err = 0;
    void *p;
    /* Not MAP_POPULATE: on a private writable mapping it write-faults and
     * so copies the whole file, it runs before MADV_HUGEPAGE, and it is
     * slower than touching (see prefault_read).  The mapping is not shared with other threads yet, so the GIL can be
     * released while pages are read in. */
    Py_BEGIN_ALLOW_THREADS
    p = mmap(NULL, (size_t)size, prot, flags, m->fd, 0);
    if (p == MAP_FAILED) {
        err = errno;
    }
    else {
#ifdef MADV_HUGEPAGE
        if (huge) {
            (void)madvise(p, (size_t)size, MADV_HUGEPAGE);
        }
#endif
        if (populate) {
            prefault_read(p, (size_t)size);
        }
    }
    Py_END_ALLOW_THREADS
    if (p == MAP_FAILED) {
        errno = err;
        return -1;
    }
    m->data = p;
    m->map_size = size;
    return 0;
}

/* The descriptor of shared anonymous memory, in m->fd: a new memfd when
 * `fd` is -1 (none where memfd.c has none: then map_anonymous() shares
 * MAP_ANONYMOUS memory), else `fd` once it is known to cover `size`. */
static int
open_shared_fd(Mapping *m, int fd, Py_ssize_t size)
{
    if (fd >= 0) {
        if (memfd_check_size(fd, size) < 0) {
            raise_os_error(m, NULL, errno,
                           "not the descriptor of shared memory this large");
            return -1;
        }
        return 0;
    }
    m->fd = memfd_new(size);
    if (m->fd < 0 && errno != ENOSYS) {
        raise_os_error(m, NULL, errno, "cannot create shared memory");
        return -1;
    }
    return 0;
}

static int
Mapping_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "size", "access", "path", "populate",
                             "huge_pages", "shared", NULL};
    Mapping *m = (Mapping *)self;
    int fd, access, populate = 0, huge = 0, shared = 0;
    Py_ssize_t size;
    PyObject *path = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "ini|$Oppp:Mapping", kwlist,
                                     &fd, &size, &access, &path, &populate,
                                     &huge, &shared)) {
        return -1;
    }
    ModState *st = state_of(self);
    if (st == NULL) {
        return -1;
    }
    if (m->initialised) {
        PyErr_SetString(st->InvalidModeError,
                        "a mapping object is initialised only once");
        return -1;
    }
    if (access < ACCESS_READ || access > ACCESS_COPY ||
        ((fd < 0 || shared) && access != ACCESS_WRITE)) {
        PyErr_Format(PyExc_ValueError, "invalid access %d", access);
        return -1;
    }
    Py_SETREF(m->path, Py_NewRef(path));
    if (size < 0 || size > MMAPIO_MAX_SIZE || (size == 0 && access != ACCESS_READ)) {
        raise_fmt(st->ResizeFailedError,
                  "size %zd is invalid: it must be between 1 and %zd bytes",
                  size, MMAPIO_MAX_SIZE);
        return -1;
    }
    (void)ensure_sigbus_handler();
    m->initialised = 1;
    m->access = access;
    m->huge = huge;
    Py_XSETREF(m->request_type,
               (PyTypeObject *)Py_NewRef(st->SliceRequestType));
    m->anonymous = fd < 0 || shared;
    m->shared = shared;
    if (shared && open_shared_fd(m, fd, size) < 0) {
        return -1;
    }
    if (fd >= 0) {
        m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (m->fd < 0) {
            raise_os_error(m, NULL, errno, "cannot duplicate the descriptor");
            return -1;
        }
    }
    int rc = 0;
    if (size == 0) {
        m->data = NULL;      /* an empty read-only mapping maps nothing */
        m->map_size = 0;
    }
    else if (m->fd < 0) {
        rc = map_anonymous(m, size, huge);
    }
    else {
        rc = map_file(m, size, populate, huge);
    }
    if (rc != 0) {
        int err = errno;
        if (m->fd >= 0) {
            close(m->fd);
            m->fd = -1;
        }
        raise_os_error(m, NULL, err, "mmap failed");
        return -1;
    }
    if (populate && fd < 0 && size > 0) {
        unsigned char sink;
        (void)guarded_touch(m->data, (size_t)size, (size_t)page_size_value(),
                            &sink);
    }
    m->size = size;
    m->closed = 0;
    return 0;
}

/* durability.c: flush before unmapping when the policy asks for it
 * (returns an errno, 0 when fine or nothing was needed), and raise a
 * background flush failure nobody has seen yet. */
static int flush_for_close(Mapping *m, const char **step);
static PyObject *report_deferred(Mapping *m, int rc);

/* The memory and descriptor a closing mapping gives up. */
typedef struct {
    char *data;
    size_t len;
    int fd;
    int read_fd; /* copy.c's descriptor for pread() */
} DetachedMap;

/* Mark `m` closed and hand over its memory and descriptor, for
 * unmap_detached() to let go of (with or without the GIL). */
static DetachedMap
detach_mapping(Mapping *m)
{
    DetachedMap d = {m->data, (size_t)m->map_size, m->fd, m->read_fd};
    m->data = NULL;
    m->size = 0;
    m->map_size = 0;
    m->fd = -1;
    m->read_fd = -1;
    m->closed = 1;
    m->unmap_owed = 0;
    return d;
}

static void
unmap_detached(DetachedMap d)
{
    if (d.data != NULL) {
        munmap(d.data, d.len);
    }
    if (d.fd >= 0) {
        close(d.fd);
    }
    if (d.read_fd >= 0) {
        close(d.read_fd);
    }
}

/* Unmap and close the fd; the caller holds the GIL and no export is left. */
static void
release_mapping(Mapping *m)
{
    DetachedMap d = detach_mapping(m);
    Py_BEGIN_ALLOW_THREADS
    unmap_detached(d);
    Py_END_ALLOW_THREADS
}

/* A flush before unmapping failed with nobody to raise to (the mapping was
 * collected, or its last view released after close()): report it like an
 * error in __del__, keeping any exception in flight.  `obj` is passed to
 * the hook; NULL for a dying object. */
static void
report_unraisable_flush(Mapping *m, PyObject *obj, int err, const char *step)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    ModState *st = state_of((PyObject *)m);
    if (st != NULL) {
        raise_os_error(m, st->FlushFailedError, err, step);
        PyErr_WriteUnraisable(obj);
    }
    PyErr_Clear(); /* state_of() may have failed */
    PyErr_Restore(t, v, tb);
}

/* The last export of a mapping closed while views were alive is gone: do
 * the unmapping close() deferred.  Writes made through the views after
 * close() are flushed first, as close() flushes (unless the policy is
 * NEVER).  Nothing else touches the memory by now: every GIL-less user
 * checks `closed` under map_lock, and the lock is taken here anyway. */
static void
finish_deferred_close(Mapping *m)
{
    m->unmap_owed = 0;
    lock_nogil(m, LOCK_MAP_EXCLUSIVE);
    const char *step = NULL;
    int err = flush_for_close(m, &step);
    release_mapping(m);
    pthread_rwlock_unlock(&m->map_lock);
    if (err != 0) {
        report_unraisable_flush(m, (PyObject *)m, err, step);
    }
}

/* Count an export of `kind` (enum mmapio_view_kind). */
static void
take_export(Mapping *m, int kind, int writable)
{
    m->exports++;
    m->kind_exports[kind]++;
    if (writable) {
        m->mut_exports++;
        m->dirty_views = 1;
    }
}

/* Give an export back; the last one of a closed mapping unmaps it, which
 * may release the GIL: the caller holds a reference to `m` and has let go
 * of the export in its own fields first. */
static void
drop_export(Mapping *m, int kind, int writable)
{
    m->exports--;
    m->kind_exports[kind]--;
    if (writable) {
        m->mut_exports--;
    }
    if (m->exports == 0 && m->unmap_owed) {
        finish_deferred_close(m);
    }
}

static const char *const view_kind_names[VIEW_KINDS][2] = {
    {"buffer export", "buffer exports"},
    {"memoryview", "memoryviews"},
    {"numpy array", "numpy arrays"},
    {"atomic view", "atomic views"},
    {"atomic slice", "atomic slices"},
};

/* "2 memoryviews, 1 numpy array": the live exports by kind ("" for none). */
static PyObject *
describe_exports(Mapping *m)
{
    PyObject *parts = PyList_New(0);
    if (parts == NULL) {
        return NULL;
    }
    for (int k = 0; k < VIEW_KINDS; k++) {
        Py_ssize_t n = m->kind_exports[k];
        if (n <= 0) {
            continue;
        }
        PyObject *part = PyUnicode_FromFormat("%zd %s", n,
                                              view_kind_names[k][n != 1]);
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(part);
    }
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *text = sep ? PyUnicode_Join(sep, parts) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(parts);
    return text;
}

static PyObject *
raise_busy(Mapping *m, const char *what)
{
    ModState *st = state_of((PyObject *)m);
    PyObject *views = st ? describe_exports(m) : NULL;
    if (views != NULL) {
        raise_cannot(m, st->BusyError, what, ": %U still alive (release or "
                     "delete them first)", views);
        Py_DECREF(views);
    }
    return NULL;
}

/* Flush when the policy asks, mark the mapping closed, and unmap it now
 * or, while views are alive, when the last of them goes (drop_export()).
 * With `busy_op`, live views make it raise BusyError instead. */
static PyObject *
close_mapping(Mapping *m, const char *busy_op)
{
    if (m->closed) {
        Py_RETURN_NONE;
    }
    if (busy_op != NULL && m->exports > 0) {
        return raise_busy(m, busy_op);
    }
    lock_nogil(m, LOCK_MAP_EXCLUSIVE);
    if (m->closed) {
        pthread_rwlock_unlock(&m->map_lock);
        Py_RETURN_NONE;
    }
    const char *step = NULL;
    int err = flush_for_close(m, &step);
    if (busy_op != NULL && m->exports > 0) {
        /* The flush ran without the GIL and another thread exported a view
         * meanwhile: stay open; the flush, failed or not, is owed again. */
        pthread_rwlock_unlock(&m->map_lock);
        return raise_busy(m, busy_op);
    }
    if (m->exports > 0) {
        m->closed = 1;
        m->unmap_owed = 1;
    }
    else {
        release_mapping(m);
    }
    pthread_rwlock_unlock(&m->map_lock);
    m->pending_bytes = 0;
    m->pending_writes = 0;
    if (err != 0) {
        ModState *st = state_of((PyObject *)m);
        if (st != NULL) {
            raise_os_error(m, st->FlushFailedError, err, step);
        }
    }
    return report_deferred(m, err != 0 ? -1 : 0);
}

static PyObject *
Mapping_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return close_mapping((Mapping *)self, NULL);
}

static PyObject *
Mapping_close_idle(PyObject *self, PyObject *arg)
{
    const char *what = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (what == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "_close_idle() needs a str, not "
                         "%.100s", Py_TYPE(arg)->tp_name);
        }
        return NULL;
    }
    return close_mapping((Mapping *)self, what);
}

/* The references a mapping owns (sync_dir is bytes: visiting it is a
 * no-op, listing it keeps one list for traverse and clear). */
#define MAPPING_REFS(X) X(path) X(flush_error) X(sync_dir) X(request_type)
MMAPIO_GC_REFS(Mapping, Mapping, MAPPING_REFS)

static void
Mapping_dealloc(PyObject *self)
{
    Mapping *m = (Mapping *)self;
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (m->weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    if (!m->closed || m->unmap_owed) {
        /* Every export holds a reference to the mapping: none is left. */
        const char *step = NULL;
        int err = flush_for_close(m, &step);
        release_mapping(m);
        if (err != 0) {
            report_unraisable_flush(m, NULL, err, step); /* m is dying */
        }
    }
    fork_list_remove(m);
    if (m->locks_ready) {
        pthread_rwlock_destroy(&m->map_lock);
        pthread_rwlock_destroy(&m->copy_lock);
        pthread_mutex_destroy(&m->copy_gate);
        pthread_mutex_destroy(&m->flush_lock);
    }
    (void)Mapping_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* ---- buffer export --------------------------------------------------- */

/* Every export is made and released by the mapping itself (view->obj is
 * the mapping, so memoryview.obj is too); view->internal carries the kind
 * of view to Mapping_releasebuffer(). */
static int
fill_export(Mapping *m, Py_buffer *view, Py_ssize_t off, Py_ssize_t len,
            int readonly, int kind, int flags)
{
    char *p = m->data ? m->data + off : empty_buffer;
    if (PyBuffer_FillInfo(view, (PyObject *)m, p, len, readonly, flags) < 0) {
        return -1;
    }
    view->internal = (void *)(intptr_t)kind;
    take_export(m, kind, !readonly);
    return 0;
}

/* The mapping's own buffer (memoryview(m), bytes(m), numpy.frombuffer(m)):
 * the whole mapping, read-only on read-only mappings. */
static int
Mapping_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0) {
        return -1;
    }
    int readonly = m->access == ACCESS_READ;
    if ((flags & PyBUF_WRITABLE) && readonly) {
        raise_mode(m, "a writable buffer");
        return -1;
    }
    return fill_export(m, view, 0, m->size, readonly, VIEW_BUFFER, flags);
}

static void
Mapping_releasebuffer(PyObject *self, Py_buffer *view)
{
    drop_export((Mapping *)self, (int)(intptr_t)view->internal,
                !view->readonly);
}

/* One as_slice()/as_slice_mut()/as_array() request: the range travels to
 * the export in this object, which nothing but the one
 * PyMemoryView_FromObject() call below can reach, instead of in fields of
 * the mapping that any buffer request running first (a finalizer run by
 * the memoryview's allocation, another thread) would take.  The export it
 * fills belongs to the mapping (view->obj), and CPython keeps no reference
 * to the object it makes a memoryview from, so the request can live on the
 * C stack: as_slice() costs no allocation for it.  `mapping` is borrowed
 * from the caller. */
typedef struct {
    PyObject_HEAD
    Mapping *mapping;
    Py_ssize_t off;
    Py_ssize_t len;
    int readonly;
    int kind;              /* enum mmapio_view_kind */
} SliceRequest;

static int
SliceRequest_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    SliceRequest *r = (SliceRequest *)self;
    Mapping *m = r->mapping;
    /* Checked again: Python code (a finalizer run by the memoryview's
     * allocation) may have closed or shrunk the mapping since. */
    if (check_open(m) < 0) {
        return -1;
    }
    if (r->off > m->size || m->size - r->off < r->len) {
        raise_bounds(m, r->off, r->len);
        return -1;
    }
    if ((flags & PyBUF_WRITABLE) && r->readonly) {
        PyErr_SetString(PyExc_BufferError,
                        "this view of the mapping is read-only");
        return -1;
    }
    return fill_export(m, view, r->off, r->len, r->readonly, r->kind, flags);
}

static PyType_Slot SliceRequest_slots[] = {
    {Py_tp_doc, (void *)SliceRequest_doc},
    {Py_bf_getbuffer, SliceRequest_getbuffer},
    {0, NULL},
};

static PyType_Spec SliceRequest_spec = MMAPIO_TYPE_SPEC(
    "mmap_io._core._SliceRequest", SliceRequest,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION |
        MMAPIO_TPFLAGS_IMMUTABLE,
    SliceRequest_slots);

/* A memoryview of [off, off+len) (range checked by the caller) counted as
 * a view of `kind`. */
static PyObject *
export_slice(Mapping *m, Py_ssize_t off, Py_ssize_t len, int readonly,
             int kind)
{
    SliceRequest r;
    memset(&r, 0, sizeof r);
    Py_SET_TYPE((PyObject *)&r, m->request_type); /* m holds the type */
    Py_SET_REFCNT((PyObject *)&r, 1);
    r.mapping = m;
    r.off = off;
    r.len = len;
    r.readonly = readonly;
    r.kind = kind;
    PyObject *mv = PyMemoryView_FromObject((PyObject *)&r);
    if (Py_REFCNT((PyObject *)&r) != 1) {
        /* Something kept the request: it would point into a dead frame. */
        Py_FatalError("mmap_io: a memoryview kept its slice request");
    }
    return mv;
}

/* ---- properties and small methods ------------------------------------ */

static Py_ssize_t
Mapping_length(PyObject *self)
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0) {
        return -1;
    }
    return m->size;
}

static PyObject *
Mapping_get_closed(PyObject *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(((Mapping *)self)->closed);
}

static PyObject *
Mapping_get_views(PyObject *self, void *Py_UNUSED(c))
{
    return describe_exports((Mapping *)self);
}

static PyObject *
Mapping_is_empty(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = Mapping_length(self);
    return n < 0 ? NULL : PyBool_FromLong(n == 0);
}

static PyObject *
Mapping_fileno(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0) {
        return NULL;
    }
    if (m->fd < 0) { /* anonymous memory; shared memory has its memfd */
        return raise_mode(m, "fileno()");
    }
    return PyLong_FromLong(m->fd);
}

static PyObject *
Mapping_as_ptr(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0) {
        return NULL;
    }
    return PyLong_FromVoidPtr(m->data);
}

static PyObject *
Mapping_as_mut_ptr(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0 || check_writable(m, "as_mut_ptr()") < 0) {
        return NULL;
    }
    m->dirty_views = 1;
    m->raw_writes = 1; /* untracked from now on: every_millis always flushes */
    return PyLong_FromVoidPtr(m->data);
}
