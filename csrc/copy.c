/* The one place where bytes move between a mapping and Python memory.
 *
 * guarded_copy() turns the SIGBUS a mapped-file access raises when the
 * backing file was truncated by someone else (or a sparse write found no
 * space) into an error return: while a copy runs, a thread-local jump
 * buffer is armed and our SIGBUS handler jumps back to it.  Faults that
 * happen anywhere else are passed on to the handler that was installed
 * before ours (faulthandler, or the default action).
 *
 * Locking: copies made with the GIL held take no lock while no GIL-less
 * copy of the same mapping is in flight (`big_ops == 0`, read under the
 * GIL); otherwise, and for copies >= MMAPIO_BIG_COPY, the copy releases
 * the GIL and takes map_lock shared and copy_lock (readers shared, writers
 * exclusive; copy_gate keeps the two fair).  data/size only change under
 * map_lock held exclusive *and* the GIL, so a GIL-less copy re-checks its
 * bounds after locking.
 */
#include "common.h"

/* volatile, and fenced around the copy: to the compiler the store that
 * arms the jump buffer looks dead (memmove never reads it, and it is
 * cleared right after), and it was removed, leaving SIGBUS unguarded.
 * Only our signal handler reads it. */
/* initial-exec: the default TLS model of a shared object reaches the
 * variable through __tls_get_addr, a call that costs more than a small
 * copy or an atomic op; initial-exec makes it one %fs-relative access
 * (8 bytes of the static TLS surplus glibc keeps for dlopen()ed objects). */
#if defined(__linux__) && defined(__GNUC__)
#define MMAPIO_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define MMAPIO_TLS_MODEL
#endif
static _Thread_local sigjmp_buf *volatile copy_jmp MMAPIO_TLS_MODEL;
static struct sigaction prev_sigbus;
/* Set while a fault is being passed on to the previous handler.  When a
 * handler installed after us (faulthandler.enable() between two mappings)
 * is wrapped again, it and we hold each other as "previous": it restores
 * us and re-raises, we call it again, ... until the stack overflows and
 * the process dies of SIGSEGV.  Re-entering while passing on means that
 * loop: die of SIGBUS with the default action instead. */
static _Thread_local volatile sig_atomic_t sigbus_passing_on;

static void
die_of(int sig)
{
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A SIGBUS sent by a process (kill, pthread_kill, raise, sigqueue) rather
 * than raised by a memory fault: it says nothing about the copy, so it is
 * not turned into FileTruncatedError but passed on like any other. */
static int
sigbus_was_sent(const siginfo_t *info)
{
    if (info == NULL) {
        return 0;
    }
#if defined(__linux__)
    return info->si_code <= 0; /* SI_USER, SI_QUEUE, SI_TKILL, ... */
#else
    return info->si_code == SI_USER || info->si_code == SI_QUEUE;
#endif
}

static void
on_sigbus(int sig, siginfo_t *info, void *ctx)
{
    sigjmp_buf *jb = copy_jmp;
    if (jb != NULL && !sigbus_was_sent(info)) {
        copy_jmp = NULL;
        siglongjmp(*jb, 1);
    }
    if (sigbus_passing_on) {
        die_of(sig);
        return;
    }
    if (prev_sigbus.sa_flags & SA_SIGINFO) {
        sigbus_passing_on = 1;
        prev_sigbus.sa_sigaction(sig, info, ctx);
        sigbus_passing_on = 0;
        return;
    }
    if (prev_sigbus.sa_handler == SIG_DFL ||
        prev_sigbus.sa_handler == SIG_IGN) {
        /* The default action: the process dies of SIGBUS as it would have
         * without us. */
        die_of(sig);
        return;
    }
    sigbus_passing_on = 1;
    prev_sigbus.sa_handler(sig);
    sigbus_passing_on = 0;
}

/* Make sure our handler is the current one; chains to whatever was there.
 * Called when a mapping is created, so a handler installed later (say by
 * faulthandler.enable()) is wrapped again on the next mapping. */
static void
ensure_sigbus_handler(void)
{
    struct sigaction cur;
    if (sigaction(SIGBUS, NULL, &cur) != 0) {
        return;
    }
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus) {
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    /* SA_NODEFER: we leave the handler by siglongjmp without restoring the
     * signal mask (that would cost a syscall per copy), so SIGBUS must not
     * stay blocked. */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, NULL) == 0) {
        prev_sigbus = cur;
    }
}

