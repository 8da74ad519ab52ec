"""What file-backed and anonymous mappings share, on top of the native core.

The hot methods (``as_slice``, ``read_bytes``, ``update_region``, ...) are
the native ``_core.Mapping`` methods themselves, inherited unchanged: a
Python wrapper would double their cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _core
from ._validate import check_chunk_size, check_type
from .enums import MmapAdvice
from .errors import MappingClosedError
from .iteration import ChunksMut, SizedIterator, chunk_count, iter_chunks_owned, iter_views
from .readahead import read_ahead, read_ahead_window
from .residency import Residency, hugepage_backed
from .segments import Segment, SegmentMut
from .streams import MmapReader, MmapWriter

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt
    from typing_extensions import Self

__all__ = ["MappingBase"]

# AtomicSlice implements the whole Sequence protocol natively (len, items,
# slices, iteration, reversed, in, index, count); registering it makes
# isinstance(arr, Sequence) say so.
Sequence.register(_core.AtomicSlice)


class MappingBase(_core.Mapping):
    """Common surface of :class:`MemoryMappedFile` and :class:`AnonymousMmap`."""

    __slots__ = ()

    @property
    def path(self) -> Path | None:  # overridden by MemoryMappedFile
        return None

    # -- lifecycle --------------------------------------------------------

    def _check_open(self) -> None:
        """Raise :class:`MappingClosedError` if the mapping is closed.

        The native length check does it, with the core's message.
        """
        _core.Mapping.__len__(self)

    def _check_range(self, offset: int, length: int, *, writable: bool = False) -> None:
        """Raise what ``as_slice`` (``as_slice_mut`` if ``writable``) raises for
        ``[offset, offset+length)``: bad types, closed, out of bounds, read-only."""
        (self.as_slice_mut if writable else self.as_slice)(offset, length).release()

    def _check_writable(self) -> None:
        """Raise what ``as_slice_mut`` raises on a closed or read-only mapping."""
        self._check_range(0, 0, writable=True)

    def __enter__(self) -> Self:
        """Return the mapping itself (``MappingClosedError`` once closed)."""
        if self.closed:
            raise MappingClosedError(f"{self!r} is closed")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """:meth:`close` the mapping; views still alive keep its memory until released."""
        self.close()

    def _state_text(self) -> str:
        """``len=N``, ``closed``, or what a deferred close waits for (for repr)."""
        if not self.closed:
            return f"len={len(self)}"
        views = self._views
        return f"closed, kept alive by {views}" if views else "closed"

    # -- iteration --------------------------------------------------------

    def chunks(self, size: int) -> SizedIterator[memoryview]:
        """Zero-copy read-only views of ``size`` bytes (the last may be shorter).

        Each view is released when the iteration moves on (like a borrow):
        use it inside the loop, or copy it (``bytes(view)``, or
        :meth:`chunks_owned`) to keep the data. ``len()`` of the iterator
        is the number of views still to come (ceil(len(m) / size) at
        first, 0 for an empty mapping). ``size < 1`` is a ``ValueError``.

        >>> import zlib
        >>> crc = 0
        >>> for view in m.chunks(1 << 16):
        ...     crc = zlib.crc32(view, crc)
        >>> len(m.chunks(4096)) == -(-len(m) // 4096)
        True
        """
        check_chunk_size(size, self)
        return iter_views(self, size)

    def pages(self) -> SizedIterator[memoryview]:
        """``chunks(page_size())``.

        >>> sum(len(p) for p in m.pages()) == len(m)
        True
        >>> len(m.pages()) == -(-len(m) // page_size())
        True
        """
        return self.chunks(_core.page_size())

    def chunks_owned(self, size: int) -> SizedIterator[bytes]:
        """``bytes`` copies of ``size`` bytes; they survive ``close()``.

        ``len()`` of the iterator is the number of copies still to come.

        >>> blocks = list(m.chunks_owned(4096))
        >>> len(m.chunks_owned(4096)) == len(blocks)
        True
        """
        check_chunk_size(size, self)
        return SizedIterator(iter_chunks_owned(self, size), chunk_count(len(self), size))

    def pages_owned(self) -> SizedIterator[bytes]:
        """``chunks_owned(page_size())``.

        >>> first = next(m.pages_owned())
        """
        return self.chunks_owned(_core.page_size())

    def chunks_mut(self, size: int) -> ChunksMut:
        """Writable views in ``size``-byte strides, with ``.for_each_mut(fn)``.

        Like every writable view, writes through them are not counted by
        ``pending_bytes`` or the flush policies (``every_millis`` and
        ``flush()`` still cover them).

        >>> def zero(offset, view):
        ...     view[:] = bytes(len(view))
        >>> m.chunks_mut(4096).for_each_mut(zero)
        """
        return ChunksMut(self, size)

    # -- windows and streams ---------------------------------------------

    def segment(self, offset: int, length: int) -> Segment:
        """A read-only :class:`Segment` of ``[offset, offset+length)``.

        >>> m.segment(0, 5).read_bytes()
        b'hello'
        """
        return Segment(self, offset, length)

    def segment_mut(self, offset: int, length: int) -> SegmentMut:
        """A writable :class:`SegmentMut` of ``[offset, offset+length)``.

        >>> m.segment_mut(0, 5).write(b"HELLO")
        """
        return SegmentMut(self, offset, length)

    def reader(self) -> MmapReader:
        """A seekable ``io.RawIOBase`` reading the mapping from offset 0.

        >>> import io, json
        >>> json.load(io.TextIOWrapper(io.BufferedReader(m.reader())))  # doctest: +SKIP
        """
        return MmapReader(self)

    def writer(self) -> MmapWriter:
        """A seekable ``io.RawIOBase`` writing into a read-write mapping.

        >>> w = m.writer(); w.write(b"hi")
        2
        """
        self._check_writable()
        return MmapWriter(self)

    def as_array(
        self, dtype: npt.DTypeLike, offset: int = 0, shape: int | Sequence[int] | None = None
    ) -> np.ndarray[Any, np.dtype[Any]]:
        """A zero-copy ``numpy.ndarray`` over the mapping (needs numpy).

        Read-only on read-only mappings: writing to such an array raises
        numpy's own ``ValueError`` ("assignment destination is read-only").
        The array keeps the mapped memory alive: it stays valid after
        ``close()`` (the memory is unmapped when the last such view goes),
        and the mapping cannot be resized or refreshed while it lives.
        Writes through it are not counted by ``pending_bytes`` or the flush
        policies (``every_millis`` and ``flush()`` still cover them). A
        zero-size ``dtype`` raises ``ValueError``.

        >>> a = m.as_array("<u8")
        >>> a[0] = 7
        """
        import numpy as np

        dt = np.dtype(dtype)
        if dt.itemsize == 0:
            raise ValueError(
                f"as_array() needs a dtype with items, not the zero-size {dt} ({self!r})"
            )
        total = len(self)
        dims: tuple[int, ...] | None = None
        if shape is None:
            count = (total - offset) // dt.itemsize if 0 <= offset <= total else 0
            nbytes = count * dt.itemsize
        else:
            dims = (shape,) if isinstance(shape, int) else tuple(shape)
            nbytes = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
        view = self._array_view(offset, nbytes, self._access != _core.ACCESS_READ)
        arr = np.frombuffer(view, dtype=dt)
        return arr if dims is None else arr.reshape(dims)

    # The same native method under the name Rust's slices use.
    as_mut_slice = _core.Mapping.as_slice_mut

    # -- OS hints and memory control --------------------------------------
    # prefetch_range, lock, unlock, lock_all and unlock_all are native
    # methods, inherited unchanged.

    def _read_ahead_fd(self) -> int | None:
        """The descriptor sequential consumers read ahead on, or ``None``
        when the kernel reads ahead on faults by itself (see readahead.py)."""
        return None

    def touch_pages(self) -> None:
        """Fault every page of the mapping in by reading one byte per page.

        One native loop, with the GIL released from 64 KiB up. Raises
        :class:`FileTruncatedError` if the backing file lost pages
        (truncated by someone else).

        >>> m.touch_pages()
        >>> m.residency().fraction
        1.0
        """
        if self._read_ahead_fd() is None:
            _core.Mapping.touch_pages(self)
        else:
            self.touch_pages_range(0, len(self))

    def touch_pages_range(self, offset: int, length: int, /) -> None:
        """:meth:`touch_pages` for the pages overlapping ``[offset, offset+length)``.

        >>> m.touch_pages_range(0, 64 * 1024)
        """
        if length is None or self._read_ahead_fd() is None:
            _core.Mapping.touch_pages_range(self, offset, length)
            return
        # The core's range checks, and the range widened to whole pages.
        first, page, pages, _ = self._residency(offset, length)
        end = min(first + len(pages) * page, len(self))
        ra = read_ahead(self, 0, first, end)
        step = read_ahead_window(0) // 2
        for pos in range(first, end, step):
            if ra is not None:
                ra.at(pos)
            _core.Mapping.touch_pages_range(self, pos, min(step, end - pos))

    def advise(self, offset: int, length: int, advice: MmapAdvice) -> None:
        """``madvise`` on ``[offset, offset+length)``, widened outward to whole pages.

        Raises :class:`AdviceFailedError` (with ``errno``) when the kernel
        refuses, or EINVAL when the platform lacks the advice. A zero
        length is a no-op.

        >>> m.advise(0, len(m), MmapAdvice.SEQUENTIAL)
        >>> m.advise(0, 1 << 20, MmapAdvice.WILL_NEED)
        """
        check_type(advice, MmapAdvice, "advice", on=self)
        self._advise(offset, length, advice.value)

    def residency(self, offset: int = 0, length: int | None = None) -> Residency:
        """Which pages of ``[offset, offset+length)`` are in memory (``mincore``).

        ``length=None`` means to the end. For a file mapping this is the
        page cache: a page counts as resident if the file's page is cached,
        even if this mapping never touched it.

        >>> m.touch_pages()
        >>> r = m.residency()
        >>> r.resident == r.total
        True
        """
        start, page, pages, resident = self._residency(offset, length)
        return Residency(start, page, pages, resident)

    def is_hugepage_backed(self) -> bool | None:
        """Whether the kernel backs any of this mapping with huge pages now.

        Read from ``/proc/self/smaps`` (``AnonHugePages``, ``FilePmdMapped``,
        ``Private_Hugetlb``, ``Shared_Hugetlb`` of the mapping's areas).
        ``None`` when unknown (no smaps, as on macOS). Transparent huge
        pages come and go: this is the state at the moment of the call.

        >>> a = AnonymousMmap(64 << 20, huge_pages=True)
        >>> a.advise(0, len(a), MmapAdvice.POPULATE_WRITE)
        >>> a.is_hugepage_backed()
        True
        """
        return hugepage_backed(self.as_ptr(), len(self), _core.page_size())
