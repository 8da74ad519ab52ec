/* flush(), flush_range(), start_flush(), resize() and the flush-policy
 * accounting.
 *
 * The counters live here, in C, so that update_region() can apply the
 * policy without a round trip through Python.  every_millis is driven by
 * a Python thread (_flusher.py) that calls _flush_background(); the C side
 * counts, flushes, and keeps a background failure for the next flush().
 *
 * Locking: flush_lock serialises the flushes of one mapping (so a
 * background flush and an explicit one never run at once); it is taken
 * with lock_nogil() and before map_lock.  Every msync runs through
 * without_gil() (nogil.c: GIL released, map_lock shared, closed
 * re-checked), but for the flush of close(), which already holds map_lock
 * exclusive.  close() holds map_lock exclusive and never takes
 * flush_lock, so a flush waiting for map_lock cannot deadlock with it.
 */
#include "common.h"

/* One flush: msync a byte range, then, when asked, fsync the file (its
 * size changed) and its parent directory (it was created). */
typedef struct {
    Py_ssize_t start;      /* page-aligned */
    Py_ssize_t end;        /* clamped to map_size under the lock */
    int flags;             /* MS_SYNC, or 0 for start_flush() */
    int fsync_file;
    const char *dir;
    int err;               /* errno of the step that failed, else 0 */
    const char *step;      /* message of the step that failed */
    int dir_failed;        /* the failing step was the directory's */
} SyncJob;

/* Run `j` with the GIL released and map_lock held (shared or exclusive). */
static void
sync_job_locked(Mapping *m, SyncJob *j)
{
    Py_ssize_t end = j->end < m->map_size ? j->end : m->map_size;
    if (m->data == NULL || end <= j->start) {
        return;
    }
    if (j->flags == 0) {
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
        /* MS_ASYNC is a no-op on Linux: start the writeback ourselves. */
        if (sync_file_range(m->fd, j->start, end - j->start,
                            SYNC_FILE_RANGE_WRITE) != 0) {
            j->err = errno;
            j->step = "sync_file_range failed";
        }
#else
        if (msync(m->data + j->start, (size_t)(end - j->start), MS_ASYNC) != 0) {
            j->err = errno;
            j->step = "msync(MS_ASYNC) failed";
        }
#endif
        return;
    }
    if (msync(m->data + j->start, (size_t)(end - j->start), j->flags) != 0) {
        j->err = errno;
        j->step = "msync failed";
        return;
    }
    if (j->fsync_file && fsync(m->fd) != 0) {
        j->err = errno;
        j->step = "fsync failed";
        return;
    }
    if (j->dir != NULL) {
        int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* Some file systems cannot fsync a directory (EINVAL): nothing to do. */
        if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
            j->err = errno;
            j->step = "fsync of the parent directory failed";
            j->dir_failed = 1;
        }
        if (dfd >= 0) {
            close(dfd);
        }
    }
}

/* sync_job_locked() for without_gil(): the job's errno is its result. */
static int
sync_work(Mapping *m, void *arg)
{
    SyncJob *j = arg;
    sync_job_locked(m, j);
    return j->err;
}

/* Run `j` with the GIL released and map_lock shared; NOGIL_OK, or the
 * result for raise_sync_failure(). */
static int
sync_job(Mapping *m, SyncJob *j)
{
    return without_gil(m, 0, -1, sync_work, j);
}

/* Raise FlushFailedError for a failed job (or MappingClosedError). */
static int
raise_sync_failure(Mapping *m, int rc, const SyncJob *j)
{
    ModState *st = state_of((PyObject *)m);
    if (st != NULL) {
        raise_nogil(m, rc, 0, 0, st->FlushFailedError, j->step);
    }
    return -1;
}

static int
needs_sync(Mapping *m)
{
    return m->access == ACCESS_WRITE && !m->anonymous && m->data != NULL;
}

static int
has_dirty_data(Mapping *m)
{
    return m->pending_bytes > 0 || m->pending_writes > 0 || m->dirty_views ||
           m->mut_exports > 0 || m->raw_writes || m->sync_meta ||
           m->sync_dir != NULL;
}

/* Flush the whole mapping (and the file's size and directory entry when
 * they changed) and settle the counters; -1 with an exception. */