/* memmove that reports a SIGBUS as -1 instead of dying. */
__attribute__((noinline)) static int
guarded_copy(void *dst, const void *src, size_t n)
{
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0) {
        return -1;
    }
    copy_jmp = &jb;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memmove(dst, src, n);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    copy_jmp = NULL;
    return 0;
}

/* Touch one byte in every `step`-byte block of [p, p+n) for reading; -1
 * on SIGBUS.  The byte read moves to the next cache line from one block to
 * the next: reading offset 0 of every page puts all the loads in the same
 * cache set, which serialises the misses (3-4x slower on x86-64). */
__attribute__((noinline)) static int
guarded_touch(const char *p, size_t n, size_t step, unsigned char *sink)
{
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0) {
        return -1;
    }
    copy_jmp = &jb;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
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
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    copy_jmp = NULL;
    *sink = acc;
    return 0;
}

static PyObject *
raise_truncated(Mapping *m, Py_ssize_t off, Py_ssize_t len)
{
    ModState *st = state_of((PyObject *)m);
    if (st == NULL) {
        return NULL;
    }
    char ctx[160];
    snprintf(ctx, sizeof ctx,
             "bytes %zd..%zd are no longer backed by the file "
             "(truncated by another process, or no space left)",
             off, off + len);
    PyObject *exc = make_os_error(st, st->FileTruncatedError, EFAULT,
                                  m->path, ctx);
    if (exc != NULL) {
        PyErr_SetObject(st->FileTruncatedError, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

enum copy_dir { COPY_OUT = 0, COPY_IN = 1 };

/* Result of a copy: 0 ok, -1 bounds changed under us (resize while the
 * GIL was released), -2 SIGBUS, -3 closed meanwhile. */
static int
copy_locked(Mapping *m, enum copy_dir dir, Py_ssize_t off, char *buf,
            Py_ssize_t len)
{
    int rc;
    pthread_rwlock_rdlock(&m->map_lock);
    /* copy_gate makes copy_lock fair.  Everyone passes the gate first and
     * a writer keeps it until it has the lock: readers arriving meanwhile
     * wait behind it instead of overtaking it forever (glibc's default
     * rwlock let a steady stream of big reads starve update_region for
     * seconds), and they queue with writers at the gate instead of behind
     * every writer (writer preference starved readers the same way). */
    pthread_mutex_lock(&m->copy_gate);
    if (dir == COPY_IN) {
        pthread_rwlock_wrlock(&m->copy_lock);
    }
    else {
        pthread_rwlock_rdlock(&m->copy_lock);
    }
    pthread_mutex_unlock(&m->copy_gate);
    if (m->closed) {
        rc = -3;
    }
    else if (m->size - off < len || off > m->size) {
        rc = -1;
    }
    else if (dir == COPY_IN) {
        rc = guarded_copy(m->data + off, buf, (size_t)len) ? -2 : 0;
    }
    else {
        rc = guarded_copy(buf, m->data + off, (size_t)len) ? -2 : 0;
    }
    pthread_rwlock_unlock(&m->copy_lock);
    pthread_rwlock_unlock(&m->map_lock);
    return rc;
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
    m->big_ops++;
    Py_BEGIN_ALLOW_THREADS
    rc = copy_locked(m, dir, off, buf, len);
    Py_END_ALLOW_THREADS
    m->big_ops--;
    if (rc == 0) {
        return 0;
    }
    if (rc == -3) {
        raise_closed(m);
    }
    else if (rc == -1) {
        raise_bounds(m, off, len);
    }
    else {
        raise_truncated(m, off, len);
    }
    return -1;
}
