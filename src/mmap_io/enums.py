"""Mapping modes, touch hints and memory advice."""

from __future__ import annotations

import enum
from typing import Literal

from . import _core

__all__ = ["MmapAdvice", "MmapMode", "ModeLike", "TouchHint"]


class MmapMode(enum.Enum):
    """How a file is mapped; values follow ``numpy.memmap``'s mode strings.

    Everywhere a mode is taken, the strings ``"r"``, ``"r+"`` and ``"c"``
    are accepted too.

    >>> MmapMode("r+")
    <MmapMode.READ_WRITE: 'r+'>
    >>> load_mmap("data.bin", "r").mode
    <MmapMode.READ_ONLY: 'r'>
    """

    READ_ONLY = "r"
    READ_WRITE = "r+"
    COPY_ON_WRITE = "c"

    @property
    def _access(self) -> int:
        return _ACCESS[self]


# What a parameter taking a mode accepts: a member or its value.
ModeLike = MmapMode | Literal["r", "r+", "c"]

_ACCESS = {
    MmapMode.READ_ONLY: _core.ACCESS_READ,
    MmapMode.READ_WRITE: _core.ACCESS_WRITE,
    MmapMode.COPY_ON_WRITE: _core.ACCESS_COPY,
}

# The advice values are the native core's names: a member the core does not
# know fails here, at import, and tests check that the core has no extra one.
_ADVICE_VALUES = {value.upper(): value for value in _core._ADVICE_NAMES}


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

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
        return _ADVICE_VALUES[name]

    NORMAL = enum.auto()
    RANDOM = enum.auto()
    SEQUENTIAL = enum.auto()
    WILL_NEED = enum.auto()
    DONT_NEED = enum.auto()
    HUGEPAGE = enum.auto()
    NO_HUGEPAGE = enum.auto()
    COLLAPSE = enum.auto()
    FREE = enum.auto()
    COLD = enum.auto()
    PAGEOUT = enum.auto()
    POPULATE_READ = enum.auto()
    POPULATE_WRITE = enum.auto()
    DONT_FORK = enum.auto()
    DO_FORK = enum.auto()
    DONT_DUMP = enum.auto()
    DO_DUMP = enum.auto()
