"""Segments: a named window (offset, length) into a mapping.

A segment holds the mapping, not a buffer: it does not block ``close()``
or ``resize()``, and its bounds are checked again on every access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import out_of_bounds

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from ._base import MappingBase

__all__ = ["Segment", "SegmentMut"]


class Segment:
    """A read-only window ``[offset, offset+length)`` of a mapping.

    >>> seg = Segment(m, 16, 8)          # or m.segment(16, 8)
    >>> bytes(seg.as_slice()) == m.read_bytes(16, 8)
    True
    """

    __slots__ = ("_length", "_offset", "_parent")

    def __init__(self, parent: MappingBase, offset: int, length: int) -> None:
        parent._check_range(offset, length)
        self._parent = parent
        self._offset = offset
        self._length = length

    @property
    def parent(self) -> MappingBase:
        """The mapping this segment looks into.

        >>> m.segment(0, 4).parent is m
        True
        """
        return self._parent

    @property
    def offset(self) -> int:
        """Start of the segment within the parent.

        >>> m.segment(16, 8).offset
        16
        """
        return self._offset

    def __len__(self) -> int:
        return self._length

    def is_empty(self) -> bool:
        """True when the segment has length zero.

        >>> m.segment(4, 0).is_empty(), m.segment(0, 4).is_empty()
        (True, False)
        """
        return self._length == 0

    def as_slice(self) -> memoryview:
        """Zero-copy read-only view of the segment.

        >>> len(m.segment(0, 4).as_slice())
        4
        """
        return self._parent.as_slice(self._offset, self._length)

    def read_bytes(self) -> bytes:
        """Copy of the segment's bytes.

        >>> m.segment(0, 2).read_bytes()
        b'he'
        """
        return self._parent.read_bytes(self._offset, self._length)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} offset={self._offset} length={self._length} "
            f"of {self._parent!r}>"
        )


class SegmentMut(Segment):
    """A writable window of a read-write or copy-on-write mapping.

    >>> segm = m.segment_mut(0, 5)
    >>> segm.write(b"HELLO")
    """

    __slots__ = ()

    def __init__(self, parent: MappingBase, offset: int, length: int) -> None:
        parent._check_range(offset, length, writable=True)
        super().__init__(parent, offset, length)

    def as_slice_mut(self) -> memoryview:
        """Zero-copy writable view of the segment.

        >>> m.segment_mut(0, 1).as_slice_mut()[0] = 0x41
        """
        return self._parent.as_slice_mut(self._offset, self._length)

    def write(self, data: Buffer, offset: int = 0) -> None:
        """Copy ``data`` into the segment at ``offset`` (relative to the segment).

        More bytes than fit raise :class:`OutOfBoundsError`.

        >>> m.segment_mut(8, 4).write(b"abcd")
        """
        n = memoryview(data).nbytes
        if offset < 0 or n > self._length - offset:
            raise out_of_bounds(
                offset,
                n,
                self._length,
                self._parent.path,
                within=f"the segment at offset {self._offset}",
            )
        # The whole segment must still lie inside the parent (which may
        # have shrunk), not just the bytes written now.
        total = len(self._parent)
        if self._offset + self._length > total:
            raise out_of_bounds(self._offset, self._length, total, self._parent.path)
        self._parent.update_region(self._offset + offset, data)
