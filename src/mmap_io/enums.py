"""Mapping modes, touch hints and memory advice."""

from __future__ import annotations

import enum

__all__ = ["MmapAdvice", "MmapMode", "TouchHint"]


class MmapMode(enum.Enum):
    """How a file is mapped; values follow ``numpy.memmap``'s mode strings.

    >>> MmapMode("r+")
    <MmapMode.READ_WRITE: 'r+'>
    """

    READ_ONLY = "r"
    READ_WRITE = "r+"
    COPY_ON_WRITE = "c"

    @property
    def _access(self) -> int:
        return _ACCESS[self]


_ACCESS = {MmapMode.READ_ONLY: 0, MmapMode.READ_WRITE: 1, MmapMode.COPY_ON_WRITE: 2}


class TouchHint(enum.Enum):
    """When to fault pages in: ``EAGER`` pre-faults at construction.

    ``LAZY`` behaves as ``NEVER``.

    >>> TouchHint.EAGER.name
    'EAGER'
    """

    NEVER = "never"
    EAGER = "eager"
    LAZY = "lazy"


class MmapAdvice(enum.Enum):
    """Access-pattern advice for :meth:`MemoryMappedFile.advise` (madvise).

    The first five are portable. The rest are Linux extras; where the
    platform lacks one, ``advise`` raises :class:`AdviceFailedError` with
    ``errno`` EINVAL. ``DONT_NEED`` and ``FREE`` discard the contents of
    anonymous memory and the private changes of a copy-on-write mapping
    (they read back from the file, or as zeros); on a shared file mapping
    they only drop the page-table entries.

    - ``HUGEPAGE`` / ``NO_HUGEPAGE``: allow / forbid transparent huge pages.
    - ``COLLAPSE``: collapse the range into huge pages now (Linux 6.1+).
    - ``FREE``: anonymous memory only; the kernel may reclaim it lazily.
    - ``COLD`` / ``PAGEOUT``: deactivate / reclaim the pages (Linux 5.4+).
    - ``POPULATE_READ`` / ``POPULATE_WRITE``: pre-fault the page tables
      readable / writable (Linux 5.14+); writable needs a writable mapping.
    - ``DONT_FORK`` / ``DO_FORK``, ``DONT_DUMP`` / ``DO_DUMP``: leave the
      range out of (or back in) child processes and core dumps.

    >>> MmapAdvice.SEQUENTIAL.value
    'sequential'
    """

    NORMAL = "normal"
    RANDOM = "random"
    SEQUENTIAL = "sequential"
    WILL_NEED = "will_need"
    DONT_NEED = "dont_need"
    HUGEPAGE = "hugepage"
    NO_HUGEPAGE = "no_hugepage"
    COLLAPSE = "collapse"
    FREE = "free"
    COLD = "cold"
    PAGEOUT = "pageout"
    POPULATE_READ = "populate_read"
    POPULATE_WRITE = "populate_write"
    DONT_FORK = "dont_fork"
    DO_FORK = "do_fork"
    DONT_DUMP = "dont_dump"
    DO_DUMP = "do_dump"
