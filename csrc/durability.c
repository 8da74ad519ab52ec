/* flush(), flush_range(), resize() and the flush-policy accounting.
 *
 * The counters live here, in C, so that update_region() can apply the
 * policy without a round trip through Python.  every_millis is driven by
 * a Python thread (flush.py) that calls flush() when `needs_flush` says
 * so; the C side only counts.
 */
#include "common.h"

static Py_ssize_t
page_size_value(void)
{
    static Py_ssize_t ps = 0;
    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (Py_ssize_t)v : 4096;
    }
    return ps;
}

/* msync [start, start+len) with the GIL released and map_lock shared.
 * Returns 0, an errno, or -1 when the mapping was closed meanwhile. */
static int
sync_range(Mapping *m, Py_ssize_t start, Py_ssize_t len, int flags)
{
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&m->map_lock);
    if (m->closed) {
        rc = -1;
    }
    else if (m->data != NULL && len > 0 &&
             msync(m->data + start, (size_t)len, flags) != 0) {
        rc = errno;
    }
    pthread_rwlock_unlock(&m->map_lock);
    Py_END_ALLOW_THREADS
    return rc;
}

static int
needs_sync(Mapping *m)
{
    return m->access == ACCESS_WRITE && !m->anonymous && m->data != NULL;
}

/* Flush the whole mapping and settle the counters; -1 with an exception. */
static int
flush_all(Mapping *m, int flags)
{
    Py_ssize_t bytes = m->pending_bytes, writes = m->pending_writes;
    int had_views = m->dirty_views;
    m->dirty_views = m->mut_exports > 0;
    if (needs_sync(m)) {
        int rc = sync_range(m, 0, m->map_size, flags);
        if (rc != 0) {
            m->dirty_views |= had_views;
            if (rc < 0) {
                raise_closed(m);
                return -1;
            }
            ModState *st = state_of((PyObject *)m);
            if (st != NULL) {
                raise_os_error(m, st->FlushFailedError, rc, "msync failed");
            }
            return -1;
        }
    }
    /* Writes that landed while msync ran stay counted. */
    m->pending_bytes = m->pending_bytes > bytes ? m->pending_bytes - bytes : 0;
    m->pending_writes = m->pending_writes > writes ? m->pending_writes - writes : 0;
    return 0;
}

static int
policy_after_write(Mapping *m, Py_ssize_t len)
{
    m->pending_bytes += len;
    m->pending_writes += 1;
    switch (m->policy) {
    case POLICY_ALWAYS:
        return flush_all(m, MS_SYNC);
    case POLICY_BYTES:
        return m->pending_bytes >= m->policy_n ? flush_all(m, MS_SYNC) : 0;
    case POLICY_WRITES:
        return m->pending_writes >= m->policy_n ? flush_all(m, MS_SYNC) : 0;
    default:
        return 0;
    }
}

PyDoc_STRVAR(Mapping_flush_doc,
"flush($self, /)\n--\n\n"
"Write every dirty page to the file and wait (msync MS_SYNC). A no-op on\n"
"read-only, copy-on-write and anonymous mappings. Resets pending_bytes.\n\n"
"    >>> m.update_region(0, b'x'); m.flush(); m.pending_bytes\n    0");