static int
flush_all(Mapping *m)
{
    if (!needs_sync(m)) {
        /* Read-only, copy-on-write, anonymous: nothing reaches a file. */
        m->pending_bytes = 0;
        m->pending_writes = 0;
        m->dirty_views = m->mut_exports > 0;
        return 0;
    }
    lock_nogil(m, LOCK_FLUSH);
    Py_ssize_t bytes = m->pending_bytes, writes = m->pending_writes;
    int had_views = m->dirty_views, meta = m->sync_meta;
    PyObject *dir = m->sync_dir; /* reference moved into this call */
    m->sync_dir = NULL;
    m->sync_meta = 0;
    m->dirty_views = m->mut_exports > 0;
    SyncJob j = {0, PY_SSIZE_T_MAX, MS_SYNC, meta,
                 dir ? PyBytes_AS_STRING(dir) : NULL, 0, NULL, 0};
    int rc = sync_job(m, &j);
    pthread_mutex_unlock(&m->flush_lock);
    if (rc != NOGIL_OK) {
        /* Keep everything owed for the next attempt; only a directory
         * that cannot be synced (removed, say) is reported once, not
         * retried forever. */
        m->dirty_views |= had_views;
        m->sync_meta |= meta;
        if (m->sync_dir == NULL && !j.dir_failed) {
            m->sync_dir = dir;
            dir = NULL;
        }
        Py_XDECREF(dir);
        return raise_sync_failure(m, rc, &j);
    }
    Py_XDECREF(dir);
    /* Writes that landed while msync ran stay counted. */
    m->pending_bytes = m->pending_bytes > bytes ? m->pending_bytes - bytes : 0;
    m->pending_writes = m->pending_writes > writes ? m->pending_writes - writes : 0;
    return 0;
}

/* The flush close() and garbage collection do when the policy is not
 * NEVER.  The caller holds the GIL and map_lock exclusive; the GIL is
 * released while msync runs, so the caller re-checks `exports` after.
 * Returns 0, or an errno with *step naming what failed. */
static int
flush_for_close(Mapping *m, const char **step)
{
    if (m->policy == POLICY_NEVER || !needs_sync(m)) {
        return 0;
    }
    PyObject *dir = m->sync_dir;
    m->sync_dir = NULL;
    SyncJob j = {0, PY_SSIZE_T_MAX, MS_SYNC, m->sync_meta,
                 dir ? PyBytes_AS_STRING(dir) : NULL, 0, NULL, 0};
    Py_BEGIN_ALLOW_THREADS
    sync_job_locked(m, &j);
    Py_END_ALLOW_THREADS
    if (j.err != 0 && !j.dir_failed && m->sync_dir == NULL) {
        /* close() may still back out (a view was exported meanwhile):
         * keep the directory owed, like flush_all() does. */
        m->sync_dir = dir;
        dir = NULL;
    }
    Py_XDECREF(dir);
    if (j.err == 0) {
        m->sync_meta = 0;
    }
    *step = j.step;
    return j.err;
}

static int
policy_after_write(Mapping *m, Py_ssize_t len)
{
    m->pending_bytes += len;
    m->pending_writes += 1;
    switch (m->policy) {
    case POLICY_ALWAYS:
        return flush_all(m);
    case POLICY_BYTES:
        return m->pending_bytes >= m->policy_n ? flush_all(m) : 0;
    case POLICY_WRITES:
        return m->pending_writes >= m->policy_n ? flush_all(m) : 0;
    default:
        return 0;
    }
}

/* After an explicit flush: raise the failure of a background flush that
 * nobody has seen yet (chained to the current error, if any). */
