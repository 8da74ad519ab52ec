"""Manager functions: one call for the common whole-file operations."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from ._base import MappingBase
from ._validate import check_type
from .enums import ModeLike
from .errors import from_oserror
from .file import MemoryMappedFile, PathLike

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "align_up",
    "copy_mmap",
    "create_mmap",
    "delete_mmap",
    "flush",
    "load_mmap",
    "update_region",
    "write_mmap",
]


def create_mmap(
    path: PathLike, size: int, *, permissions: int = 0o666, follow_symlinks: bool = True
) -> MemoryMappedFile:
    """Create ``path`` with ``size`` zero bytes and map it read-write (= ``create_rw``).

    >>> m = create_mmap("new.bin", 4096, permissions=0o600)
    """
    return MemoryMappedFile.create_rw(
        path, size, permissions=permissions, follow_symlinks=follow_symlinks
    )


def load_mmap(path: PathLike, mode: ModeLike) -> MemoryMappedFile:
    """Map an existing file in ``mode``: an :class:`MmapMode` or its string,
    ``"r"``, ``"r+"`` or ``"c"``.

    >>> m = load_mmap("new.bin", MmapMode.READ_ONLY)
    >>> m = load_mmap("new.bin", "r+")
    """
    return MemoryMappedFile._open_existing(path, mode)


def write_mmap(path: PathLike, offset: int, data: Buffer) -> None:
    """Open ``path`` read-write, write ``data`` at ``offset``, flush and close.

    >>> write_mmap("new.bin", 0, b"hello")
    """
    with MemoryMappedFile.open_rw(path) as m:
        m.update_region(offset, data)
        m.flush()


def update_region(m: MappingBase, offset: int, data: Buffer) -> None:
    """``m.update_region(offset, data)``.

    >>> update_region(m, 0, b"hi")
    """
    m.update_region(offset, data)


def flush(m: MemoryMappedFile) -> None:
    """``m.flush()``.

    >>> flush(m)
    """
    m.flush()


def copy_mmap(src: PathLike, dst: PathLike) -> None:
    """Copy the file ``src`` to ``dst`` (kernel-side copy where available).

    >>> copy_mmap("new.bin", "copy.bin")
    """
    try:
        shutil.copyfile(src, dst)
    except OSError as exc:
        raise from_oserror(exc, None, "cannot copy") from None


def delete_mmap(path: PathLike) -> None:
    """Delete the file ``path``.

    >>> delete_mmap("copy.bin")
    """
    try:
        os.remove(path)
    except OSError as exc:
        raise from_oserror(exc, None, "cannot delete") from None


def align_up(value: int, alignment: int) -> int:
    """Round ``value`` up to a multiple of ``alignment``.

    >>> align_up(5000, 4096)
    8192
    """
    check_type(value, int, "value")
    check_type(alignment, int, "alignment")
    if alignment <= 0:
        raise ValueError(f"alignment must be positive, got {alignment}")
    if value < 0:
        raise ValueError(f"value must be non-negative, got {value}")
    return -(-value // alignment) * alignment
