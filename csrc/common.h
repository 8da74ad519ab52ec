/* Shared declarations of the mmap_io._core extension.
 *
 * The core is one translation unit: module.c #includes every other .c file,
 * so helpers stay `static` and the compiler sees the whole core at once.
 */
#ifndef MMAPIO_COMMON_H
#define MMAPIO_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#if PY_VERSION_HEX < 0x030B0000
#define PyType_GetModuleByDef _PyType_GetModuleByDef
#endif

/* Heap types whose attributes cannot be set from Python (3.10+). */
#ifdef Py_TPFLAGS_IMMUTABLETYPE
#define MMAPIO_TPFLAGS_IMMUTABLE Py_TPFLAGS_IMMUTABLETYPE
#else
#define MMAPIO_TPFLAGS_IMMUTABLE 0
#endif

/* Largest mapping we accept: 128 TiB, the user address space of x86-64. */
#define MMAPIO_MAX_SIZE ((Py_ssize_t)1 << 47)

/* Copies at least this large run with the GIL released. */
#define MMAPIO_BIG_COPY ((Py_ssize_t)64 * 1024)

enum mmapio_access { ACCESS_READ = 0, ACCESS_WRITE = 1, ACCESS_COPY = 2 };

enum mmapio_policy {
    POLICY_NEVER = 0,
    POLICY_ALWAYS = 1,
    POLICY_BYTES = 2,
    POLICY_WRITES = 3,
    POLICY_MILLIS = 4,
};

/* What kind of object holds an export, for BusyError messages and repr. */
enum mmapio_view_kind {
    VIEW_BUFFER = 0,      /* the mapping's own buffer: memoryview(m), ... */
    VIEW_MEMORYVIEW = 1,  /* as_slice(), as_slice_mut(), chunks, segments */
    VIEW_ARRAY = 2,       /* as_array() */
    VIEW_ATOMIC = 3,      /* AtomicU64 / AtomicU32 */
    VIEW_ATOMIC_SLICE = 4,
    VIEW_KINDS = 5,
};

/* The module state: every field a strong reference, listed once here so
 * that module_traverse/module_clear cannot miss one. */
#define MODSTATE_TYPES(X)                                                    \
    X(MappingType)                                                           \
    X(AtomicU64Type)                                                         \
    X(AtomicU32Type)                                                         \
    X(AtomicSliceType)                                                       \
    X(SliceRequestType)                                                      \
    X(SizedIterType)
#define MODSTATE_OBJECTS(X)                                                  \
    X(MmapIoError)                                                           \
    X(OutOfBoundsError)                                                      \
    X(InvalidModeError)                                                      \
    X(MisalignedError)                                                       \
    X(ResizeFailedError)                                                     \
    X(FlushFailedError)                                                      \
    X(AdviceFailedError)                                                     \
    X(LockFailedError)                                                       \
    X(UnlockFailedError)                                                     \
    X(WatchFailedError)                                                      \
    X(MappingClosedError)                                                    \
    X(BusyError)                                                             \
    X(FileTruncatedError)                                                    \
    X(os_errors) /* dict: builtin OSError subclass -> ours */                \
    X(str_release) /* "release", interned: sized.c calls view.release() */
#define MODSTATE_FIELDS(X) MODSTATE_TYPES(X) MODSTATE_OBJECTS(X)

#define MODSTATE_TYPE_FIELD(name) PyTypeObject *name;
#define MODSTATE_OBJECT_FIELD(name) PyObject *name;
typedef struct {
    MODSTATE_TYPES(MODSTATE_TYPE_FIELD)
    MODSTATE_OBJECTS(MODSTATE_OBJECT_FIELD)
} ModState;
#undef MODSTATE_TYPE_FIELD
#undef MODSTATE_OBJECT_FIELD

