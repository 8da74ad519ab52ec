"""Read-ahead for the consumers that know they read a mapping in order.

``chunks()``, ``pages()``, their ``_owned`` forms, the reader and
``touch_pages`` walk a mapping front to back. When the kernel reads ahead
on page faults by itself (the default advice, ``NORMAL``, ``SEQUENTIAL``)
they leave it alone: measured on a cold 512 MiB scan in 1 MiB chunks, the
fault path kept up with ``readinto`` (0.5x to 0.8x its time), and
``MADV_WILLNEED`` windows of 8 or 16 MiB on top made it 1.2x to 2.3x
slower (the kernel reads a ``WILLNEED`` range in page-sized folios
instead of the large folios of its own read-ahead, and the pages it
brings in carry no read-ahead marks, so its own read-ahead stops).
``MADV_POPULATE_READ`` windows were no faster than plain faults, and
synchronous: with small windows 4x slower.

With ``MmapAdvice.RANDOM`` the kernel reads only the faulting page, and a
scan stalls on one disk read per page: 15 to 25 s for that scan, 30x to
36x the default advice. There :class:`ReadAhead` keeps a window ahead of
the cursor with ``madvise(MADV_WILLNEED)`` (0.65 to 1.7 s, 1.2x to 1.6x
the default advice): one check per half window, and hints only for pages
not cached yet.

The kernel caps each ``WILLNEED`` call at the device's read-ahead
(``max(read_ahead_kb, max_sectors_kb)``) and silently drops the rest, so
the hints go out in pieces no bigger than that cap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .enums import MmapAdvice
from .errors import MmapIoError

if TYPE_CHECKING:
    from ._base import MappingBase

__all__ = ["ReadAhead", "read_ahead", "read_ahead_window", "willneed_piece"]

MiB = 1 << 20
# A cold scan of an advice=RANDOM mapping in 1 MiB chunks took 1.25 s with
# 4 or 8 MiB windows, 0.85 s with 16 or 32 MiB (the default advice: 0.72 s).
MIN_WINDOW = 16 * MiB
MAX_WINDOW = 64 * MiB
# force_page_cache_ra() reads in 2 MiB steps: bigger pieces gain nothing.
MAX_PIECE = 2 * MiB
# What WILLNEED reads at least where the device's figures are unknown
# (the kernel's default read_ahead_kb).
DEFAULT_PIECE = 128 << 10

_pieces: dict[int, int] = {}


def read_ahead_window(size: int) -> int:
    """How far ahead of the cursor a consumer of ``size``-byte steps reads.

    Two steps, at least 16 MiB and at most 64 MiB.

    >>> read_ahead_window(4096) >> 20, read_ahead_window(1 << 30) >> 20
    (16, 64)
    """
    return min(max(MIN_WINDOW, 2 * size), MAX_WINDOW)


def _read_kb(*paths: str) -> int | None:
    for path in paths:
        try:
            with open(path) as f:
                return int(f.read()) << 10
        except (OSError, ValueError):
            continue
    return None


def willneed_piece(fd: int) -> int:
    """The most one ``MADV_WILLNEED`` call reads on ``fd``'s device.

    From sysfs (the device's ``read_ahead_kb`` and ``max_sectors_kb``, of
    the whole disk for a partition), capped at 2 MiB; 128 KiB where they
    cannot be read. Cached per device.

    >>> willneed_piece(m.fileno())
    2097152
    """
    try:
        dev = os.fstat(fd).st_dev
    except OSError:
        return DEFAULT_PIECE
    piece = _pieces.get(dev)
    if piece is None:
        block = f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"
        ra = _read_kb(
            f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb",
            f"{block}/../bdi/read_ahead_kb",
        )
        io = _read_kb(f"{block}/queue/max_sectors_kb", f"{block}/../queue/max_sectors_kb")
        known = [n for n in (ra, io) if n]
        piece = min(max(known), MAX_PIECE) if known else DEFAULT_PIECE
        _pieces[dev] = piece
    return piece


class ReadAhead:
    """Keeps ``MADV_WILLNEED`` a window ahead of a cursor moving forward.

    Call :meth:`at` with the cursor's position once it reaches the
    position the last call returned (half a window on), then one ``mincore`` of the next
    half window and, for the pieces not cached, one ``madvise`` each.
    Errors are ignored: a hint must never fail a read.

    Nothing is hinted past ``end`` (the end of what the caller will read).

    >>> ra = ReadAhead(m, 1 << 20, m.fileno(), 0, len(m))
    >>> ra.at(0) >> 20
    8
    """

    __slots__ = ("_asked", "_end", "_m", "_next", "_piece", "_window")

    def __init__(self, m: MappingBase, step: int, fd: int, start: int, end: int) -> None:
        self._m = m
        self._window = read_ahead_window(step)
        self._piece = willneed_piece(fd)
        self._end = end
        self._asked = start  # hinted up to here
        self._next = start  # hint again once the cursor reaches this

    def at(self, pos: int) -> int:
        """The cursor is at ``pos``: top the window up if it is half used.

        Returns the position to call again at, so that a loop can skip the
        call until then: ``if off >= due: due = ra.at(off)``.
        """
        if pos < self._next:
            return self._next
        start = max(self._asked, pos)
        end = min(pos + self._window, self._end)
        self._next = pos + self._window // 2
        if start < end:
            self._asked = end
            self._hint(start, end)
        return self._next

    def _hint(self, start: int, end: int) -> None:
        m, piece = self._m, self._piece
        try:
            first, page, pages, resident = m._residency(start, end - start)
            if resident == len(pages):
                return
            for off in range(start, end, piece):
                n = min(piece, end - off)
                if b"\x00" in pages[(off - first) // page : (off + n - first - 1) // page + 1]:
                    m._advise(off, n, MmapAdvice.WILL_NEED.value)
        except (OSError, MmapIoError):
            pass  # closed or resized meanwhile: the read itself will say so


def read_ahead(
    m: MappingBase, step: int, start: int = 0, end: int | None = None
) -> ReadAhead | None:
    """A :class:`ReadAhead` for a scan of ``m[start:end]`` in ``step``-byte
    steps, or ``None`` where the kernel reads ahead by itself (see the
    module notes).

    >>> read_ahead(MemoryMappedFile.open_ro("big.bin"), 1 << 20) is None
    True
    """
    fd = m._read_ahead_fd()
    if fd is None:
        return None
    return ReadAhead(m, step, fd, start, len(m) if end is None else end)
