/* When a read goes around the mapping: pread() of the same file.
 *
 * Both rules below return the same bytes as the copy: a shared file
 * mapping and pread() see the same page-cache pages (copy-on-write and
 * anonymous mappings are left out, their private pages are in no file).
 * They are as atomic: copy.c runs pread() where the copy would, without
 * the GIL, under copy_lock shared, so no update_region() runs in the
 * middle.  They fail the same way: where the file now ends inside the
 * range, the mapping reads zeros to the end of that page and faults past
 * it, and so does pread_range() (zeros, then NOGIL_SIGBUS).
 *
 * 1. Big cold reads.  Reads of MMAPIO_PREAD_MIN bytes and more whose range
 *    is mostly not in the page cache use pread(): the copy faults the
 *    range in one read-around window at a time (read_ahead_kb around each
 *    fault, 8 MiB on the test machine, however little was asked for),
 *    while one pread() reads what was asked and lets the kernel read
 *    ahead of it.  Single reads at random offsets of a cold file took
 *    14 / 14 / 17 / 39 / 148 ms by copy for 256 KiB / 1 / 4 / 16 / 64 MiB,
 *    0.6 / 2.2 / 6.9 / 27 / 86 ms by pread().  Below 256 KiB a mincore()
 *    per read would cost warm reads more than it saves cold ones (a
 *    syscall is 1-2 µs on the test machine, a warm 4 KiB copy 0.3 µs).
 *
 * 2. Random reads that keep going to the disk.  On a mapping advised
 *    RANDOM as a whole the kernel reads only the faulting page, so a read
 *    of a cold range is one synchronous disk read per page, and a major
 *    fault costs more than a pread() of the same page: 4 KiB reads at
 *    random offsets of a cold 4 GiB file, interleaved one by one, took
 *    122.5 µs by copy and 116.8 µs by pread(); a 64 KiB read is 16 disk
 *    reads by copy, one by pread().  So such a mapping times some of its
 *    reads with the clock (vDSO: no syscall): the first one, one copy in
 *    MMAPIO_READ_SAMPLE, and every copy while any of the last 8 counted
 *    reads went to the disk (so that two cached reads in a row, which end
 *    the pread() reads, do not leave the next cold ones untimed).
 *    A copy slower than MMAPIO_DISK_NS a page went to the disk.  A timed
 *    read counts as one read per page, up to MMAPIO_READ_WEIGHT (so the
 *    learning costs two cold 64 KiB reads, not six).  Once MMAPIO_COLD_ON
 *    of the last 8 counted reads went to the disk, reads go through
 *    pread() (all timed: slower than MMAPIO_DISK_NS plus 1 ns per 4 bytes
 *    went to the disk) until at most MMAPIO_COLD_OFF did.  A warm read
 *    pays a few loads and a test; the reads after a switch pay a pread()
 *    each where the data turned out cached (about 1.5 µs here).
 */
#include "common.h"

#define MMAPIO_PREAD_MIN ((Py_ssize_t)256 * 1024)
#define MMAPIO_READ_SAMPLE 16u
#define MMAPIO_DISK_NS ((int64_t)10000)
#define MMAPIO_COLD_ON 6
#define MMAPIO_COLD_OFF 2
#define MMAPIO_READ_WEIGHT 4u

/* The descriptor pread_range() reads from: on Linux a second open file
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

/* Whether the mapping's reads may go through pread() at all. */
static inline int
pread_allowed(Mapping *m)
{
    return !m->anonymous && m->access != ACCESS_COPY && m->fd >= 0;
}

/* Rule 1: whether a read of [off, off+len) is big and mostly cold.
 * `vec` (one byte per page of the range) takes mincore()'s answer; the
 * caller passes the destination buffer, overwritten next anyway. */
static int
pread_pays(Mapping *m, Py_ssize_t off, Py_ssize_t len, unsigned char *vec)
{
    if (len < MMAPIO_PREAD_MIN || !pread_allowed(m)) {
        return 0;
    }
    Py_ssize_t start, end, ps = page_size_value();
    page_widen(m, off, len, &start, &end);
    Py_ssize_t pages = (end - start + ps - 1) / ps;
    /* A cached first page says "warm" for the price of one page: the
     * mincore() of a whole warm range cost a warm 1 MiB copy 4%, one
     * page costs a warm 256 KiB copy about 2%. */
    if (pages > len || page_mincore(m, start, ps, vec) != 0 ||
        (vec[0] & 1) || page_mincore(m, start, end - start, vec) != 0) {
        return 0;
    }
    Py_ssize_t cold = 0;
    for (Py_ssize_t i = 0; i < pages; i++) {
        cold += !(vec[i] & 1);
    }
    return cold * 2 >= pages && read_fd_of(m) >= 0;
}

/* ---- rule 2: a RANDOM mapping's reads --------------------------------- */

