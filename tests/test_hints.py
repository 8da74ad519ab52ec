"""advise, prefetch_range, touch_pages(_range), residency and TouchHint.EAGER.

Residency is checked against the real kernel: pages are evicted with
MADV_DONTNEED (anonymous memory) or posix_fadvise(DONTNEED) on a clean,
flushed file with no live mapping, then brought back.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mmap_io import (
    AdviceFailedError,
    AnonymousMmap,
    FileTruncatedError,
    MappingClosedError,
    MemoryMappedFile,
    MmapAdvice,
    MmapIoError,
    MmapMode,
    OutOfBoundsError,
    Residency,
    TouchHint,
    _core,
    page_size,
)
from mmap_io.residency import smaps_entries

PS = page_size()
OPENERS = {
    MmapMode.READ_ONLY: MemoryMappedFile.open_ro,
    MmapMode.READ_WRITE: MemoryMappedFile.open_rw,
    MmapMode.COPY_ON_WRITE: MemoryMappedFile.open_cow,
}


def evict(path: Path) -> None:
    """Drop a clean file's pages from the page cache (no mapping may be live)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cold_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    evict(path)
    with MemoryMappedFile.open_ro(path) as m:
        if m.residency().resident != 0:
            pytest.skip("this filesystem keeps files in memory (page cache cannot be evicted)")
    return path


def vma_kb(m: MemoryMappedFile | AnonymousMmap, field: str) -> int:
    entries = smaps_entries(m.as_ptr(), m.as_ptr() + len(m))
    assert entries, "the mapping has no /proc/self/smaps entry"
    return sum(e.kb(field) for e in entries)


@pytest.fixture(params=["ro", "rw", "cow", "anon"])
def mapping(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[MemoryMappedFile | AnonymousMmap]:
    """A 64 KiB mapping of each kind."""
    size = 16 * PS
    m: MemoryMappedFile | AnonymousMmap
    if request.param == "anon":
        m = AnonymousMmap(size)
    else:
        path = tmp_path / "data.bin"
        path.write_bytes(os.urandom(size))
        mode = {"ro": MmapMode.READ_ONLY, "rw": MmapMode.READ_WRITE, "cow": MmapMode.COPY_ON_WRITE}
        m = OPENERS[mode[request.param]](path)
    with m:
        yield m


# -- advise -------------------------------------------------------------------

SAFE_ADVICE = [
    a
    for a in MmapAdvice
    if a not in (MmapAdvice.POPULATE_WRITE, MmapAdvice.FREE, MmapAdvice.COLLAPSE)
]


def test_advice_members_are_the_cores_advice_names() -> None:
    # Each member's value is one the core maps to madvise, and the core
    # knows no advice the enum lacks.
    assert sorted(a.value for a in MmapAdvice) == sorted(_core._ADVICE_NAMES)
    assert len(set(_core._ADVICE_NAMES)) == len(_core._ADVICE_NAMES)
    for advice in MmapAdvice:
        assert advice.name.lower() == advice.value


@pytest.mark.parametrize("advice", SAFE_ADVICE, ids=lambda a: a.name)
def test_advise_every_member_on_every_kind(
    mapping: MemoryMappedFile | AnonymousMmap, advice: MmapAdvice
) -> None:
    data = mapping.read_bytes(0, len(mapping))
    # Unaligned on both ends: widened outward to whole pages.
    mapping.advise(100, len(mapping) - 200, advice)
    mapping.advise(0, len(mapping), advice)
    if advice is not MmapAdvice.DONT_NEED or not isinstance(mapping, AnonymousMmap):
        assert mapping.read_bytes(0, len(mapping)) == data


def test_advise_free_and_populate_write_follow_the_kernel(
    mapping: MemoryMappedFile | AnonymousMmap,
) -> None:
    writable = mapping._access != 0
    file_backed = isinstance(mapping, MemoryMappedFile)
    if writable:
        mapping.advise(0, len(mapping), MmapAdvice.POPULATE_WRITE)
        assert mapping.residency().resident == 16
    else:
        with pytest.raises(AdviceFailedError) as ei:
            mapping.advise(0, len(mapping), MmapAdvice.POPULATE_WRITE)
        assert ei.value.errno == errno.EINVAL  # the area is not writable
        assert isinstance(ei.value, OSError)
    # MADV_FREE applies to anonymous memory only (not even COW file pages).
    if file_backed:
        with pytest.raises(AdviceFailedError) as ei:
            mapping.advise(0, len(mapping), MmapAdvice.FREE)
        assert ei.value.errno == errno.EINVAL
    else:
        mapping.advise(0, PS, MmapAdvice.FREE)


def test_advise_dont_need_discards_anonymous_and_cow_changes(tmp_path: Path) -> None:
    with AnonymousMmap(4 * PS) as a:
        a.update_region(PS, b"x" * 10)
        a.advise(PS + 1, 2, MmapAdvice.DONT_NEED)  # widened to the whole page
        assert a.read_bytes(PS, 10) == bytes(10)
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 4 * PS)
    with MemoryMappedFile.open_cow(path) as m:
        m.update_region(0, b"private")
        m.advise(0, PS, MmapAdvice.DONT_NEED)
        assert m.read_bytes(0, 7) == b"aaaaaaa"
    with MemoryMappedFile.open_rw(path) as m:  # shared: the data stays
        m.update_region(0, b"shared!")
        m.advise(0, PS, MmapAdvice.DONT_NEED)
        assert m.read_bytes(0, 7) == b"shared!"


