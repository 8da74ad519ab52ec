"""Chunked iteration over a mapping: zero-copy views or owned copies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ._core import page_size

if TYPE_CHECKING:
    from ._base import MappingBase

__all__ = ["ChunksMut", "iter_chunks", "iter_chunks_owned"]


def check_chunk_size(size: object) -> int:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"chunk size must be an int, not {type(size).__name__}")
    if size <= 0:
        raise ValueError(f"chunk size must be positive, got {size}")
    return size


def iter_chunks(m: MappingBase, size: int) -> Iterator[memoryview]:
    """Read-only views of ``size`` bytes; the last may be shorter."""
    total = len(m)
    view = m.as_slice
    for off in range(0, total, size):
        yield view(off, min(size, total - off))


def iter_chunks_owned(m: MappingBase, size: int) -> Iterator[bytes]:
    """``bytes`` copies of ``size`` bytes; the last may be shorter."""
    total = len(m)
    read = m.read_bytes
    for off in range(0, total, size):
        yield read(off, min(size, total - off))


class ChunksMut:
    """Writable views over a mapping in ``size``-byte strides.

    Iterate it for ``memoryview``s, or call :meth:`for_each_mut`::

        >>> m.chunks_mut(4096).for_each_mut(lambda off, view: view.__setitem__(0, 1))
    """

    __slots__ = ("_m", "_size")

    def __init__(self, m: MappingBase, size: int) -> None:
        self._m = m
        self._size = check_chunk_size(size)
        m.as_slice_mut(0, 0)  # mode and closed checks up front

    def __len__(self) -> int:
        return -(-len(self._m) // self._size)

    def __iter__(self) -> Iterator[memoryview]:
        m, size = self._m, self._size
        total = len(m)
        for off in range(0, total, size):
            yield m.as_slice_mut(off, min(size, total - off))

    def for_each_mut(self, fn: Callable[[int, memoryview], object]) -> None:
        """Call ``fn(offset, view)`` for every chunk, in order.

        Each view is released after ``fn`` returns, so the mapping is free
        to close or resize afterwards. An exception in ``fn`` stops the
        walk and propagates.

        >>> m.chunks_mut(8).for_each_mut(lambda off, v: v.__setitem__(slice(None), b"x" * len(v)))
        """
        m, size = self._m, self._size
        total = len(m)
        for off in range(0, total, size):
            with m.as_slice_mut(off, min(size, total - off)) as view:
                fn(off, view)

    def __repr__(self) -> str:
        return f"<ChunksMut size={self._size} of {self._m!r}>"


def default_page_chunk() -> int:
    return page_size()