static PyObject *
report_deferred(Mapping *m, int rc)
{
    PyObject *deferred = m->flush_error;
    if (deferred == NULL) {
        if (rc < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    m->flush_error = NULL;
    if (rc < 0) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        if (v != NULL) {
            PyException_SetContext(v, deferred); /* steals */
        }
        else {
            Py_DECREF(deferred);
        }
        PyErr_Restore(t, v, tb);
        return NULL;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(deferred), deferred);
    Py_DECREF(deferred);
    return NULL;
}

static PyObject *
Mapping_flush(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    return check_open(m) < 0 ? NULL : report_deferred(m, flush_all(m));
}

/* Validate (offset, length) and widen them outward to whole pages; length
 * None means "to the end".  0 on success, -1 with an exception. */
static int
page_range(Mapping *m, PyObject *offo, PyObject *leno, Py_ssize_t *start,
           Py_ssize_t *end)
{
    Py_ssize_t off, len;
    if (leno == Py_None) {
        if (as_offset(offo, &off, "offset") < 0 || check_open(m) < 0) {
            return -1;
        }
        PyObject *rest = PyLong_FromSsize_t(off >= 0 && off <= m->size
                                                ? m->size - off : 0);
        int rc = rest ? check_range(m, offo, rest, &off, &len) : -1;
        Py_XDECREF(rest);
        if (rc < 0) {
            return -1;
        }
    }
    else if (check_range(m, offo, leno, &off, &len) < 0) {
        return -1;
    }
    page_widen(m, off, len, start, end);
    return 0;
}

static PyObject *
Mapping_flush_range(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t start, end, unused;
    /* Unlike start_flush(), flush_range() takes no "to the end" None. */
    if (!nargs_ok("flush_range", nargs, 2) ||
        (args[1] == Py_None && as_offset(args[1], &unused, "length") < 0) ||
        page_range(m, args[0], args[1], &start, &end) < 0) {
        return NULL;
    }
    if (end == start) {
        Py_RETURN_NONE;
    }
    if (needs_sync(m)) {
        lock_nogil(m, LOCK_FLUSH);
        SyncJob j = {start, end, MS_SYNC, 0, NULL, 0, NULL, 0};
        int rc = sync_job(m, &j);
        pthread_mutex_unlock(&m->flush_lock);
        if (rc != NOGIL_OK) {
            raise_sync_failure(m, rc, &j);
            return NULL;
        }
    }
    Py_ssize_t flushed = end - start;
    m->pending_bytes = m->pending_bytes > flushed ? m->pending_bytes - flushed : 0;
    if (m->pending_bytes == 0) {
        m->pending_writes = 0;
    }
    Py_RETURN_NONE;
}

static PyObject *
Mapping_start_flush(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"offset", "length", NULL};
    Mapping *m = (Mapping *)self;
    PyObject *offo = NULL, *leno = Py_None;
    Py_ssize_t start, end;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:start_flush", kwlist,
                                     &offo, &leno)) {
        return NULL;
    }
    PyObject *zero = NULL;
    if (offo == NULL) {
        offo = zero = PyLong_FromLong(0);
        if (zero == NULL) {
            return NULL;
        }
    }
    int rc = page_range(m, offo, leno, &start, &end);
    Py_XDECREF(zero);
    if (rc < 0) {
        return NULL;
    }
    if (end > start && needs_sync(m)) {
        SyncJob j = {start, end, 0, 0, NULL, 0, NULL, 0};
        rc = sync_job(m, &j);
        if (rc != NOGIL_OK) {
            raise_sync_failure(m, rc, &j);
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
Mapping_flush_background(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    if (m->closed) {
        return PyLong_FromLong(-1);
    }
    if (!needs_sync(m) || !has_dirty_data(m)) {
        return PyLong_FromLong(0);
    }
    if (flush_all(m) == 0) {
        return PyLong_FromLong(1);
    }
    if (m->closed) { /* closed while we waited: nothing left to report */
        PyErr_Clear();
        return PyLong_FromLong(-1);
    }
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v != NULL && m->flush_error == NULL) {
        /* Keep the first failure, without a traceback (frames would keep
         * objects alive). */
        PyObject *copy = Py_NewRef(v);
        (void)PyException_SetTraceback(copy, Py_None);
        m->flush_error = copy;
    }
    PyErr_Restore(t, v, tb);
    return NULL;
}

static PyObject *
Mapping_sync_on_flush(PyObject *self, PyObject *args)
{
    Mapping *m = (Mapping *)self;
    PyObject *dir = Py_None, *encoded = NULL;
    if (!PyArg_ParseTuple(args, "|O:_sync_on_flush", &dir)) {
        return NULL;
    }
    if (dir != Py_None && !PyUnicode_FSConverter(dir, &encoded)) {
        return NULL;
    }
    m->sync_meta = 1;
    if (encoded != NULL) {
        Py_XSETREF(m->sync_dir, encoded);
    }
    Py_RETURN_NONE;
}

#define DURABILITY_MAPPING_METHODS                                            \
    {"start_flush", (PyCFunction)(void (*)(void))Mapping_start_flush,         \
     METH_VARARGS | METH_KEYWORDS, Mapping_start_flush_doc},                  \
    {"_flush_background", Mapping_flush_background, METH_NOARGS,              \
     Mapping_flush_background_doc},                                           \
    {"_sync_on_flush", Mapping_sync_on_flush, METH_VARARGS,                   \
     Mapping_sync_on_flush_doc},

/* Map the file afresh at `new_size` and drop the old mapping (if any);
 * MAP_FAILED (errno set) leaves the old one in place.  A copy-on-write
 * mapping's private changes live only in its memory: they are copied over. */
static void *
remap_fresh(Mapping *m, Py_ssize_t new_size)
{
    int prot, flags;
    map_protection(m, &prot, &flags);
    void *p = mmap(NULL, (size_t)new_size, prot, flags, m->fd, 0);
    if (p == MAP_FAILED || m->data == NULL) {
        return p;
    }
    if (m->access == ACCESS_COPY) {
        Py_ssize_t keep = new_size < m->size ? new_size : m->size;
        if (guarded_copy(p, m->data, (size_t)keep) != 0) {
            munmap(p, (size_t)new_size);
            errno = EFAULT; /* the file shrank again while we copied */
            return MAP_FAILED;
        }
    }
    munmap(m->data, (size_t)m->map_size);
    m->dont_fork = 0; /* the new mapping forks as usual */
    m->random_reads = 0; /* and has no advice */
    return p;
}

/* Give the mapping `new_size` bytes of its file (0: map nothing), moving
 * it when it must, and re-advise huge pages; map_lock is held exclusive,
 * the GIL held and no export alive.  Returns 0 or an errno, with the
 * mapping intact on failure. */
static int
remap_to(Mapping *m, Py_ssize_t new_size)
{
    void *p;
    if (new_size == 0) {
        if (m->data != NULL) {
            munmap(m->data, (size_t)m->map_size);
        }
        m->data = NULL;
        m->size = m->map_size = 0;
        m->dont_fork = 0;
        m->random_reads = 0;
        return 0;
    }
#ifdef MREMAP_MAYMOVE
    if (m->data == NULL) {
        p = remap_fresh(m, new_size);
    }
    else {
        p = mremap(m->data, (size_t)m->map_size, (size_t)new_size,
                   MREMAP_MAYMOVE);
        if (p == MAP_FAILED && errno == EFAULT) {
            /* advise() or lock() on part of the mapping split it into
             * several kernel VMAs, and mremap cannot grow those: map anew
             * (the advice and locks of the old mapping go with it). */
            p = remap_fresh(m, new_size);
        }
    }
#else
    /* No mremap: map the new size first so failure leaves the old one. */
    p = remap_fresh(m, new_size);
#endif
    if (p == MAP_FAILED) {
        return errno;
    }
#ifdef MADV_HUGEPAGE
    if (m->huge) {
        (void)madvise(p, (size_t)new_size, MADV_HUGEPAGE);
    }
#endif
    m->data = p;
    m->size = new_size;
    m->map_size = new_size;
    return 0;
}

/* Change the file's and the mapping's size; map_lock is held exclusive
 * and the GIL held.  Returns 0 or an errno, with the mapping intact on
 * failure.  When the file was grown for a mapping that then could not be
 * made, it is cut back; if even that fails, *stuck_err is its errno (the
 * file stays longer than the mapping, and the caller must say so). */
static int
remap_locked(Mapping *m, Py_ssize_t new_size, int *stuck_err)
{
    Py_ssize_t old = m->size;
    *stuck_err = 0;
    if (new_size > old && ftruncate(m->fd, new_size) != 0) {
        return errno;
    }
    int err = remap_to(m, new_size);
    if (err != 0) {
        if (new_size > old && ftruncate(m->fd, old) != 0) {
            *stuck_err = errno;
        }
        return err;
    }
    if (new_size < old && ftruncate(m->fd, new_size) != 0) {
        return errno; /* mapped region already smaller: still consistent */
    }
    return 0;
}

/* Take map_lock exclusive for resize()/refresh(), refusing while views
 * are alive (they would point at moved memory).  0 with the lock held, or
 * -1 with MappingClosedError/BusyError and no lock. */
static int
lock_for_remap(Mapping *m, const char *what)
{
    if (m->exports > 0) {
        raise_busy(m, what);
        return -1;
    }
    lock_nogil(m, LOCK_MAP_EXCLUSIVE);
    if (m->closed || m->exports > 0) {
        pthread_rwlock_unlock(&m->map_lock);
        if (m->closed) {
            raise_closed(m);
        }
        else {
            raise_busy(m, what);
        }
        return -1;
    }
    return 0;
}

static PyObject *
Mapping_resize(PyObject *self, PyObject *arg)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t new_size;
    if (as_offset(arg, &new_size, "new_size") < 0 || check_open(m) < 0) {
        return NULL;
    }
    if (m->anonymous || m->access != ACCESS_WRITE) {
        return raise_mode(m, "resize()");
    }
    ModState *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    if (new_size <= 0 || new_size > MMAPIO_MAX_SIZE) {
        /* int_text: a size too long to print still gets this error. */
        PyObject *idx = PyNumber_Index(arg);
        PyObject *text = idx ? int_text(idx) : NULL;
        if (text != NULL) {
            raise_cannot(m, st->ResizeFailedError, "resize", " to %U bytes: "
                         "the size must be between 1 and %zd", text,
                         MMAPIO_MAX_SIZE);
        }
        Py_XDECREF(idx);
        Py_XDECREF(text);
        return NULL;
    }
    if (lock_for_remap(m, "resize") < 0) {
        return NULL;
    }
    Py_ssize_t old_size = m->size;
    int stuck = 0;
    int err = new_size == m->size ? 0 : remap_locked(m, new_size, &stuck);
    pthread_rwlock_unlock(&m->map_lock);
    if (new_size != old_size) {
        m->sync_meta = 1; /* the next flush makes the new size durable */
    }
    if (err != 0 && stuck == 0) {
        return raise_cannot(m, st->ResizeFailedError, "resize",
                            " to %zd bytes: %s", new_size, strerror(err));
    }
    if (err != 0) {
        /* Two strerror() results: copy the first, they may share a
         * buffer. */
        char first[128];
        snprintf(first, sizeof first, "%s", strerror(err));
        return raise_cannot(m, st->ResizeFailedError, "resize",
                            " to %zd bytes: %s; the file stays %zd bytes long "
                            "(cutting it back to %zd failed: %s)", new_size,
                            first, new_size, old_size, strerror(stuck));
    }
    Py_RETURN_NONE;
}