typedef struct Mapping {
    PyObject_HEAD
    char *data;            /* NULL when closed or empty */
    Py_ssize_t size;       /* bytes visible to Python */
    Py_ssize_t map_size;   /* bytes actually mapped (huge pages round up) */
    int fd;                /* our own descriptor, -1 for anonymous */
    int read_fd;           /* pread() of cold ranges (pread.c); -1 until used */
    /* pread.c's rule 2: reads of a mapping advised RANDOM as a whole. */
    int random_reads;      /* advised MADV_RANDOM as a whole */
    int cold_reads;        /* its recent reads went to the disk: pread() */
    unsigned read_history; /* a bit per timed read, 1: it went to the disk */
    unsigned read_tick;    /* reads counted towards the next timed one */
    int access;            /* enum mmapio_access */
    int closed;            /* 1 before __init__ and after close() */
    int initialised;       /* __init__ ran (successfully or not) */
    int anonymous;
    int shared;            /* MAP_SHARED anonymous memory (memfd.c) */
    Py_ssize_t exports;    /* live buffers and atomic views */
    Py_ssize_t mut_exports;/* of which writable */
    Py_ssize_t kind_exports[VIEW_KINDS]; /* exports by enum mmapio_view_kind */
    int dirty_views;       /* a writable view was handed out since flush */
    /* close() ran while views were alive: the memory and the fd stay until
     * the last export is dropped (drop_export() then unmaps). */
    int unmap_owed;
    int huge;              /* huge pages asked for: re-advised after a remap */
    PyTypeObject *request_type; /* SliceRequest, at hand for as_slice() */
    /* Anything that touches `data` without the GIL holds map_lock shared;
     * close()/resize()/refresh() and the unmapping a close() deferred hold
     * it exclusive.  GIL-less copies also hold
     * copy_lock (readers shared, writers exclusive) so they never tear.
     * See copy.c. */
    pthread_rwlock_t map_lock;
    pthread_rwlock_t copy_lock;
    pthread_mutex_t copy_gate; /* makes copy_lock fair (copy.c) */
    int locks_ready;
    int big_ops;           /* GIL-less copies in flight (changed under GIL) */
    /* Flush-policy accounting (see durability.c). */
    int policy;
    Py_ssize_t policy_n;
    Py_ssize_t pending_bytes;
    Py_ssize_t pending_writes;
    /* Durability (durability.c).  flush_lock serialises the flushes of one
     * mapping (taken without the GIL, before map_lock). */
    pthread_mutex_t flush_lock;
    int sync_meta;         /* the file's size changed: fsync it on next flush */
    PyObject *sync_dir;    /* bytes: parent directory to fsync on next flush */
    PyObject *flush_error; /* background flush failure, raised by flush() */
    int raw_writes;        /* as_mut_ptr() was handed out: always flush */
    PyObject *path;        /* for messages; None when unknown */
    PyObject *weakreflist;
    /* fork.c: every mapping is on a list the child side of fork() walks
     * to reset the locks (threads that held them do not exist there). */
    struct Mapping *fork_prev, *fork_next;
    int on_fork_list;
    int dont_fork;         /* part of it was advised DONT_FORK */
} Mapping;

static PyModuleDef mmapio_module;

/* Methods that only bind a constant to a shared implementation
 * (as_slice/as_slice_mut, lock/unlock, atomic_u64/atomic_u32, ...): the
 * implementation takes the method's arguments and then the constant. */
#define BIND_FASTCALL(NAME, IMPL, CONST)                                     \
    static PyObject *NAME(PyObject *self, PyObject *const *args,            \
                          Py_ssize_t nargs)                                  \
    {                                                                        \
        return IMPL(self, args, nargs, CONST);                               \
    }
#define BIND_O(NAME, IMPL, CONST)                                            \
    static PyObject *NAME(PyObject *self, PyObject *arg)                     \
    {                                                                        \
        return IMPL(self, arg, CONST);                                       \
    }
#define BIND_NOARGS(NAME, IMPL, CONST)                                       \
    static PyObject *NAME(PyObject *self, PyObject *Py_UNUSED(ignored))      \
    {                                                                        \
        return IMPL(self, CONST);                                            \
    }

/* The spec of one of our heap types. */
#define MMAPIO_TYPE_SPEC(NAME, TYPE, FLAGS, SLOTS)                           \
    {                                                                        \
        .name = NAME, .basicsize = sizeof(TYPE), .flags = (FLAGS),           \
        .slots = (SLOTS),                                                    \
    }

/* tp_traverse and tp_clear of TYPE, made from one list of the references
 * it owns (REFS(X) applies X to each field), so the two cannot disagree.
 * Traversal also visits the type: an instance of a heap type owns a
 * reference to it. */
#define MMAPIO_VISIT_REF(field) Py_VISIT(obj_->field);
#define MMAPIO_CLEAR_REF(field) Py_CLEAR(obj_->field);
#define MMAPIO_GC_REFS(PREFIX, TYPE, REFS)                                   \
    static int PREFIX##_traverse(PyObject *self, visitproc visit, void *arg) \
    {                                                                        \
        TYPE *obj_ = (TYPE *)self;                                           \
        Py_VISIT(Py_TYPE(self));                                             \
        REFS(MMAPIO_VISIT_REF)                                               \
        return 0;                                                            \
    }                                                                        \
    static int PREFIX##_clear(PyObject *self)                                \
    {                                                                        \
        TYPE *obj_ = (TYPE *)self;                                           \
        REFS(MMAPIO_CLEAR_REF)                                               \
        return 0;                                                            \
    }

/* The lifecycle slots of a GC type: PREFIX##_traverse and PREFIX##_clear
 * (written by hand or by MMAPIO_GC_REFS) and DEALLOC. */
#define MMAPIO_GC_SLOTS(PREFIX, DEALLOC)                                     \
    {Py_tp_dealloc, DEALLOC},                                                \
    {Py_tp_traverse, PREFIX##_traverse},                                     \
    {Py_tp_clear, PREFIX##_clear},

/* tp_dealloc of a GC type that cannot be subclassed and owns nothing but
 * what its tp_clear lets go of. */
static void
mmapio_gc_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)tp->tp_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static inline ModState *
state_of_type(PyTypeObject *tp)
{
    PyObject *mod = PyType_GetModuleByDef(tp, &mmapio_module);
    return mod ? (ModState *)PyModule_GetState(mod) : NULL;
}

static inline ModState *
state_of(PyObject *self)
{
    return state_of_type(Py_TYPE(self));
}

#endif
