"""File-like streams over a mapping: MmapReader and MmapWriter.

Both are seekable ``io.RawIOBase`` objects that hold the mapping (not a
buffer), so they never block ``close()``; used after the mapping closed they
raise :class:`MappingClosedError`.
"""

from __future__ import annotations

import io
import operator
import os
from typing import TYPE_CHECKING

from .readahead import ReadAhead, read_ahead

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from ._base import MappingBase

__all__ = ["MmapReader", "MmapWriter"]

_LINE_CHUNK = 8192


class _MmapStream(io.RawIOBase):
    def __init__(self, m: MappingBase) -> None:
        super().__init__()
        len(m)  # closed check
        self._m = m
        self._pos = 0

    def seekable(self) -> bool:
        """Always ``True``.

        >>> m.reader().seekable()
        True
        """
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset`` relative to ``whence`` (``SEEK_SET``, ``SEEK_CUR``
        or ``SEEK_END``) and return the new position.

        Seeking past the end is allowed (reads then return ``b""``); a
        negative result raises ``ValueError``.

        >>> r = m.reader()
        >>> r.seek(-4, os.SEEK_END) == len(m) - 4
        True
        """
        self._checkClosed()
        offset = operator.index(offset)  # TypeError for floats, like FileIO
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = len(self._m) + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2) in {self!r}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos} in {self!r}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        """The current position.

        >>> r = m.reader(); r.read(3); r.tell()
        b'hel'
        3
        """
        self._checkClosed()
        return self._pos

    @property
    def position(self) -> int:
        """The current offset into the mapping (like :meth:`tell`).

        >>> r = m.reader(); r.seek(10); r.position
        10
        10
        """
        return self._pos

    def set_position(self, pos: int) -> None:
        """Move to ``pos`` (same as ``seek(pos)``).

        >>> r = m.reader(); r.set_position(6); r.read(5)
        b'world'
        """
        self.seek(pos)

    @property
    def mapping(self) -> MappingBase:
        """The mapping this stream reads or writes.

        >>> m.reader().mapping is m
        True
        """
        return self._m

    def __repr__(self) -> str:
        return f"<{type(self).__name__} position={self._pos} of {self._m!r}>"


class MmapReader(_MmapStream):
    """A readable, seekable stream over a mapping (from ``m.reader()``).

    >>> r = m.reader()
    >>> r.read(5)
    b'hello'
    >>> r.seek(0); r.readline()
    0
    b'hello world\\n'
    """

    def __init__(self, m: MappingBase) -> None:
        super().__init__(m)
        # Read-ahead (readahead.py) for reads that each start where the
        # last one ended; a seek elsewhere drops it until reads are
        # sequential again.
        self._wants_ra = m._read_ahead_fd() is not None
        self._ra: ReadAhead | None = None
        self._seq_pos = 0

    def readable(self) -> bool:
        """Always ``True``.

        >>> m.reader().readable()
        True
        """
        return True

    def _remaining(self) -> int:
        return max(0, len(self._m) - self._pos)

    def _ahead(self, n: int) -> None:
        pos = self._pos
        if pos != self._seq_pos:
            self._ra = None
        elif self._ra is None:
            self._ra = read_ahead(self._m, n, pos)
        if self._ra is not None:
            self._ra.at(pos)
        self._seq_pos = pos + n

    def readinto(self, b: Buffer) -> int:
        """Copy up to ``len(b)`` bytes into the writable buffer ``b``; return the count.

        >>> buf = bytearray(5)
        >>> m.reader().readinto(buf), buf
        (5, bytearray(b'hello'))
        """
        self._checkClosed()
        view = memoryview(b).cast("B")
        n = min(view.nbytes, self._remaining())
        if n:
            if self._wants_ra:
                self._ahead(n)
            self._m.read_into(self._pos, view[:n])
            self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest for ``-1`` or ``None``); ``b""`` at the end.

        >>> m.reader().read(5)
        b'hello'
        """
        self._checkClosed()
        remaining = self._remaining()
        n = remaining if size is None or size < 0 else min(size, remaining)
        if n and self._wants_ra:
            self._ahead(n)
        data = self._m.read_bytes(self._pos, n) if n else b""
        self._pos += n
        return data

    def readall(self) -> bytes:
        """Everything from the position to the end of the mapping.

        >>> r = m.reader(); r.seek(len(m) - 2); r.readall()
        4094
        b'\\x00\\x00'
        """
        return self.read(-1)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, up to and including ``b"\\n"`` (at most ``size`` bytes).

        >>> m.reader().readline()
        b'hello world\\n'
        """
        self._checkClosed()
        limit = self._remaining()
        if size is not None and size >= 0:
            limit = min(limit, size)
        parts = []
        got = 0
        while got < limit:
            chunk = self._m.read_bytes(self._pos + got, min(_LINE_CHUNK, limit - got))
            nl = chunk.find(b"\n")
            if nl >= 0:
                parts.append(chunk[: nl + 1])
                got += nl + 1
                break
            parts.append(chunk)
            got += len(chunk)
        self._pos += got
        return b"".join(parts)


class MmapWriter(_MmapStream):
    """A writable, seekable stream over a read-write mapping (``m.writer()``).

    Writes go through ``update_region`` (they count toward the flush policy);
    writing past the end of the mapping raises :class:`OutOfBoundsError`.

    >>> w = m.writer()
    >>> w.write(b"hello")
    5
    """

    def writable(self) -> bool:
        """Always ``True``.

        >>> m.writer().writable()
        True
        """
        return True

    def write(self, b: Buffer) -> int:
        """Write all of ``b`` at the position and return its length.

        Goes through ``update_region``, so it counts toward the flush
        policy. Writing past the end raises :class:`OutOfBoundsError` and
        writes nothing.

        >>> w = m.writer(); w.seek(6); w.write(b"there")
        6
        5
        """
        self._checkClosed()
        n = memoryview(b).nbytes
        # update_region checks the range (and writes nothing outside it).
        self._m.update_region(self._pos, b)
        self._pos += n
        return n

    def flush(self) -> None:
        """Flush the mapping (``m.flush()``); a no-op once closed.

        >>> w = m.writer(); w.write(b"hi"); w.flush()
        2
        """
        if not self.closed and not self._m.closed:
            flush = getattr(self._m, "flush", None)
            if flush is not None:
                flush()
