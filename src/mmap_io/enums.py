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

    ``HUGEPAGE`` and ``NO_HUGEPAGE`` are Linux-only extras.

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
