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
 * Slices with a step (m[::2]) gather and scatter through the same path.
 * Some reads go through pread() instead: pread.c says which.
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

/* Gather (COPY_OUT) or scatter (COPY_IN) the `n` bytes of `buf` from or to
 * the mapped bytes at, at+step, at+2*step, ... (a slice's step, never 0).
 * Its own function so that guarded_strided() changes no local variable
 * inside the guarded region. */
__attribute__((noinline)) static void
strided_move(enum copy_dir dir, char *at, Py_ssize_t step, char *buf,
             Py_ssize_t n)
{
    /* at + i * step, not at += step: a step past the last byte would
     * make a pointer outside the mapping (undefined, and UBSan says so). */
    for (Py_ssize_t i = 0; i < n; i++) {
        char *p = at + i * step;
        if (dir == COPY_IN) {
            *p = buf[i];
        }
        else {
            buf[i] = *p;
        }
    }
}

/* strided_move() that reports a SIGBUS as -1 instead of dying. */
__attribute__((noinline)) static int
guarded_strided(enum copy_dir dir, char *at, Py_ssize_t step, char *buf,
                Py_ssize_t n)
{
    int faulted;
    SIGBUS_GUARDED(faulted, strided_move(dir, at, step, buf, n););
    return faulted ? -1 : 0;
}

/* A copy of `len` bytes between `buf` and the mapped bytes off,
 * off+step, ...: one range when step is 1, a slice's bytes otherwise. */
typedef struct {
    enum copy_dir dir;
    Py_ssize_t off;
    char *buf;
    Py_ssize_t len;
    Py_ssize_t step;
    enum read_plan plan; /* pread.c's rule 2; READ_COPY otherwise */
    int64_t ns;          /* how long a timed plan took; -1 until it ran */
} CopyJob;

/* The copy itself, SIGBUS-guarded: 0, or -1 on SIGBUS. */
static inline int
copy_guarded(Mapping *m, const CopyJob *j)
{
    char *at = m->data + j->off;
    if (j->step != 1) {
        return guarded_strided(j->dir, at, j->step, j->buf, j->len);
    }
    return j->dir == COPY_IN ? guarded_copy(at, j->buf, (size_t)j->len)
                             : guarded_copy(j->buf, at, (size_t)j->len);
}

/* The mapped bytes a job touches, [*lo, *lo + *span), for the bounds
 * re-check and messages.  len >= 1; the slice's bytes all lie in the
 * mapping, so (len - 1) * step cannot overflow. */
static void
copy_extent(const CopyJob *j, Py_ssize_t *lo, Py_ssize_t *span)
{
    Py_ssize_t reach = (j->len - 1) * j->step;
    *lo = reach < 0 ? j->off + reach : j->off;
    *span = (reach < 0 ? -reach : reach) + 1;
}

/* For without_gil(): the bounds are re-checked there. */
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
    int rc;
    int64_t t0 = j->plan != READ_COPY ? now_ns() : 0;
    /* read_fd_of() here, under map_lock: the descriptor it opens is
     * m->fd's, which no close() can take away meanwhile. */
    if (j->plan == READ_PREAD
            ? read_fd_of(m) >= 0
            : j->dir == COPY_OUT && j->step == 1 &&
                  pread_pays(m, j->off, j->len, (unsigned char *)j->buf)) {
        rc = pread_range(m, j->buf, j->off, j->len);
    }
    else {
        rc = copy_guarded(m, j) ? NOGIL_SIGBUS : NOGIL_OK;
    }
    if (j->plan != READ_COPY) {
        j->ns = now_ns() - t0;
    }
    pthread_rwlock_unlock(&m->copy_lock);
    return rc;
}

/* run_copy() of a big copy, or while one is in flight: without the GIL,
 * under the locks. */
__attribute__((noinline)) static int
run_copy_locked(Mapping *m, CopyJob *j)
{
    Py_ssize_t lo, span;
    copy_extent(j, &lo, &span);
    m->big_ops++;
    int rc = without_gil(m, lo, span, copy_job, j);
    m->big_ops--;
    if (j->ns >= 0) {
        note_read(m, j->plan, j->off, j->len, j->ns);
    }
    if (rc == NOGIL_OK) {
        return 0;
    }
    char ctx[96];
    snprintf(ctx, sizeof ctx, "reading bytes %zd..%zd failed", lo, lo + span);
    raise_nogil(m, rc, lo, span, NULL, ctx);
    return -1;
}

/* Run a copy of len >= 1 bytes whose bounds the caller checked under the
 * GIL.  Returns 0, or -1 with an exception set.  Inlined: small copies
 * with the GIL held are the hot path of every read and write. */
static inline int
run_copy(Mapping *m, CopyJob *j)
{
    if (__atomic_load_n(&m->random_reads, __ATOMIC_RELAXED) &&
        j->dir == COPY_OUT && j->step == 1) {
        j->plan = plan_read(m);
    }
#ifndef Py_GIL_DISABLED
    if (j->len < MMAPIO_BIG_COPY && m->big_ops == 0 &&
        j->plan != READ_PREAD) {
        int64_t t0 = j->plan == READ_COPY_TIMED ? now_ns() : 0;
        int faulted = copy_guarded(m, j);
        if (j->plan == READ_COPY_TIMED) {
            note_read(m, j->plan, j->off, j->len, now_ns() - t0);
        }
        if (faulted == 0) {
            return 0;
        }
        Py_ssize_t lo, span;
        copy_extent(j, &lo, &span);
        raise_truncated(m, lo, span);
        return -1;
    }
#endif
    return run_copy_locked(m, j);
}

/* Copy between the mapping at `off` and `buf`; bounds already checked by
 * the caller under the GIL.  Returns 0, or -1 with an exception set. */
static int
mapping_copy(Mapping *m, enum copy_dir dir, Py_ssize_t off, char *buf,
             Py_ssize_t len)
{
    CopyJob j = {dir, off, buf, len, 1, READ_COPY, -1};
    return run_copy(m, &j);
}

/* The same for `len` bytes of a slice: the mapped bytes off, off+step,
 * ... (step != 0, may be negative), all checked by the caller. */
static int
mapping_copy_strided(Mapping *m, enum copy_dir dir, Py_ssize_t off,
                     Py_ssize_t step, char *buf, Py_ssize_t len)
{
    CopyJob j = {dir, off, buf, len, step, READ_COPY, -1};
    return run_copy(m, &j);
}
