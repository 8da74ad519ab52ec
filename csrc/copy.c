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
 * Big reads of a cold range go through pread() instead (pread_job).
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

/* Reads of MMAPIO_PREAD_MIN bytes and more from a shared file mapping
 * whose range is mostly not in the page cache use pread() instead of the
 * copy: the copy faults the range in one read-around window at a time
 * (read_ahead_kb around each fault, 8 MiB on the test machine, however
 * little was asked for), while one pread() reads what was asked and lets
 * the kernel read ahead of it.  Single reads at random offsets of a cold
 * file took 14 / 14 / 17 / 39 / 148 ms by copy for 256 KiB / 1 / 4 / 16 /
 * 64 MiB, 0.6 / 2.2 / 6.9 / 27 / 86 ms by pread().  Below 256 KiB the
 * copy runs with the GIL held (MMAPIO_BIG_COPY and up release it), and a
 * mincore() per read would cost warm reads more than it saves cold ones.
 *
 * It returns the same bytes: a shared mapping and pread() see the same
 * page-cache pages (copy-on-write mappings are left out, their private
 * pages are not in the file).  It is as atomic: pread() runs where the
 * copy would, under copy_lock shared, so no update_region() runs in the
 * middle.  It fails the same way: where the file now ends inside the
 * range, the mapping reads zeros to the end of that page and faults past
 * it, and so does pread_job (zeros, then NOGIL_SIGBUS). */
#define MMAPIO_PREAD_MIN ((Py_ssize_t)256 * 1024)

/* The descriptor pread_job reads from: on Linux a second open file
 * description of the same file (through /proc/self/fd), opened on first
 * use.  The kernel keeps its read-ahead state per open file description,
 * and the mapping's page faults share the one of m->fd: pread() on m->fd
 * and faults taking turns (a scan where some chunks are cached and some
 * are not) reset each other's read-ahead, which made a cold sequential
 * read_bytes() scan 2x slower.  -1 where it cannot be opened: no pread(). */
static int
read_fd_of(Mapping *m)
{
    int fd = __atomic_load_n(&m->read_fd, __ATOMIC_ACQUIRE);
    if (fd >= 0) {
        return fd;
    }
#ifdef __linux__
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", m->fd);
    fd = open(link, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int none = -1;
    if (!__atomic_compare_exchange_n(&m->read_fd, &none, fd, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        close(fd); /* another thread got there first */
        fd = none;
    }
    return fd;
#else
    return m->fd;
#endif
}

/* Whether a read of [off, off+len) should use pread(): see above.  `vec`
 * (one byte per page of the range) takes mincore()'s answer; the caller
 * passes the destination buffer, overwritten next anyway. */
static int
wants_pread(Mapping *m, const CopyJob *j)
{
    if (j->dir != COPY_OUT || j->step != 1 || j->len < MMAPIO_PREAD_MIN ||
        m->anonymous || m->access == ACCESS_COPY || m->fd < 0) {
        return 0;
    }
    Py_ssize_t start, end, ps = page_size_value();
    page_widen(m, j->off, j->len, &start, &end);
    Py_ssize_t pages = (end - start + ps - 1) / ps;
    unsigned char *vec = (unsigned char *)j->buf;
    /* A cached first page says "warm" for the price of one page: the
     * mincore() of a whole warm range cost a warm 1 MiB copy 4%, one
     * page costs a warm 256 KiB copy about 2%. */
    if (pages > j->len || page_mincore(m, start, ps, vec) != 0 ||
        (vec[0] & 1) || page_mincore(m, start, end - start, vec) != 0) {
        return 0;
    }
    Py_ssize_t cold = 0;
    for (Py_ssize_t i = 0; i < pages; i++) {
        cold += !(vec[i] & 1);
    }
    return cold * 2 >= pages && read_fd_of(m) >= 0;
}

/* The file ends `done` bytes into the job's range: zeros to the end of
 * that page, as the mapping reads there, and a fault past it. */
static int
pread_past_eof(CopyJob *j, Py_ssize_t done)
{
    Py_ssize_t ps = page_size_value();
    Py_ssize_t eof = j->off + done;
    Py_ssize_t zeros = (ps - eof % ps) % ps;
    Py_ssize_t left = j->len - done;
    memset(j->buf + done, 0, (size_t)(zeros < left ? zeros : left));
    return zeros < left ? NOGIL_SIGBUS : NOGIL_OK;
}

/* pread() the job's range; NOGIL_OK, NOGIL_SIGBUS or an errno. */
static int
pread_job(Mapping *m, CopyJob *j)
{
    Py_ssize_t done = 0;
    while (done < j->len) {
        ssize_t n = pread(m->read_fd, j->buf + done, (size_t)(j->len - done),
                          (off_t)(j->off + done));
        if (n > 0) {
            done += n;
        }
        else if (n == 0) {
            return pread_past_eof(j, done);
        }
        else if (errno != EINTR) {
            return errno;
        }
    }
    return NOGIL_OK;
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
    if (wants_pread(m, j)) {
        rc = pread_job(m, j);
    }
    else {
        rc = copy_guarded(m, j) ? NOGIL_SIGBUS : NOGIL_OK;
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
#ifndef Py_GIL_DISABLED
    if (j->len < MMAPIO_BIG_COPY && m->big_ops == 0) {
        if (copy_guarded(m, j) == 0) {
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
    CopyJob j = {dir, off, buf, len, 1};
    return run_copy(m, &j);
}

/* The same for `len` bytes of a slice: the mapped bytes off, off+step,
 * ... (step != 0, may be negative), all checked by the caller. */
static int
mapping_copy_strided(Mapping *m, enum copy_dir dir, Py_ssize_t off,
                     Py_ssize_t step, char *buf, Py_ssize_t len)
{
    CopyJob j = {dir, off, buf, len, step};
    return run_copy(m, &j);
}
