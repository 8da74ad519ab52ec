/* Mappings in a child made by fork().
 *
 * fork() copies the memory of the process but only the thread that called
 * it.  A mapping's locks (copy.c, durability.c) held by another thread at
 * that moment - a GIL-less copy, a flush(), the every_millis flusher - stay
 * held in the child by a thread that does not exist there, and the child's
 * next copy, flush() or close() waits forever.
 *
 * So every mapping is on one list, and a pthread_atfork() child handler
 * walks it and makes the locks anew.  This costs nothing on the hot paths
 * (a fork generation checked by every copy would not) and a few
 * nanoseconds per mapping created; the list's own lock is taken by the
 * prepare handler, so the child never sees it half-updated.
 *
 * Memory advised MADV_DONTFORK is not mapped in the child at all: such a
 * mapping is closed there (it reports closed; every call raises
 * MappingClosedError) instead of touching addresses that hold nothing.
 *
 * The child handler runs between fork() and the child's return from it,
 * where only async-signal-safe work is allowed: it re-initialises locks
 * (no allocation), clears fields and makes plain system calls.
 */
#include "common.h"

static pthread_mutex_t fork_list_lock = PTHREAD_MUTEX_INITIALIZER;
static Mapping *fork_list_head;

static void
fork_list_add(Mapping *m)
{
    pthread_mutex_lock(&fork_list_lock);
    m->fork_prev = NULL;
    m->fork_next = fork_list_head;
    if (fork_list_head != NULL) {
        fork_list_head->fork_prev = m;
    }
    fork_list_head = m;
    m->on_fork_list = 1;
    pthread_mutex_unlock(&fork_list_lock);
}

static void
fork_list_remove(Mapping *m)
{
    if (!m->on_fork_list) {
        return;
    }
    pthread_mutex_lock(&fork_list_lock);
    if (m->fork_prev != NULL) {
        m->fork_prev->fork_next = m->fork_next;
    }
    else {
        fork_list_head = m->fork_next;
    }
    if (m->fork_next != NULL) {
        m->fork_next->fork_prev = m->fork_prev;
    }
    m->fork_prev = m->fork_next = NULL;
    m->on_fork_list = 0;
    pthread_mutex_unlock(&fork_list_lock);
}

/* The child's view of one mapping. */
static void
mapping_after_fork(Mapping *m)
{
    if (m->locks_ready) {
        /* Their memory is ours, and no thread of this process holds them:
         * initialise over whatever state the parent's threads left. */
        m->locks_ready = mapping_init_locks(m) == 0;
    }
    m->big_ops = 0; /* those copies do not run here */
    if (m->dont_fork && (!m->closed || m->unmap_owed)) {
        /* What DONTFORK left out is not there; unmapping the rest too
         * leaves nothing half-usable (and nothing for a close() deferred
         * in the parent to flush or unmap here). */
        unmap_detached(detach_mapping(m));
    }
}

static void
fork_prepare(void)
{
    pthread_mutex_lock(&fork_list_lock);
}

static void
fork_parent(void)
{
    pthread_mutex_unlock(&fork_list_lock);
}

static void
fork_child(void)
{
    for (Mapping *m = fork_list_head; m != NULL; m = m->fork_next) {
        mapping_after_fork(m);
    }
    pthread_mutex_unlock(&fork_list_lock);
}

static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;
static int fork_handlers_rc;

static void
fork_handlers_install(void)
{
    fork_handlers_rc = pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Once per process (the module may be loaded by several interpreters). */
static int
fork_init(void)
{
    (void)pthread_once(&fork_handlers_once, fork_handlers_install);
    if (fork_handlers_rc != 0) {
        errno = fork_handlers_rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}
