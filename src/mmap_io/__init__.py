"""mmap_io: safe, zero-copy memory-mapped file I/O with a native core.

>>> import mmap_io, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "demo.bin")
>>> with mmap_io.MemoryMappedFile.create_rw(path, 4096) as m:
...     m.update_region(0, b"hello")
...     bytes(m.as_slice(0, 5))
b'hello'
"""

# ruff: noqa: F405 (__all__ names the exception classes the star import brings)

from . import _sigguard  # noqa: F401  (keeps the SIGBUS guard in front)
from ._core import AtomicSlice, AtomicU32, AtomicU64, page_size
from .aio import copy_mmap_async, create_mmap_async, delete_mmap_async
from .anonymous import AnonymousMmap
from .builder import MmapBuilder
from .enums import MmapAdvice, MmapMode, TouchHint
from .errors import *  # noqa: F403 (the exception classes, listed once in errors.py)
from .file import MemoryMappedFile
from .flush import FlushPolicy
from .iteration import ChunksMut
from .manager import (
    align_up,
    copy_mmap,
    create_mmap,
    delete_mmap,
    flush,
    load_mmap,
    update_region,
    write_mmap,
)
from .residency import Residency
from .segments import Segment, SegmentMut
from .streams import MmapReader, MmapWriter
from .watch import ChangeEvent, ChangeKind, WatchHandle

__version__ = "0.1.0"

__all__ = [
    "AdviceFailedError",
    "AnonymousMmap",
    "AtomicSlice",
    "AtomicU32",
    "AtomicU64",
    "BusyError",
    "ChangeEvent",
    "ChangeKind",
    "ChunksMut",
    "FileTruncatedError",
    "FlushFailedError",
    "FlushPolicy",
    "InvalidModeError",
    "LockFailedError",
    "MappingClosedError",
    "MemoryMappedFile",
    "MisalignedError",
    "MmapAdvice",
    "MmapBuilder",
    "MmapIoError",
    "MmapMode",
    "MmapReader",
    "MmapWriter",
    "OutOfBoundsError",
    "Residency",
    "ResizeFailedError",
    "Segment",
    "SegmentMut",
    "TouchHint",
    "UnlockFailedError",
    "WatchFailedError",
    "WatchHandle",
    "__version__",
    "align_up",
    "copy_mmap",
    "copy_mmap_async",
    "create_mmap",
    "create_mmap_async",
    "delete_mmap",
    "delete_mmap_async",
    "flush",
    "load_mmap",
    "page_size",
    "update_region",
    "write_mmap",
]
