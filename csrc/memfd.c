/* Shared anonymous memory: the memory behind AnonymousMmap(shared=True).
 *
 * On Linux it is a memfd: a file that lives only in memory, has no name
 * in any directory (nothing in /dev/shm, nothing to unlink, nothing left
 * behind by a crash) and disappears when the last descriptor is closed
 * and the last mapping of it is gone.  Its descriptor is what makes the
 * memory travel: a process that receives it (fork inheritance, or
 * SCM_RIGHTS through multiprocessing) maps the same pages.
 *
 * The memfd is sealed at its size (F_SEAL_SHRINK | F_SEAL_GROW), so no
 * holder of the descriptor can truncate it under another process's
 * mapping: an access can never fault with SIGBUS.
 *
 * Where memfd_create is missing (old kernels, macOS) the caller falls back
 * to MAP_SHARED | MAP_ANONYMOUS, which forked children share but which has
 * no descriptor to hand to other processes.  `memfd_enabled` switches the
 * memfd off so that the fallback stays tested on Linux.
 */
#include "common.h"

#if defined(__linux__) && defined(MFD_CLOEXEC)
#define MMAPIO_HAVE_MEMFD 1
#endif

static int memfd_enabled = 1;

/* A sealed memfd of `size` bytes, or -1 with errno set (ENOSYS where
 * there is no memfd: the caller then maps MAP_SHARED | MAP_ANONYMOUS). */
static int
memfd_new(Py_ssize_t size)
{
#ifdef MMAPIO_HAVE_MEMFD
    if (!memfd_enabled) {
        errno = ENOSYS;
        return -1;
    }
    int fd = memfd_create("mmap_io", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        return -1;
    }
    if (ftruncate(fd, (off_t)size) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
#ifdef F_ADD_SEALS
    (void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
#endif
    return fd;
#else
    (void)size;
    errno = ENOSYS;
    return -1;
#endif
}

/* The descriptor received from another process covers `size` bytes (a
 * shorter one would fault on access): 0, or -1 with errno set. */
static int
memfd_check_size(int fd, Py_ssize_t size)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        return -1;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size < (off_t)size) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(mod_set_memfd_doc,
"_set_memfd(enabled, /)\n--\n\n"
"Whether new shared anonymous memory is a memfd (the default where the\n"
"platform has one) or MAP_SHARED|MAP_ANONYMOUS memory, which forked\n"
"children share but which cannot be handed to other processes.  Returns\n"
"the previous setting.  For tests of the fallback.\n\n"
"    >>> old = _set_memfd(False); _set_memfd(old)\n    False");

static PyObject *
mod_set_memfd(PyObject *mod, PyObject *arg)
{
    (void)mod;
    int enable = PyObject_IsTrue(arg);
    if (enable < 0) {
        return NULL;
    }
    int old = memfd_enabled;
    memfd_enabled = enable;
#ifndef MMAPIO_HAVE_MEMFD
    old = 0;
#endif
    return PyBool_FromLong(old);
}

#define MEMFD_MODULE_METHODS                                                 \
    {"_set_memfd", mod_set_memfd, METH_O, mod_set_memfd_doc},
