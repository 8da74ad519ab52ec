/* The Mapping type: lifetime, bounds checks and buffer export.
 *
 * Modelled on CPython's mmapmodule.c: a heap type with module state, an
 * exports counter that makes close()/resize() refuse while buffers are
 * alive, bounds checks by subtraction (`size - off < len`, which cannot
 * overflow), and the data pointer cleared before the GIL is released to
 * unmap.
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
    m->map_size = size;
#ifdef MAP_HUGETLB
    if (huge) {
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
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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

static int
map_file(Mapping *m, Py_ssize_t size, int populate, int huge)
{
    int prot = m->access == ACCESS_READ ? PROT_READ : PROT_READ | PROT_WRITE;
    int flags = m->access == ACCESS_COPY ? MAP_PRIVATE : MAP_SHARED;
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

static int
Mapping_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "size", "access", "path", "populate",
                             "huge_pages", NULL};
    Mapping *m = (Mapping *)self;
    int fd, access, populate = 0, huge = 0;
    Py_ssize_t size;
    PyObject *path = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "ini|$Opp:Mapping", kwlist,
                                     &fd, &size, &access, &path, &populate,
                                     &huge)) {
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
        (fd < 0 && access != ACCESS_WRITE)) {
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
    m->anonymous = fd < 0;
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
    else if (fd < 0) {
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

/* Unmap and close the fd; the caller holds the GIL and checked exports. */
static void
release_mapping(Mapping *m)
{
    char *data = m->data;
    size_t len = (size_t)m->map_size;
    int fd = m->fd;
    m->data = NULL;
    m->size = 0;
    m->map_size = 0;
    m->fd = -1;
    m->closed = 1;
    Py_BEGIN_ALLOW_THREADS
    if (data != NULL) {
        munmap(data, len);
    }
    if (fd >= 0) {
        close(fd);
    }
    Py_END_ALLOW_THREADS
}

static PyObject *
raise_busy(Mapping *m, const char *what)
{
    ModState *st = state_of((PyObject *)m);
    if (st == NULL) {
        return NULL;
    }
    PyObject *w = where(m);
    if (w != NULL) {
        raise_fmt(st->BusyError,
                  "cannot %s mapping%U: %zd exported view(s) still alive "
                  "(release memoryviews/atomic views first)",
                  what, w, m->exports);
        Py_DECREF(w);
    }
    return NULL;
}

static PyObject *
Mapping_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    if (m->closed) {
        Py_RETURN_NONE;
    }
    if (m->exports > 0) {
        return raise_busy(m, "close");
    }
    lock_nogil(m, LOCK_MAP_EXCLUSIVE);
    if (m->closed || m->exports > 0) {
        pthread_rwlock_unlock(&m->map_lock);
        if (m->closed) {
            Py_RETURN_NONE;
        }
        return raise_busy(m, "close");
    }
    const char *step = NULL;
    int err = flush_for_close(m, &step);
    if (m->exports > 0) {
        /* The flush ran without the GIL, and another thread exported a
         * view (as_slice, memoryview, an atomic view) meanwhile: unmapping
         * now would leave it pointing at nothing.  Stay open; the flush,
         * failed or not, is owed again by the next close(). */
        pthread_rwlock_unlock(&m->map_lock);
        return raise_busy(m, "close");
    }
    release_mapping(m);
    pthread_rwlock_unlock(&m->map_lock);
    m->pending_bytes = 0;
    m->pending_writes = 0;
    if (err != 0) {
        ModState *st = state_of(self);
        if (st != NULL) {
            raise_os_error(m, st->FlushFailedError, err, step);
        }
    }
    return report_deferred(m, err != 0 ? -1 : 0);
}

static int
Mapping_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((Mapping *)self)->path);
    Py_VISIT(((Mapping *)self)->flush_error);
    return 0;
}

