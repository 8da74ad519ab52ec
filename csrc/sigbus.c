/* The SIGBUS guard: the one place where a fault on mapped memory becomes
 * an error return instead of the death of the process.
 *
 * Touching a page of a file mapping that the file no longer backs (it was
 * truncated by another process, or a sparse write found no space) raises
 * SIGBUS.  Every access that may fault runs inside SIGBUS_GUARDED (below),
 * which arms a thread-local jump buffer; our handler jumps back to it and
 * the access reports a fault.  Faults that happen anywhere else are passed
 * on to the handler that was installed before ours (faulthandler, or the
 * default action).  Like CPython's HANDLE_INVALID_MEM in mmapmodule.c,
 * the guarded region is written once: copy.c and atomics.c only use it.
 *
 * ensure_sigbus_handler() installs (or re-installs) the handler; Mapping
 * __init__ calls it, and so does _guard_sigbus(), which the Python package
 * calls right after signal.signal(SIGBUS, ...) or faulthandler changed the
 * handler (_sigguard.py): a handler installed after ours is wrapped again
 * at once, at no cost to the copies.
 */
#include "common.h"

/* The armed jump buffer of this thread, NULL outside a guarded access.
 * volatile, and fenced in SIGBUS_GUARDED: to the compiler the store that
 * arms it looks dead (memmove or an atomic op never reads it, and it is
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
static _Thread_local sigjmp_buf *volatile sigbus_jmp MMAPIO_TLS_MODEL;
static struct sigaction prev_sigbus;
/* Set while a fault is being passed on to the previous handler.  When a
 * handler installed after us (faulthandler.enable() between two mappings)
 * is wrapped again, it and we hold each other as "previous": it restores
 * us and re-raises, we call it again, ... until the stack overflows and
 * the process dies of SIGSEGV.  Re-entering while passing on means that
 * loop: die of SIGBUS with the default action instead. */
static _Thread_local volatile sig_atomic_t sigbus_passing_on;
/* What the last caught fault of this thread was, for raise_truncated(). */
static _Thread_local char *fault_addr MMAPIO_TLS_MODEL;
static _Thread_local int fault_code MMAPIO_TLS_MODEL;
/* The address of the last memory fault passed on from this thread.  A
 * handler that returns from a fault it did not repair (faulthandler once
 * disabled, a Python-level handler, which only sets a flag) sees the same
 * fault again at once, for ever: the second time, die of SIGBUS as the
 * process would have without any handler. */