def test_advise_pageout_evicts_clean_file_pages(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(64 * PS))
    evict(path)  # flushed: the pages are clean
    with MemoryMappedFile.open_ro(path) as m:
        m.touch_pages()
        assert m.residency().resident == 64
        m.advise(8 * PS + 1, 8 * PS, MmapAdvice.PAGEOUT)  # pages 8..16
        r = m.residency()
        assert r.pages[8:17] == bytes(9)
        assert r.resident == 64 - 9


def test_advise_errors(mapping: MemoryMappedFile | AnonymousMmap) -> None:
    n = len(mapping)
    mapping.advise(n, 0, MmapAdvice.RANDOM)  # zero length at the end: no-op
    for off, length in [
        (n + 1, 0),
        (-1, 1),
        (0, n + 1),
        (1, n),
        (0, -1),
        (2**64, 1),
        (1, 2**64 - 1),
    ]:
        with pytest.raises(OutOfBoundsError) as ei:
            mapping.advise(off, length, MmapAdvice.NORMAL)
        assert (ei.value.offset, ei.value.length, ei.value.total) == (off, length, n)
    with pytest.raises(TypeError, match="MmapAdvice"):
        mapping.advise(0, 1, "sequential")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MmapAdvice"):
        mapping.advise(0, 1, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="offset"):
        mapping.advise(0.0, 1, MmapAdvice.NORMAL)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="length"):
        mapping.advise(0, "1", MmapAdvice.NORMAL)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown advice"):
        mapping._advise(0, 1, "bogus")
    mapping.close()
    with pytest.raises(MappingClosedError):
        mapping.advise(0, 1, MmapAdvice.NORMAL)


def test_advise_failure_carries_errno_and_path(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 4 * PS)
    with MemoryMappedFile.open_rw(path) as m, pytest.raises(AdviceFailedError) as ei:
        m.advise(0, PS, MmapAdvice.FREE)  # MADV_FREE: private anonymous only
    err = ei.value
    assert isinstance(err, MmapIoError) and isinstance(err, OSError)
    assert err.errno == errno.EINVAL and err.filename == str(path)
    assert "MADV_FREE" in str(err) and "0..4096" in str(err)


def test_collapse_or_einval() -> None:
    with AnonymousMmap(4 << 20) as a:
        a.update_region(0, b"x" * len(a))
        try:
            a.advise(0, len(a), MmapAdvice.COLLAPSE)
        except AdviceFailedError as exc:  # old kernel, or THP disabled
            assert exc.errno in (errno.EINVAL, errno.EAGAIN, errno.ENOMEM)
        assert a.read_bytes(0, 4) == b"xxxx"


# -- prefetch_range -----------------------------------------------------------


def test_prefetch_range_reads_a_cold_file_in(tmp_path: Path) -> None:
    path = cold_file(tmp_path / "cold.bin", 256 * PS)
    with MemoryMappedFile.open_ro(path) as m:
        assert m.residency(0, 64 * PS).resident == 0
        m.prefetch_range(0, 64 * PS)
        deadline = time.monotonic() + 1.5
        while m.residency(0, 64 * PS).resident < 64 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert m.residency(0, 64 * PS).resident == 64


