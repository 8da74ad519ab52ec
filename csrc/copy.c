/* The one place where bytes move between a mapping and Python memory.
 *
 * Every copy runs inside the SIGBUS guard (sigbus.c), so a copy from or
 * to pages the backing file no longer has raises FileTruncatedError
 * instead of killing the process.
 *
 * Locking: copies made with the GIL held take no lock while no GIL-less
 * copy of the same mapping is in flight (`big_ops == 0`, read under the
 * GIL); otherwise, and for copies >= MMAPIO_BIG_COPY, the copy runs
 * through without_gil() (nogil.c: GIL released, map_lock shared, bounds
 * re-checked) and also takes copy_lock (readers shared, writers
 * exclusive; copy_gate keeps the two fair), so copies never tear.
 */
#include "common.h"

/* memmove that reports a SIGBUS as -1 instead of dying. */
__attribute__((noinline)) static int
guarded_copy(void *dst, const void *src, size_t n)
{
    int faulted;
    SIGBUS_GUARDED(faulted, memmove(dst, src, n););
    return faulted ? -1 : 0;
}

/* Touch one byte in every `step`-byte block of [p, p+n) for reading; -1
 * on SIGBUS.  The byte read moves to the next cache line from one block to
 * the next: reading offset 0 of every page puts all the loads in the same
 * cache set, which serialises the misses (3-4x slower on x86-64). */
__attribute__((noinline)) static int
guarded_touch(const char *p, size_t n, size_t step, unsigned char *sink)
{
    int faulted;
    SIGBUS_GUARDED(faulted, {
        unsigned char acc = 0;
        size_t line = 0;
        for (size_t i = 0; i < n; i += step) {
            size_t at = line < n - i ? i + line : i;
            acc ^= *(const volatile unsigned char *)(p + at);
            line += 64;
            if (line >= step) {
                line = 0;
            }
        }
        *sink = acc;
    });
    return faulted ? -1 : 0;
}

enum copy_dir { COPY_OUT = 0, COPY_IN = 1 };

/* A copy for without_gil(): the bounds are re-checked there. */
typedef struct {
    enum copy_dir dir;
    Py_ssize_t off;
    char *buf;
    Py_ssize_t len;
} CopyJob;

static int
copy_job(Mapping *m, void *arg)
{
    CopyJob *j = arg;
    /* copy_gate makes copy_lock fair.  Everyone passes the gate first and
     * a writer keeps it until it has the lock: readers arriving meanwhile
     * wait behind it instead of overtaking it forever (glibc's default
     * rwlock let a steady stream of big reads starve update_region for
     * seconds), and they queue with writers at the gate instead of behind
     * every writer (writer preference starved readers the same way). */
    pthread_mutex_lock(&m->copy_gate);
    if (j->dir == COPY_IN) {
        pthread_rwlock_wrlock(&m->copy_lock);
    }
    else {
        pthread_rwlock_rdlock(&m->copy_lock);
    }
    pthread_mutex_unlock(&m->copy_gate);
    int faulted = j->dir == COPY_IN
                      ? guarded_copy(m->data + j->off, j->buf, (size_t)j->len)
                      : guarded_copy(j->buf, m->data + j->off, (size_t)j->len);
    pthread_rwlock_unlock(&m->copy_lock);
    return faulted ? NOGIL_SIGBUS : NOGIL_OK;
}

/* Copy between the mapping at `off` and `buf`; bounds already checked by
 * the caller under the GIL.  Returns 0, or -1 with an exception set. */
static int
mapping_copy(Mapping *m, enum copy_dir dir, Py_ssize_t off, char *buf,
             Py_ssize_t len)
{
    int rc;
#ifndef Py_GIL_DISABLED
    if (len < MMAPIO_BIG_COPY && m->big_ops == 0) {
        rc = dir == COPY_IN ? guarded_copy(m->data + off, buf, (size_t)len)
                            : guarded_copy(buf, m->data + off, (size_t)len);
        if (rc == 0) {
            return 0;
        }
        raise_truncated(m, off, len);
        return -1;
    }
#endif
    CopyJob j = {dir, off, buf, len};
    m->big_ops++;
    rc = without_gil(m, off, len, copy_job, &j);
    m->big_ops--;
    if (rc == NOGIL_OK) {
        return 0;
    }
    raise_nogil(m, rc, off, len, NULL, NULL);
    return -1;
}
