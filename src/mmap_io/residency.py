"""Python-side pieces of the memory syscalls: residency results and smaps.

:class:`Residency` is what :meth:`MemoryMappedFile.residency` returns (the
native core does the ``mincore(2)`` call). :func:`smaps_entries` reads the
kernel's per-mapping statistics from ``/proc/self/smaps``, which is where
:meth:`MemoryMappedFile.is_hugepage_backed` looks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Residency", "SmapsEntry", "hugepage_backed", "smaps_entries"]

SMAPS_PATH = "/proc/self/smaps"

# "7f2c5a200000-7f2c5e200000 rw-p 00000000 00:00 0    [heap]"
_HEADER = re.compile(rb"^([0-9a-f]+)-([0-9a-f]+) (\S+) [^\n]*$", re.M)
# "AnonHugePages:     63488 kB"
_FIELD = re.compile(rb"^(\w+):\s+(\d+) kB$", re.M)
_FLAGS = re.compile(rb"^VmFlags:([^\n]*)$", re.M)

# smaps fields (in kB) that are non-zero only for huge-page-backed memory.
_HUGE_FIELDS = (
    "AnonHugePages",
    "ShmemPmdMapped",
    "FilePmdMapped",
    "Shared_Hugetlb",
    "Private_Hugetlb",
)


@dataclass(frozen=True)
class Residency:
    """Page-cache residency of a range of a mapping, from ``mincore(2)``.

    ``pages`` holds one byte per page (1 resident, 0 not) starting at byte
    ``offset`` of the mapping (the range widened outward to whole pages).

    >>> r = m.residency()
    >>> r.resident, r.total, r.fraction
    (16, 16, 1.0)
    >>> r.pages[:4]
    b'\\x01\\x01\\x01\\x01'
    """

    offset: int
    page_size: int
    pages: bytes = field(repr=False)
    resident: int

    @property
    def total(self) -> int:
        """Number of pages in the range.

        >>> m.residency(0, 3 * 4096).total
        3
        """
        return len(self.pages)

    @property
    def fraction(self) -> float:
        """``resident / total`` (1.0 for an empty range).

        >>> m.residency(0, 0).fraction
        1.0
        """
        return self.resident / len(self.pages) if self.pages else 1.0

    def __len__(self) -> int:
        return len(self.pages)

    def __iter__(self) -> Iterator[bool]:
        """One bool per page.

        >>> list(m.residency(0, 8192))
        [True, True]
        """
        return (b == 1 for b in self.pages)

    def resident_ranges(self) -> Iterator[tuple[int, int]]:
        """``(offset, length)`` byte runs of consecutive resident pages.

        >>> list(m.residency().resident_ranges())
        [(0, 65536)]
        """
        ps = self.page_size
        for match in re.finditer(rb"\x01+", self.pages):
            yield self.offset + match.start() * ps, (match.end() - match.start()) * ps

    def __repr__(self) -> str:
        return (
            f"Residency(offset={self.offset}, resident={self.resident}, "
            f"total={self.total}, fraction={self.fraction:.3f})"
        )


@dataclass(frozen=True)
class SmapsEntry:
    """One virtual memory area from ``/proc/self/smaps``.

    ``fields`` maps the kB-valued lines (``Rss``, ``AnonHugePages``,
    ``Locked``, ...) to their values in kB; ``flags`` are the ``VmFlags``.
    """

    start: int
    end: int
    perms: str
    fields: dict[str, int]
    flags: tuple[str, ...]

    def kb(self, name: str) -> int:
        """The value of field ``name`` in kB (0 if absent)."""
        return self.fields.get(name, 0)


def _read_until(path: str, end: int) -> bytes | None:
    """Read smaps until an area starting at or after ``end`` shows up.

    The kernel walks each area's page tables as the file is read, so
    stopping early skips the cost of every area above the range.
    """
    chunks: list[bytes] = []
    try:
        with open(path, "rb", buffering=0) as f:
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                # Areas come in address order: once one starts at or past
                # `end`, every area overlapping the range is complete.
                if any(int(h.group(1), 16) >= end for h in _HEADER.finditer(chunk)):
                    break
    except OSError:
        return None
    return b"".join(chunks)


def smaps_entries(start: int, end: int, path: str = SMAPS_PATH) -> list[SmapsEntry] | None:
    """The smaps entries overlapping ``[start, end)``; ``None`` if unreadable.

    >>> addr = m.as_ptr()
    >>> [e.kb("Rss") for e in smaps_entries(addr, addr + len(m))]
    [64]
    """
    text = _read_until(path, end)
    if text is None:
        return None
    headers = list(_HEADER.finditer(text))
    out = []
    for i, h in enumerate(headers):
        lo, hi = int(h.group(1), 16), int(h.group(2), 16)
        if hi <= start or lo >= end:
            continue
        body_end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        body = text[h.end() : body_end]
        fields = {k.decode(): int(v) for k, v in _FIELD.findall(body)}
        fm = _FLAGS.search(body)
        flags = tuple(fm.group(1).decode().split()) if fm else ()
        out.append(SmapsEntry(lo, hi, h.group(3).decode(), fields, flags))
    return out


def hugepage_backed(start: int, length: int, page_size: int) -> bool | None:
    """Whether any of ``[start, start+length)`` is backed by huge pages.

    ``None`` when unknown: no ``/proc/self/smaps`` (not Linux) or no entry
    for the range. ``False`` for an empty range.
    """
    if length == 0:
        return False
    entries = smaps_entries(start, start + length)
    if not entries:
        return None
    for e in entries:
        if any(e.kb(name) > 0 for name in _HUGE_FIELDS):
            return True
        # A hugetlbfs area: every page it ever gets is a huge page.
        if e.kb("KernelPageSize") * 1024 > page_size:
            return True
    return False