def test_prefetch_range_edges(mapping: MemoryMappedFile | AnonymousMmap) -> None:
    n = len(mapping)
    mapping.prefetch_range(n, 0)
    mapping.prefetch_range(0, 0)
    mapping.prefetch_range(3, n - 5)
    mapping.prefetch_range(0, n)
    with pytest.raises(OutOfBoundsError):
        mapping.prefetch_range(n + 1, 0)
    with pytest.raises(OutOfBoundsError):
        mapping.prefetch_range(0, n + 1)
    with pytest.raises(OutOfBoundsError):
        mapping.prefetch_range(-1, 0)
    with pytest.raises(TypeError):
        mapping.prefetch_range("0", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mapping.prefetch_range(0)  # type: ignore[call-arg]
    mapping.close()
    with pytest.raises(MappingClosedError):
        mapping.prefetch_range(0, 0)


# -- touch_pages ----------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MmapMode), ids=lambda m: m.name)
def test_touch_pages_faults_a_cold_file_in(tmp_path: Path, mode: MmapMode) -> None:
    path = cold_file(tmp_path / "cold.bin", 512 * PS)
    with OPENERS[mode](path) as m:
        m.advise(0, len(m), MmapAdvice.RANDOM)  # no readahead around the faults
        m.touch_pages_range(PS + 10, 3 * PS)  # pages 1..4: unaligned start spans 4 pages
        r = m.residency()
        assert r.pages[:6] == b"\x00\x01\x01\x01\x01\x00"
        assert r.resident == 4
        m.touch_pages()
        assert m.residency().resident == 512
        assert vma_kb(m, "Rss") == 512 * PS // 1024
        if mode is MmapMode.COPY_ON_WRITE:
            assert vma_kb(m, "Anonymous") == 0  # reading did not copy


def test_touch_pages_small_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(b"z" * 5000)  # last page partial
    with MemoryMappedFile.open_ro(path) as m:
        m.touch_pages()
        m.touch_pages_range(4999, 1)
        m.touch_pages_range(5000, 0)
        assert m.residency() == Residency(0, PS, b"\x01\x01", 2)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with MemoryMappedFile.open_ro(empty) as m:
        m.touch_pages()
        m.touch_pages_range(0, 0)
        assert m.residency().total == 0
        with pytest.raises(OutOfBoundsError):
            m.touch_pages_range(0, 1)


@pytest.mark.parametrize("size", [4 * PS, 256 * PS], ids=["gil-held", "gil-released"])
def test_touch_pages_on_truncated_file_raises(tmp_path: Path, size: int) -> None:
    path = tmp_path / "t.bin"
    path.write_bytes(b"q" * size)
    with MemoryMappedFile.open_ro(path) as m:
        os.truncate(path, PS)
        with pytest.raises(FileTruncatedError) as ei:
            m.touch_pages()
        assert isinstance(ei.value, OSError) and ei.value.filename == str(path)
        m.touch_pages_range(0, PS)  # the page that is still there
        with pytest.raises(FileTruncatedError):
            m.touch_pages_range(PS, size - PS)


def test_touch_errors(mapping: MemoryMappedFile | AnonymousMmap) -> None:
    n = len(mapping)
    with pytest.raises(OutOfBoundsError):
        mapping.touch_pages_range(n + 1, 0)
    with pytest.raises(OutOfBoundsError):
        mapping.touch_pages_range(n - 1, 2)
    with pytest.raises(OutOfBoundsError):
        mapping.touch_pages_range(2**63, 2**63)
    with pytest.raises(TypeError):
        mapping.touch_pages_range(None, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mapping.touch_pages(0)  # type: ignore[call-arg]
    mapping.close()
    with pytest.raises(MappingClosedError):
        mapping.touch_pages()
    with pytest.raises(MappingClosedError):
        mapping.touch_pages_range(0, 0)


# -- residency ------------------------------------------------------------------


def test_residency_anonymous_evict_and_touch() -> None:
    with AnonymousMmap(32 * PS) as a:
        assert a.residency().resident == 0
        a.update_region(0, b"x" * len(a))
        r = a.residency()
        assert (r.resident, r.total, r.fraction, r.offset) == (32, 32, 1.0, 0)
        a.advise(4 * PS, 8 * PS, MmapAdvice.DONT_NEED)
        r = a.residency()
        assert r.resident == 24
        assert r.pages == b"\x01" * 4 + b"\x00" * 8 + b"\x01" * 20
        assert list(r)[3:5] == [True, False]
        assert list(r.resident_ranges()) == [(0, 4 * PS), (12 * PS, 20 * PS)]
        a.touch_pages_range(4 * PS, PS)
        assert a.residency(4 * PS, PS).resident == 1
        assert a.residency(5 * PS).total == 27
        assert "resident=25" in repr(a.residency())


def test_residency_file_evicted_by_fadvise(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    with MemoryMappedFile.create_rw(path, 64 * PS) as m:
        m.update_region(0, os.urandom(64 * PS))
        m.flush()
        assert m.residency().resident == 64
    evict(path)
    with MemoryMappedFile.open_ro(path) as m:
        r = m.residency()
        if r.resident:
            pytest.skip("this filesystem keeps files in memory")
        assert (r.resident, r.total, r.fraction) == (0, 64, 0.0)
        m.read_bytes(10 * PS, 1)
        assert m.residency(10 * PS, 1).resident == 1
        m.touch_pages()
        assert m.residency().fraction == 1.0


def test_residency_ranges_and_errors(mapping: MemoryMappedFile | AnonymousMmap) -> None:
    n = len(mapping)
    mapping.touch_pages()
    r = mapping.residency(PS + 1, 2)
    assert (r.offset, r.total, r.page_size) == (PS, 1, PS)
    r = mapping.residency(PS - 1, 2)  # straddles two pages
    assert (r.offset, r.total) == (0, 2)
    assert mapping.residency(n).total == 0
    assert mapping.residency(n, 0).fraction == 1.0
    assert mapping.residency(0, None).total == n // PS
    assert mapping.residency(length=PS).total == 1
    for off, length in [(n + 1, None), (-1, None), (n + 1, 0), (0, n + 1), (-1, 1)]:
        with pytest.raises(OutOfBoundsError):
            mapping.residency(off, length)
    with pytest.raises(TypeError, match="offset"):
        mapping.residency("0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="length"):
        mapping.residency(0, 1.5)  # type: ignore[arg-type]
    mapping.close()
    with pytest.raises(MappingClosedError):
        mapping.residency()


# -- TouchHint.EAGER ------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MmapMode), ids=lambda m: m.name)
@pytest.mark.parametrize("how", ["classmethod", "builder"])
def test_eager_prefaults_every_mode(tmp_path: Path, mode: MmapMode, how: str) -> None:
    size = 1024 * PS
    path = cold_file(tmp_path / "cold.bin", size)
    opener: Callable[[], MemoryMappedFile]
    if how == "builder":
        opener = MemoryMappedFile.builder(path).mode(mode).touch_hint(TouchHint.EAGER).open
    else:
        opener = lambda: OPENERS[mode](path, touch_hint=TouchHint.EAGER)  # noqa: E731
    with opener() as m:
        # Resident in the page cache *and* mapped into this mapping's page
        # tables (Rss), without reading a byte through Python first.
        assert m.residency().resident == 1024
        assert vma_kb(m, "Rss") == size // 1024
        assert vma_kb(m, "Anonymous") == 0  # COW: nothing was copied
    evict(path)
    with OPENERS[mode](path, touch_hint=TouchHint.LAZY) as m:
        assert vma_kb(m, "Rss") == 0
        assert m.residency().resident < 1024


def test_eager_create_rw(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "n.bin", 64 * PS, touch_hint=TouchHint.EAGER) as m:
        assert m.residency().resident == 64
        assert vma_kb(m, "Rss") == 64 * PS // 1024


# -- concurrency ------------------------------------------------------------------


def test_touch_and_residency_race_close_and_resize(tmp_path: Path) -> None:
    """GIL-less touches hold map_lock: close/resize wait, nothing crashes."""
    import threading

    path = tmp_path / "race.bin"
    with MemoryMappedFile.create_rw(path, 8 << 20) as m:
        stop = threading.Event()
        errors: list[BaseException] = []

        def worker() -> None:
            while not stop.is_set():
                try:
                    m.touch_pages()
                    m.touch_pages_range(0, 4 << 20)
                    m.residency(0, 4 << 20)
                    m.prefetch_range(0, 1 << 20)
                    m.advise(0, 4 << 20, MmapAdvice.WILL_NEED)
                except (OutOfBoundsError, MappingClosedError):
                    pass
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for size in (1 << 20, 8 << 20, 2 << 20, 6 << 20) * 5:
            m.resize(size)
        m.close()
        time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