static PyObject *
Mapping_flush(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Mapping *m = (Mapping *)self;
    if (check_open(m) < 0 || flush_all(m, MS_SYNC) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Mapping_flush_range_doc,
"flush_range($self, offset, length, /)\n--\n\n"
"Flush [offset, offset+length), widened outward to whole pages, and wait.\n"
"pending_bytes drops by the page-aligned length flushed (never below 0).\n\n"
"    >>> m.flush_range(0, 4096)");

static PyObject *
Mapping_flush_range(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Mapping *m = (Mapping *)self;
    Py_ssize_t off, len;
    if (!nargs_ok("flush_range", nargs, 2) ||
        check_range(m, args[0], args[1], &off, &len) < 0) {
        return NULL;
    }
    if (len == 0) {
        Py_RETURN_NONE;
    }
    Py_ssize_t ps = page_size_value();
    Py_ssize_t start = off - off % ps;
    Py_ssize_t end = off + len;
    end = end % ps ? end + (ps - end % ps) : end;
    if (end > m->map_size) {
        end = m->map_size;
    }
    if (needs_sync(m)) {
        int rc = sync_range(m, start, end - start, MS_SYNC);
        if (rc < 0) {
            return raise_closed(m);
        }
        if (rc > 0) {
            ModState *st = state_of(self);
            return st ? raise_os_error(m, st->FlushFailedError, rc,
                                       "msync failed")
                      : NULL;
        }
    }
    Py_ssize_t flushed = end - start;
    m->pending_bytes = m->pending_bytes > flushed ? m->pending_bytes - flushed : 0;
    if (m->pending_bytes == 0) {
        m->pending_writes = 0;
    }
    Py_RETURN_NONE;
}

/* Change the mapping's size; map_lock is held exclusive and the GIL held.
 * Returns 0 or an errno, with the mapping intact on failure. */
static int
remap_locked(Mapping *m, Py_ssize_t new_size)
{
    Py_ssize_t old = m->size;
    if (new_size > old && ftruncate(m->fd, new_size) != 0) {
        return errno;
    }
#ifdef MREMAP_MAYMOVE
    void *p = mremap(m->data, (size_t)m->map_size, (size_t)new_size,
                     MREMAP_MAYMOVE);
    if (p == MAP_FAILED) {
        int err = errno;
        if (new_size > old) {
            (void)ftruncate(m->fd, old);
        }
        return err;
    }
#else
    /* No mremap: map the new size first so failure leaves the old one. */
    void *p = mmap(NULL, (size_t)new_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED, m->fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        if (new_size > old) {
            (void)ftruncate(m->fd, old);
        }
        return err;
    }
    munmap(m->data, (size_t)m->map_size);
#endif
    m->data = p;
    m->size = new_size;
    m->map_size = new_size;
    if (new_size < old && ftruncate(m->fd, new_size) != 0) {
        return errno; /* mapped region already smaller: still consistent */
    }
    return 0;
}

PyDoc_STRVAR(Mapping_resize_doc,
"resize($self, new_size, /)\n--\n\n"
"Grow or shrink the file and the mapping (read-write file mappings only).\n"
"Raises BusyError while exported views are alive, ResizeFailedError for\n"
"a size of 0 or above 128 TiB.\n\n"
"    >>> m.resize(8192); len(m)\n    8192");

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
        return raise_fmt(st->ResizeFailedError,
                         "cannot resize mapping to %S bytes: the size must be "
                         "between 1 and %zd", arg, MMAPIO_MAX_SIZE);
    }
    if (m->exports > 0) {
        return raise_busy(m, "resize");
    }
    lock_exclusive(m);
    if (m->closed || m->exports > 0) {
        pthread_rwlock_unlock(&m->map_lock);
        return m->closed ? raise_closed(m) : raise_busy(m, "resize");
    }
    int err = new_size == m->size ? 0 : remap_locked(m, new_size);
    pthread_rwlock_unlock(&m->map_lock);
    if (err != 0) {
        PyObject *w = where(m);
        if (w != NULL) {
            raise_fmt(st->ResizeFailedError,
                      "cannot resize mapping%U to %zd bytes: %s", w, new_size,
                      strerror(err));
            Py_DECREF(w);
        }
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Mapping_get_pending_bytes(PyObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(((Mapping *)self)->pending_bytes);
}

static PyObject *
Mapping_get_needs_flush(PyObject *self, void *Py_UNUSED(c))
{
    Mapping *m = (Mapping *)self;
    return PyBool_FromLong(!m->closed && (m->pending_bytes > 0 ||
                                          m->dirty_views || m->mut_exports));
}

PyDoc_STRVAR(Mapping_set_policy_doc,
"_set_flush_policy($self, kind, n, /)\n--\n\n"
"Internal: 0 NEVER, 1 ALWAYS, 2 every n bytes, 3 every n writes,\n"
"4 every n milliseconds (driven from Python).");

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
