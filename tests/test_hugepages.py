"""huge_pages=True and is_hugepage_backed(), against the running kernel.

Explicit huge pages (MAP_HUGETLB) need a reserved pool; without one the
mapping falls back to transparent huge pages (MADV_HUGEPAGE), never an
error. Whether THP is on decides what is_hugepage_backed() can report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmap_io import (
    AnonymousMmap,
    MappingClosedError,
    MemoryMappedFile,
    MmapAdvice,
    MmapMode,
    page_size,
)
from mmap_io.residency import SmapsEntry, hugepage_backed, smaps_entries

PS = page_size()
MIB = 1 << 20
THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"


def thp_mode() -> str | None:
    """'always', 'madvise' or 'never' (None when the kernel has no THP)."""
    try:
        with open(THP_PATH) as f:
            text = f.read()
    except OSError:
        return None
    return text.split("[", 1)[1].split("]", 1)[0]


needs_thp = pytest.mark.skipif(
    thp_mode() not in ("always", "madvise"), reason="transparent huge pages are off"
)
needs_smaps = pytest.mark.skipif(
    not os.path.exists("/proc/self/smaps"), reason="no /proc/self/smaps"
)


def vma(m: MemoryMappedFile | AnonymousMmap) -> list[SmapsEntry]:
    entries = smaps_entries(m.as_ptr(), m.as_ptr() + len(m))
    assert entries
    return entries


@pytest.fixture
def huge_anon() -> Iterator[AnonymousMmap]:
    with AnonymousMmap(64 * MIB, huge_pages=True) as a:
        yield a


@needs_thp
@needs_smaps
def test_anonymous_huge_pages_after_touching(huge_anon: AnonymousMmap) -> None:
    a = huge_anon
    assert a.is_hugepage_backed() is False  # nothing faulted in yet
    # Write-touch every page (a read of untouched anonymous memory maps the
    # shared zero page, which backs nothing).
    a.as_slice_mut(0, len(a))[:] = b"\x01" * len(a)
    assert a.is_hugepage_backed() is True
    anon_huge_kb = sum(e.kb("AnonHugePages") for e in vma(a))
    assert anon_huge_kb >= 32 * 1024  # most of the 64 MiB is in 2 MiB pages
    flags = {f for e in vma(a) for f in e.flags}
    assert "hg" in flags or "ht" in flags  # MADV_HUGEPAGE, or a HugeTLB area
    assert a.read_bytes(len(a) - 4, 4) == b"\x01" * 4
    # Dropping the memory leaves nothing huge behind.
    a.advise(0, len(a), MmapAdvice.DONT_NEED)
    assert a.is_hugepage_backed() is False


@needs_thp
@needs_smaps
def test_populate_write_gives_huge_pages(huge_anon: AnonymousMmap) -> None:
    huge_anon.advise(0, len(huge_anon), MmapAdvice.POPULATE_WRITE)
    assert huge_anon.is_hugepage_backed() is True
    assert huge_anon.residency().fraction == 1.0


@needs_smaps
def test_without_the_hint_madvise_mode_stays_small() -> None:
    if thp_mode() != "madvise":
        pytest.skip("only meaningful when THP is in madvise mode")
    with AnonymousMmap(16 * MIB) as a:
        a.as_slice_mut(0, len(a))[:] = b"\x02" * len(a)
        assert a.is_hugepage_backed() is False
        # Ask afterwards: NO_HUGEPAGE then HUGEPAGE on a fresh range.
        a.advise(0, len(a), MmapAdvice.DONT_NEED)
        a.advise(0, len(a), MmapAdvice.HUGEPAGE)
        a.as_slice_mut(0, len(a))[:] = b"\x03" * len(a)
        assert a.is_hugepage_backed() is True
        a.advise(0, len(a), MmapAdvice.DONT_NEED)
        a.advise(0, len(a), MmapAdvice.NO_HUGEPAGE)
        a.as_slice_mut(0, len(a))[:] = b"\x04" * len(a)
        assert a.is_hugepage_backed() is False


@pytest.mark.parametrize("mode", list(MmapMode), ids=lambda m: m.name)
def test_file_mappings_accept_huge_pages(tmp_path: Path, mode: MmapMode) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(8 * MIB)
    path.write_bytes(data)
    m = MemoryMappedFile.builder(path).mode(mode).huge_pages(True).open()
    with m:
        m.touch_pages()
        assert m.read_bytes(0, 64) == data[:64]
        assert m.is_hugepage_backed() in (True, False)
        if os.path.exists("/proc/self/smaps") and thp_mode() in ("always", "madvise"):
            assert "hg" in {f for e in vma(m) for f in e.flags}  # MADV_HUGEPAGE was applied


def test_huge_pages_never_fail_for_odd_sizes() -> None:
    for size in (1, PS + 1, 2 * MIB - 1, 2 * MIB + 1):
        with AnonymousMmap(size, huge_pages=True) as a:
            assert len(a) == size
            a.update_region(size - 1, b"z")
            assert a.read_bytes(size - 1, 1) == b"z"
            assert a.is_hugepage_backed() in (True, False, None)


def test_is_hugepage_backed_edges(tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with MemoryMappedFile.open_ro(empty) as m:
        assert m.is_hugepage_backed() is False  # no pages at all
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * PS)
    m = MemoryMappedFile.open_ro(small)
    m.touch_pages()
    if os.path.exists("/proc/self/smaps"):
        assert m.is_hugepage_backed() is False  # one 4 KiB page
    m.close()
    with pytest.raises(MappingClosedError):
        m.is_hugepage_backed()
    a = AnonymousMmap(PS)
    a.close()
    with pytest.raises(MappingClosedError):
        a.is_hugepage_backed()


def test_smaps_parser_reads_the_kernel_format(tmp_path: Path) -> None:
    sample = tmp_path / "smaps"
    sample.write_text(
        "00400000-00600000 r-xp 00000000 08:01 123 /bin/x\n"
        "Size:               2048 kB\n"
        "KernelPageSize:        4 kB\n"
        "Rss:                 100 kB\n"
        "AnonHugePages:         0 kB\n"
        "THPeligible:    0\n"
        "VmFlags: rd ex mr mw me\n"
        "7f0000000000-7f0040000000 rw-s 00000000 00:0f 9 /dev/hugepages/h (deleted)\n"
        "Size:            1048576 kB\n"
        "KernelPageSize:  1048576 kB\n"
        "Shared_Hugetlb:  1048576 kB\n"
        "VmFlags: rd wr sh mr mw me ms de ht\n"
    )
    entries = smaps_entries(0x500000, 0x7F0000001000, path=str(sample))
    assert entries is not None and len(entries) == 2
    first, second = entries
    assert (first.start, first.end, first.perms) == (0x400000, 0x600000, "r-xp")
    assert first.kb("Rss") == 100 and first.kb("Missing") == 0
    assert "THPeligible" not in first.fields and first.flags[-1] == "me"
    assert second.kb("Shared_Hugetlb") == 1 << 20 and "ht" in second.flags
    assert smaps_entries(0x600000, 0x7F0000000000, path=str(sample)) == []
    assert smaps_entries(0, 1, path=str(tmp_path / "missing")) is None


@needs_smaps
def test_hugepage_backed_unknown_range_is_none() -> None:
    # An address range no mapping covers: the kernel has nothing to say.
    assert hugepage_backed(PS, PS, PS) is None