static inline int64_t
now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* advise() calls this after madvise() succeeded on [start, start+span):
 * RANDOM on all of it turns rule 2 on, NORMAL or SEQUENTIAL on any of it
 * off.  A mapping made anew (remap_fresh) starts with it off, as the
 * kernel starts it with no advice. */
static void
note_advice(Mapping *m, int advice, Py_ssize_t start, Py_ssize_t span)
{
    if (advice == MADV_RANDOM) {
        if (start == 0 && span >= m->map_size && pread_allowed(m)) {
            /* The next read is timed: a fresh mapping of a cold file
             * learns it from its first reads. */
            __atomic_store_n(&m->read_tick, MMAPIO_READ_SAMPLE - 1,
                             __ATOMIC_RELAXED);
            __atomic_store_n(&m->random_reads, 1, __ATOMIC_RELAXED);
        }
    }
    else if (advice == MADV_NORMAL || advice == MADV_SEQUENTIAL) {
        __atomic_store_n(&m->random_reads, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&m->cold_reads, 0, __ATOMIC_RELAXED);
    }
}

/* How rule 2 reads `len` bytes: READ_COPY (untimed), READ_COPY_TIMED or
 * READ_PREAD.  Only for step-1 reads of a mapping with random_reads. */
enum read_plan { READ_COPY = 0, READ_COPY_TIMED = 1, READ_PREAD = 2 };

static inline enum read_plan
plan_read(Mapping *m)
{
    if (__atomic_load_n(&m->cold_reads, __ATOMIC_RELAXED)) {
        return READ_PREAD; /* copy.c falls back to the copy without read_fd */
    }
    /* Not an atomic increment (a locked instruction on x86-64, 7 ns a
     * read): two threads may count one tick, which only delays a sample. */
    unsigned tick = __atomic_load_n(&m->read_tick, __ATOMIC_RELAXED) + 1;
    __atomic_store_n(&m->read_tick, tick, __ATOMIC_RELAXED);
    unsigned recent = __atomic_load_n(&m->read_history, __ATOMIC_RELAXED);
    return tick % MMAPIO_READ_SAMPLE == 0 || recent ? READ_COPY_TIMED
                                                    : READ_COPY;
}

/* Record a timed read of `len` bytes at `off` that took `ns`. */
static void
note_read(Mapping *m, enum read_plan plan, Py_ssize_t off, Py_ssize_t len,
          int64_t ns)
{
    Py_ssize_t start, end, ps = page_size_value();
    page_widen(m, off, len, &start, &end);
    int64_t pages = (int64_t)((end - start) / ps);
    int64_t limit = plan == READ_PREAD ? MMAPIO_DISK_NS + (int64_t)(len / 4)
                                       : MMAPIO_DISK_NS * pages;
    unsigned weight = pages < MMAPIO_READ_WEIGHT ? (unsigned)pages
                                                 : MMAPIO_READ_WEIGHT;
    unsigned bits = ns > limit ? (1u << weight) - 1 : 0;
    unsigned h = __atomic_load_n(&m->read_history, __ATOMIC_RELAXED);
    h = ((h << weight) | bits) & 0xffu;
    __atomic_store_n(&m->read_history, h, __ATOMIC_RELAXED);
    int disk = __builtin_popcount(h);
    if (disk >= MMAPIO_COLD_ON) {
        __atomic_store_n(&m->cold_reads, 1, __ATOMIC_RELAXED);
    }
    else if (disk <= MMAPIO_COLD_OFF) {
        __atomic_store_n(&m->cold_reads, 0, __ATOMIC_RELAXED);
    }
}

/* ---- pread() itself ---------------------------------------------------- */

/* The file ends `done` bytes into the `len` bytes read into `buf` from
 * `off`: zeros to the end of that page, as the mapping reads there, and a
 * fault past it. */
static int
pread_past_eof(char *buf, Py_ssize_t off, Py_ssize_t len, Py_ssize_t done)
{
    Py_ssize_t ps = page_size_value();
    Py_ssize_t eof = off + done;
    Py_ssize_t zeros = (ps - eof % ps) % ps;
    Py_ssize_t left = len - done;
    memset(buf + done, 0, (size_t)(zeros < left ? zeros : left));
    return zeros < left ? NOGIL_SIGBUS : NOGIL_OK;
}

/* pread() `len` bytes at `off` into `buf` from read_fd_of(m), which the
 * caller made sure of; NOGIL_OK, NOGIL_SIGBUS or an errno. */
static int
pread_range(Mapping *m, char *buf, Py_ssize_t off, Py_ssize_t len)
{
    Py_ssize_t done = 0;
    while (done < len) {
        ssize_t n = pread(m->read_fd, buf + done, (size_t)(len - done),
                          (off_t)(off + done));
        if (n > 0) {
            done += n;
        }
        else if (n == 0) {
            return pread_past_eof(buf, off, len, done);
        }
        else if (errno != EINTR) {
            return errno;
        }
    }
    return NOGIL_OK;
}
