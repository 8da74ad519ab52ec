/* Work done with the GIL released: one result code, one way to run it,
 * one way to raise its failure.
 *
 * Copies of MMAPIO_BIG_COPY bytes and more (copy.c), msync/fsync
 * (durability.c) and the memory syscalls (syscalls.c) release the GIL so
 * other threads keep running.  Without the GIL nothing stops another
 * thread from closing or resizing the mapping, so such work holds
 * map_lock shared (close()/resize() take it exclusive, with the GIL) and
 * re-checks, once it holds the lock, that the mapping is still open and
 * that its range still fits: without_gil() does exactly that, and its
 * result goes through raise_nogil(), whatever the work was.
 *
 * Lock order: flush_lock, then map_lock, then copy_gate, then copy_lock.
 * A thread waiting for flush_lock or for map_lock exclusive must not hold
 * the GIL (the holder may need it to finish): lock_nogil() takes them.
 */
#include "common.h"

/* The outcome of work done without the GIL: NOGIL_OK, a positive errno
 * from the syscall, or one of the negative codes. */
enum nogil_result {
    NOGIL_OK = 0,
    NOGIL_CLOSED = -1,  /* the mapping was closed meanwhile */
    NOGIL_MOVED = -2,   /* resized meanwhile: the range no longer fits */
    NOGIL_SIGBUS = -3,  /* the memory faulted (file truncated under us) */
};

static Py_ssize_t
page_size_value(void)
{
    static Py_ssize_t ps = 0;
    if (ps == 0) {
        /* POSIX guarantees _SC_PAGESIZE; getpagesize() is the fallback. */
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (Py_ssize_t)v : (Py_ssize_t)getpagesize();
    }
    return ps;
}

/* Widen [off, off+len) outward to whole pages, capped at the mapped size
 * (the kernel wants page-aligned addresses; the last page of a mapping is
 * whole even when the file is not).  An empty range widens to nothing. */
static void
page_widen(Mapping *m, Py_ssize_t off, Py_ssize_t len, Py_ssize_t *start,
           Py_ssize_t *end)
{
    Py_ssize_t ps = page_size_value();
    Py_ssize_t e = off + len;
    Py_ssize_t rem = e % ps;
    if (rem != 0) {
        e = m->map_size - e < ps - rem ? m->map_size : e + (ps - rem);
    }
    *start = off - off % ps;
    *end = len == 0 ? *start : e;
}

/* mincore() of the mapping's pages in [start, start+span) (page-aligned
 * start) into `vec`, one byte per page; 0 or an errno.  macOS declares
 * the vector as char. */
static int
page_mincore(Mapping *m, Py_ssize_t start, Py_ssize_t span, unsigned char *vec)
{
#ifdef __APPLE__
    int rc = mincore(m->data + start, (size_t)span, (char *)vec);
#else
    int rc = mincore(m->data + start, (size_t)span, vec);
#endif
    return rc == 0 ? 0 : errno;
}

/* The locks a thread may wait for with the GIL released. */
enum nogil_lock {
    LOCK_MAP_EXCLUSIVE, /* map_lock for writing: close(), resize() */
    LOCK_FLUSH,         /* flush_lock: one flush of a mapping at a time */
};

static int
lock_try(Mapping *m, enum nogil_lock which)
{
    return which == LOCK_FLUSH ? pthread_mutex_trylock(&m->flush_lock)
                               : pthread_rwlock_trywrlock(&m->map_lock);
}

/* Take `which` without holding the GIL while we wait: the thread holding
 * it may be waiting for the GIL itself.  Uncontended, no GIL round trip. */
static void
lock_nogil(Mapping *m, enum nogil_lock which)
{
    if (lock_try(m, which) == 0) {
        return;
    }
    Py_BEGIN_ALLOW_THREADS
    if (which == LOCK_FLUSH) {
        pthread_mutex_lock(&m->flush_lock);
    }
    else {
        pthread_rwlock_wrlock(&m->map_lock);
    }
    Py_END_ALLOW_THREADS
}

/* Run work(m, arg) with the GIL released and map_lock held shared, unless
 * the mapping was closed or [off, off+len) no longer fits it by the time
 * the lock is held (len < 0: no range to check).  Returns the work's
 * result or NOGIL_CLOSED / NOGIL_MOVED; the caller changes no Mapping
 * field the work reads while it runs (they change only under map_lock
 * exclusive, which waits for us). */
static int
without_gil(Mapping *m, Py_ssize_t off, Py_ssize_t len,
            int (*work)(Mapping *, void *), void *arg)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&m->map_lock);
    if (m->closed) {
        rc = NOGIL_CLOSED;
    }
    else if (len >= 0 && (off > m->size || m->size - off < len)) {
        rc = NOGIL_MOVED;
    }
    else {
        rc = work(m, arg);
    }
    pthread_rwlock_unlock(&m->map_lock);
    Py_END_ALLOW_THREADS
    return rc;
}

/* Raise the exception for a failed without_gil() (or guarded) result on
 * bytes [off, off+len): MappingClosedError, OutOfBoundsError,
 * FileTruncatedError, or for an errno `cls` (NULL: the class of the errno
 * table) with `context`.  Always returns NULL. */
static PyObject *
raise_nogil(Mapping *m, int rc, Py_ssize_t off, Py_ssize_t len,
            PyObject *cls, const char *context)
{
    switch (rc) {
    case NOGIL_CLOSED:
        return raise_closed(m);
    case NOGIL_MOVED:
        return raise_bounds(m, off, len);
    case NOGIL_SIGBUS:
        return raise_truncated(m, off, len);
    default:
        return raise_os_error(m, cls, rc, context);
    }
}
