/* Sleeping until a 32-bit word in mapped memory changes: futex(2).
 *
 * The layer below AtomicU32.wait()/notify(): plain C, no Python API, so it
 * runs with the GIL released.  A futex is keyed by the kernel on the
 * memory behind the address: on MAP_SHARED memory (a file mapping, or
 * shared anonymous memory) the key is the page in the page cache, so
 * waiters and wakers of different processes meet; on private memory
 * (copy-on-write, private anonymous) FUTEX_PRIVATE_FLAG keys it on this
 * process's address space, which is cheaper and the only correct choice
 * there (another process's private copy is another word).
 *
 * Waiting uses FUTEX_WAIT_BITSET with FUTEX_BITSET_MATCH_ANY because it
 * takes an *absolute* CLOCK_MONOTONIC deadline: a wait interrupted by a
 * signal whose handler does not raise resumes with the time that is left,
 * without drift, however often it is interrupted.
 *
 * Elsewhere than Linux the functions report FUTEX_UNSUPPORTED, so the
 * core still builds (macOS) and the methods raise NotImplementedError.
 */
#include "common.h"

#include <math.h>
#include <time.h>

#if defined(__linux__)
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#define MMAPIO_HAVE_FUTEX 1
#endif

enum futex_result {
    FUTEX_WOKEN = 0,       /* woken, or the word did not hold `expected` */
    FUTEX_TIMED_OUT = 1,   /* the deadline passed */
    FUTEX_INTERRUPTED = 2, /* a signal arrived: check it, then wait again */
    FUTEX_FAULT = 3,       /* the page cannot be provided (file truncated) */
    FUTEX_FAILED = 4,      /* any other error: see *err */
    FUTEX_UNSUPPORTED = 5, /* no futex on this platform */
};

/* A point on CLOCK_MONOTONIC; `forever` when there is no deadline. */
typedef struct {
    struct timespec at;
    int forever;
} futex_deadline;

/* Longer timeouts wait forever: about 126 years, far below the limit of a
 * 64-bit time_t, and past any deadline a program can mean. */
#define FUTEX_MAX_SECONDS 4e9

/* The deadline `seconds` from now (seconds >= 0, checked by the caller). */
static void
futex_deadline_after(double seconds, futex_deadline *d)
{
    struct timespec now;
    d->forever = 0;
    if (!(seconds < FUTEX_MAX_SECONDS) ||
        clock_gettime(CLOCK_MONOTONIC, &now) != 0) {
        d->forever = 1;
        return;
    }
    double whole = floor(seconds);
    long nsec = (long)((seconds - whole) * 1e9) + now.tv_nsec;
    d->at.tv_sec = now.tv_sec + (time_t)whole + nsec / 1000000000L;
    d->at.tv_nsec = nsec % 1000000000L;
}

#ifdef MMAPIO_HAVE_FUTEX

static long
futex_call(uint32_t *addr, int op, uint32_t val, const struct timespec *ts,
           uint32_t val3)
{
    return syscall(SYS_futex, addr, op, val, ts, NULL, val3);
}

/* Sleep while *addr == expected, until woken or the deadline passes.  May
 * return FUTEX_WOKEN spuriously: callers look at the word again. */
static enum futex_result
futex_wait(uint32_t *addr, uint32_t expected, int shared,
           const futex_deadline *d, int *err)
{
    int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long rc = futex_call(addr, op, expected, d->forever ? NULL : &d->at,
                         FUTEX_BITSET_MATCH_ANY);
    if (rc == 0) {
        return FUTEX_WOKEN;
    }
    switch (errno) {
    case EAGAIN: /* the word no longer held `expected` */
        return FUTEX_WOKEN;
    case ETIMEDOUT:
        return FUTEX_TIMED_OUT;
    case EINTR:
        return FUTEX_INTERRUPTED;
    case EFAULT: /* beyond the end of a truncated file: the kernel says
                    EFAULT where a load would raise SIGBUS */
        return FUTEX_FAULT;
    default:
        *err = errno;
        return FUTEX_FAILED;
    }
}

/* Wake up to `n` (>= 0) waiters on addr; *woken says how many woke. */
static enum futex_result
futex_wake(uint32_t *addr, int n, int shared, int *woken, int *err)
{
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long rc = futex_call(addr, op, (uint32_t)n, NULL, 0);
    if (rc >= 0) {
        *woken = (int)rc;
        return FUTEX_WOKEN;
    }
    if (errno == EFAULT) {
        return FUTEX_FAULT;
    }
    *err = errno;
    return FUTEX_FAILED;
}

#define FUTEX_WAKE_ALL INT_MAX

#else /* no futex */

static enum futex_result
futex_wait(uint32_t *addr, uint32_t expected, int shared,
           const futex_deadline *d, int *err)
{
    (void)addr;
    (void)expected;
    (void)shared;
    (void)d;
    (void)err;
    return FUTEX_UNSUPPORTED;
}

static enum futex_result
futex_wake(uint32_t *addr, int n, int shared, int *woken, int *err)
{
    (void)addr;
    (void)n;
    (void)shared;
    (void)woken;
    (void)err;
    return FUTEX_UNSUPPORTED;
}

#define FUTEX_WAKE_ALL 0x7fffffff

#endif