static PyObject *
Mapping_refresh(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0) {
        return NULL;
    }
    if (m->anonymous) {
        return raise_mode(m, "refresh()");
    }
    if (lock_for_remap(m, "refresh") < 0) {
        return NULL;
    }
    struct stat sb;
    int err = 0;
    memset(&sb, 0, sizeof sb);
    if (fstat(m->fd, &sb) != 0) {
        err = errno;
    }
    else if (sb.st_size > MMAPIO_MAX_SIZE) {
        err = EFBIG;
    }
    else if ((Py_ssize_t)sb.st_size != m->size) {
        err = remap_to(m, (Py_ssize_t)sb.st_size);
    }
    pthread_rwlock_unlock(&m->map_lock);
    if (err != 0) {
        ModState *st = state_of(self);
        return st ? raise_cannot(m, st->ResizeFailedError, "refresh",
                                 " to the file's size of %lld bytes: %s",
                                 (long long)sb.st_size, strerror(err))
                  : NULL;
    }
    return PyLong_FromSsize_t(m->size);
}

static PyObject *
Mapping_get_needs_flush(PyObject *self, void *Py_UNUSED(c))
{
    Mapping *m = (Mapping *)self;
    return PyBool_FromLong(!m->closed && needs_sync(m) && has_dirty_data(m));
}

static PyObject *
Mapping_set_policy(PyObject *self, PyObject *args)
{
    Mapping *m = (Mapping *)self;
    int kind;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "in:_set_flush_policy", &kind, &n)) {
        return NULL;
    }
    if (kind < POLICY_NEVER || kind > POLICY_MILLIS || n < 0) {
        PyErr_Format(PyExc_ValueError, "invalid flush policy (%d, %zd)", kind, n);
        return NULL;
    }
    m->policy = kind;
    m->policy_n = n;
    Py_RETURN_NONE;
}