static _Thread_local char *volatile passed_on_addr;
/* Our handler was installed once (by the first mapping). */
static volatile sig_atomic_t sigbus_installed;

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
    sigjmp_buf *jb = sigbus_jmp;
    if (jb != NULL && !sigbus_was_sent(info)) {
        sigbus_jmp = NULL;
        fault_addr = info != NULL ? (char *)info->si_addr : NULL;
        fault_code = info != NULL ? info->si_code : 0;
        siglongjmp(*jb, 1);
    }
    if (sigbus_passing_on) {
        die_of(sig);
        return;
    }
    if (info != NULL && !sigbus_was_sent(info)) {
        char *addr = (char *)info->si_addr;
        if (addr == passed_on_addr) {
            die_of(sig);
            return;
        }
        passed_on_addr = addr;
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
 * Called when a mapping is created, and (through _guard_sigbus) by the
 * Python package right after signal.signal(SIGBUS, ...) or faulthandler
 * changed the handler, so one installed later is wrapped again at once.
 * Never on a copy: a sigaction() query costs 0.5-1 us here, more than a
 * small copy.  Returns 1 when it (re)installed ours. */
static int
ensure_sigbus_handler(void)
{
    struct sigaction cur;
    if (sigaction(SIGBUS, NULL, &cur) != 0) {
        return 0;
    }
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus) {
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    /* SA_NODEFER: we leave the handler by siglongjmp without restoring the
     * signal mask (that would cost a syscall per copy), so SIGBUS must not
     * stay blocked. */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    /* `cur` is in force, not ours: no thread reads prev_sigbus while it
     * is written, and it is right from the moment ours takes over. */
    prev_sigbus = cur;
    passed_on_addr = NULL;
    if (sigaction(SIGBUS, &sa, NULL) != 0) {
        return 0;
    }
    sigbus_installed = 1;
    return 1;
}

static PyObject *
mod_guard_sigbus(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    (void)mod;
    return PyBool_FromLong(sigbus_installed && ensure_sigbus_handler());
}

/* Run the statements `...` with SIGBUS turned into a jump: `faulted` is
 * set to 0 when they completed, 1 when they touched memory the file no
 * longer backs (they stopped there).  Use it in a noinline function whose
 * results leave through pointers or memory, never through locals assigned
 * inside the body (their values are indeterminate after the jump).  The
 * signal fences keep the compiler from dropping or moving the stores that
 * arm and disarm the jump buffer across the guarded accesses. */
#define SIGBUS_GUARDED(faulted, ...)                                         \
    do {                                                                     \
        sigjmp_buf guard_jb_;                                                \
        if (sigsetjmp(guard_jb_, 0) != 0) {                                  \
            (faulted) = 1;                                                   \
            break;                                                           \
        }                                                                    \
        sigbus_jmp = &guard_jb_;                                             \
        __atomic_signal_fence(__ATOMIC_SEQ_CST);                             \
        __VA_ARGS__                                                          \
        __atomic_signal_fence(__ATOMIC_SEQ_CST);                             \
        sigbus_jmp = NULL;                                                   \
        (faulted) = 0;                                                       \
    } while (0)

static Py_ssize_t page_size_value(void);

/* Why the page at `page_off` could not be provided: fills `err` and
 * `why`.  The fault itself does not say (SIGBUS is SIGBUS), so ask the
 * file now: a page past its end was truncated away; a page inside it
 * failed to be allocated (a sparse file on a full disk) or read. */
static void
diagnose_fault(Mapping *m, Py_ssize_t page_off, int *err, char *why,
               size_t whylen)
{
    struct stat st;
#ifdef BUS_MCEERR_AR
    if (fault_code == BUS_MCEERR_AR || fault_code == BUS_MCEERR_AO) {
        *err = EIO;
        snprintf(why, whylen, "a hardware memory error");
        return;
    }
#endif
    if (m->fd < 0 || fstat(m->fd, &st) != 0) {
        *err = EFAULT;
        snprintf(why, whylen, "the memory is no longer there");
        return;
    }
    Py_ssize_t ps = page_size_value();
    if ((Py_ssize_t)st.st_size <= page_off - page_off % ps) {
        *err = EFAULT;
        snprintf(why, whylen,
                 "the file is now %lld bytes (truncated by someone else)",
                 (long long)st.st_size);
        return;
    }
    struct statvfs vfs;
    if (fstatvfs(m->fd, &vfs) == 0 && (vfs.f_bavail == 0 || vfs.f_bfree == 0)) {
        *err = ENOSPC;
        snprintf(why, whylen,
                 "no space left on the file system to back the page of a "
                 "sparse file");
        return;
    }
    *err = EIO;
    snprintf(why, whylen, "the page could not be read or allocated");
}

/* FileTruncatedError for a fault on bytes [off, off+len) of `m`; its
 * errno and message say why (diagnose_fault). */
static PyObject *
raise_truncated(Mapping *m, Py_ssize_t off, Py_ssize_t len)
{
    ModState *st = state_of((PyObject *)m);
    if (st == NULL) {
        return NULL;
    }
    /* The faulting page, when the fault was in this mapping. */
    Py_ssize_t page_off = off;
    char *addr = fault_addr;
    if (addr != NULL && m->data != NULL && addr >= m->data &&
        addr - m->data < m->map_size) {
        page_off = addr - m->data;
    }
    int err;
    char why[120];
    diagnose_fault(m, page_off, &err, why, sizeof why);
    char ctx[240];
    snprintf(ctx, sizeof ctx, "bytes %zd..%zd cannot be accessed: %s", off,
             off + len, why);
    PyObject *exc = make_os_error(st, st->FileTruncatedError, err, m->path,
                                  ctx);
    if (exc != NULL) {
        PyErr_SetObject(st->FileTruncatedError, exc);
        Py_DECREF(exc);
    }
    return NULL;
}