static int
Mapping_clear(PyObject *self)
{
    Py_CLEAR(((Mapping *)self)->path);
    Py_CLEAR(((Mapping *)self)->flush_error);
    Py_CLEAR(((Mapping *)self)->sync_dir);
    return 0;
}

static void
Mapping_dealloc(PyObject *self)
{
    Mapping *m = (Mapping *)self;
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (m->weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    if (!m->closed) {
        const char *step = NULL;
        int err = flush_for_close(m, &step);
        release_mapping(m);
        if (err != 0) {
            /* Nobody to raise to: report it like an error in __del__. */
            PyObject *t, *v, *tb;
            PyErr_Fetch(&t, &v, &tb);
            ModState *st = state_of(self);
            if (st != NULL) {
                raise_os_error(m, st->FlushFailedError, err, step);
                PyErr_WriteUnraisable(NULL);
            }
            PyErr_Restore(t, v, tb);
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

static int
Mapping_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    Mapping *m = (Mapping *)self;
    int slice = m->slice_pending;
    m->slice_pending = 0;
    if (check_open(m) < 0) {
        return -1;
    }
    Py_ssize_t off = slice ? m->slice_off : 0;
    Py_ssize_t len = slice ? m->slice_len : m->size;
    if (off > m->size || m->size - off < len) {
        /* The request was checked by the caller, but Python code ran
         * since (a GC finalizer while the memoryview was allocated, a
         * subclass's __buffer__) and may have shrunk the mapping. */
        raise_bounds(m, off, len);
        return -1;
    }
    int readonly = slice ? m->slice_readonly : m->access == ACCESS_READ;
    if (!readonly && m->access == ACCESS_READ) {
        raise_mode(m, "a writable view");
        return -1;
    }
    if ((flags & PyBUF_WRITABLE) && readonly) {
        if (m->access == ACCESS_READ) {
            raise_mode(m, "a writable buffer");
        }
        else {
            PyErr_SetString(PyExc_BufferError,
                            "this view of the mapping is read-only");
        }
        return -1;
    }
    char *p = m->data ? m->data + off : empty_buffer;
    if (PyBuffer_FillInfo(view, self, p, len, readonly, flags) < 0) {
        return -1;
    }
    m->exports++;
    if (!readonly) {
        m->mut_exports++;
        m->dirty_views = 1;
    }
    return 0;
}

static void
Mapping_releasebuffer(PyObject *self, Py_buffer *view)
{
    Mapping *m = (Mapping *)self;
    m->exports--;
    if (!view->readonly) {
        m->mut_exports--;
    }
}

/* A memoryview of [off, off+len) exporting through Mapping_getbuffer.
 *
 * The request travels in slice_* fields.  Allocating the memoryview can
 * run a GC finalizer that itself calls export_slice() on this mapping, so
 * the previous request is saved and restored around the call, and the
 * result is checked: a view of anything but the requested range is
 * released and refused rather than returned. */
static PyObject *
export_slice(Mapping *m, Py_ssize_t off, Py_ssize_t len, int readonly)
{
    int saved_pending = m->slice_pending, saved_ro = m->slice_readonly;
    Py_ssize_t saved_off = m->slice_off, saved_len = m->slice_len;
    m->slice_pending = 1;
    m->slice_off = off;
    m->slice_len = len;
    m->slice_readonly = readonly;
    PyObject *mv = PyMemoryView_FromObject((PyObject *)m);
    m->slice_pending = saved_pending;
    m->slice_off = saved_off;
    m->slice_len = saved_len;
    m->slice_readonly = saved_ro;
    if (mv == NULL) {
        return NULL;
    }
    Py_buffer *b = PyMemoryView_GET_BUFFER(mv);
    char *want = m->data ? m->data + off : empty_buffer;
    if (b->buf != want || b->len != len || b->readonly != readonly) {
        Py_DECREF(mv);
        PyErr_SetString(PyExc_RuntimeError,
                        "mapping view changed while it was being created");
        return NULL;
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
    if (m->anonymous) {
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
