"""Chunked iteration over a mapping: zero-copy views or owned copies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ._core import SizedIterator
from ._validate import check_chunk_size
from .readahead import read_ahead

if TYPE_CHECKING:
    from ._base import MappingBase

__all__ = ["ChunksMut", "SizedIterator", "chunk_count", "iter_chunks_owned", "iter_views"]


def chunk_count(total: int, size: int) -> int:
    """How many ``size``-byte chunks cover ``total`` bytes (the last may be
    shorter; none for zero bytes).

    >>> chunk_count(10, 4), chunk_count(8, 4), chunk_count(0, 4)
    (3, 2, 0)
    """
    return -(-total // size)


def _release(view: memoryview) -> None:
    # A buffer derived from the view (say a numpy array) keeps its own
    # export alive and still blocks close(); the view itself goes.
    # (try/except, not contextlib.suppress: this runs once per chunk.)
    try:  # noqa: SIM105
        view.release()
    except BufferError:
        pass


def iter_views(m: MappingBase, size: int, readonly: bool = True) -> SizedIterator[memoryview]:
    """Views of ``size`` bytes, each released when the iteration moves on.

    Releasing them is what lets ``for v in m.chunks(n): ...`` inside a
    ``with`` block close cleanly: the loop variable would otherwise keep the
    last view (and the mapping's export) alive. The views are made natively
    (``Mapping._chunk_views``): a generator cost ``pages()`` more per page
    than making the view.
    """
    ra = read_ahead(m, size)
    return m._chunk_views(size, readonly, None if ra is None else ra.at)


def iter_chunks_owned(m: MappingBase, size: int) -> Iterator[bytes]:
    """``bytes`` copies of ``size`` bytes; the last may be shorter."""
    total = len(m)
    read = m.read_bytes
    ra = read_ahead(m, size)
    due = 0 if ra is not None else total
    for off in range(0, total, size):
        if off >= due:
            due = ra.at(off)  # type: ignore[union-attr]
        yield read(off, min(size, total - off))


class ChunksMut:
    """Writable views over a mapping in ``size``-byte strides.

    Iterate it for ``memoryview``s, or call :meth:`for_each_mut`::

        >>> m.chunks_mut(4096).for_each_mut(lambda off, view: view.__setitem__(0, 1))
    """

    __slots__ = ("_m", "_size")

    def __init__(self, m: MappingBase, size: int) -> None:
        self._m = m
        self._size = check_chunk_size(size, m)
        m._check_writable()

    def __len__(self) -> int:
        return chunk_count(len(self._m), self._size)

    def __iter__(self) -> Iterator[memoryview]:
        return iter_views(self._m, self._size, readonly=False)

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
            view = m.as_slice_mut(off, min(size, total - off))
            try:
                fn(off, view)
            finally:
                _release(view)

    def __repr__(self) -> str:
        return f"<ChunksMut size={self._size} of {self._m!r}>"
