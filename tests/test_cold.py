"""Cold files: the ``advice=`` open option, read-ahead in sequential
consumers, and big reads of pages that are not cached.

Everything runs against the real kernel: advice shows up in the
``VmFlags`` of ``/proc/self/smaps`` (``rr`` random, ``sr`` sequential),
residency comes from ``mincore`` after a real eviction
(``posix_fadvise(DONTNEED)`` of a flushed file), and the read path is
observed through ``/proc/self/io`` (``syscr`` counts ``pread`` calls).
"""

from __future__ import annotations

import errno
import os
import pickle
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mmap_io import (
    FileTruncatedError,
    MemoryMappedFile,
    MmapAdvice,
    MmapMode,
    OutOfBoundsError,
    page_size,
)
from mmap_io.readahead import read_ahead_window
from mmap_io.residency import smaps_entries
from test_hints import cold_file, evict

PS = page_size()
MiB = 1 << 20

needs_smaps = pytest.mark.skipif(
    not os.path.exists("/proc/self/smaps"), reason="needs /proc/self/smaps (Linux)"
)
FLAG = {MmapAdvice.RANDOM: "rr", MmapAdvice.SEQUENTIAL: "sr"}


def vm_flags(m: MemoryMappedFile) -> list[set[str]]:
    """The VmFlags of every area covering the mapping."""
    entries = smaps_entries(m.as_ptr(), m.as_ptr() + len(m))
    assert entries, "the mapping has no /proc/self/smaps entry"
    return [set(e.flags) for e in entries]


def assert_advice(m: MemoryMappedFile, advice: MmapAdvice | None) -> None:
    for flags in vm_flags(m):
        for other, flag in FLAG.items():
            assert (flag in flags) == (other is advice), (advice, flags)


# -- advice= at open -----------------------------------------------------------


def _openers(path: Path) -> dict[str, Callable[..., MemoryMappedFile]]:
    return {
        "open_ro": lambda **kw: MemoryMappedFile.open_ro(path, **kw),
        "open_rw": lambda **kw: MemoryMappedFile.open_rw(path, **kw),
        "open_cow": lambda **kw: MemoryMappedFile.open_cow(path, **kw),
        "create_rw": lambda **kw: MemoryMappedFile.create_rw(path, 16 * PS, **kw),
        "open_or_create": lambda **kw: MemoryMappedFile.open_or_create(path, 16 * PS, **kw),
        "from_file": lambda **kw: _from_file(path, **kw),
    }


def _from_file(path: Path, **kw: object) -> MemoryMappedFile:
    with open(path, "rb") as f:
        return MemoryMappedFile.from_file(f, MmapMode.READ_ONLY, **kw)  # type: ignore[arg-type]


OPENER_NAMES = ["open_ro", "open_rw", "open_cow", "create_rw", "open_or_create", "from_file"]


@needs_smaps
@pytest.mark.parametrize("name", OPENER_NAMES)
@pytest.mark.parametrize("advice", [MmapAdvice.RANDOM, MmapAdvice.SEQUENTIAL, None])
def test_advice_applies_to_the_whole_mapping_at_open(
    tmp_path: Path, name: str, advice: MmapAdvice | None
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(16 * PS))
    with _openers(path)[name](advice=advice) as m:
        assert_advice(m, advice)


@needs_smaps
@pytest.mark.parametrize("advice", [MmapAdvice.RANDOM, MmapAdvice.SEQUENTIAL])
def test_builder_takes_advice(tmp_path: Path, advice: MmapAdvice) -> None:
    path = tmp_path / "data.bin"
    with MemoryMappedFile.builder(path).size(16 * PS).advice(advice).create() as m:
        assert_advice(m, advice)
    with MemoryMappedFile.builder(path).mode(MmapMode.READ_ONLY).advice(advice).open() as m:
        assert_advice(m, advice)
    with MemoryMappedFile.builder(path).size(PS).advice(advice).open_or_create() as m:
        assert_advice(m, advice)


@needs_smaps
@pytest.mark.parametrize("advice", [MmapAdvice.RANDOM, MmapAdvice.SEQUENTIAL])
def test_advice_is_applied_again_after_resize(tmp_path: Path, advice: MmapAdvice) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "data.bin", 4 * PS, advice=advice) as m:
        for size in (64 * PS, 3 * PS, 1000 * PS + 5):
            m.resize(size)
            assert_advice(m, advice)


@needs_smaps
@pytest.mark.parametrize("mode", [MmapMode.READ_ONLY, MmapMode.COPY_ON_WRITE])
def test_advice_is_applied_again_after_refresh(tmp_path: Path, mode: MmapMode) -> None:
    path = tmp_path / "log.bin"
    path.write_bytes(os.urandom(4 * PS))
    opener = MemoryMappedFile.open_ro if mode is MmapMode.READ_ONLY else MemoryMappedFile.open_cow
    with opener(path, advice=MmapAdvice.RANDOM) as m:
        for size in (300 * PS + 7, 2 * PS):
            os.truncate(path, size)
            assert m.refresh() == size
            assert_advice(m, MmapAdvice.RANDOM)


@needs_smaps
def test_advice_survives_pickling(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(16 * PS))
    with (
        MemoryMappedFile.open_ro(path, advice=MmapAdvice.RANDOM) as m,
        pickle.loads(pickle.dumps(m)) as copy,
    ):
        assert_advice(copy, MmapAdvice.RANDOM)


def test_advice_on_an_empty_mapping_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    with MemoryMappedFile.open_ro(path, advice=MmapAdvice.RANDOM) as m:
        assert len(m) == 0


@pytest.mark.parametrize("bad", ["random", 3, True, MmapMode.READ_ONLY])
def test_bad_advice_is_refused_before_the_file_changes(tmp_path: Path, bad: object) -> None:
    path = tmp_path / "new.bin"
    with pytest.raises(TypeError, match="advice must be an MmapAdvice"):
        MemoryMappedFile.create_rw(path, PS, advice=bad)  # type: ignore[arg-type]
    assert not path.exists()
    with pytest.raises(TypeError, match="advice must be an MmapAdvice"):
        MemoryMappedFile.builder(path).advice(bad)  # type: ignore[arg-type]


def test_advice_the_kernel_refuses_closes_the_mapping(tmp_path: Path) -> None:
    # POPULATE_WRITE needs a writable mapping: a read-only open must fail
    # with the kernel's error and leave nothing mapped.
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(4 * PS))
    from mmap_io import AdviceFailedError

    with pytest.raises(AdviceFailedError) as ei:
        MemoryMappedFile.open_ro(path, advice=MmapAdvice.POPULATE_WRITE)
    assert ei.value.errno == errno.EINVAL


def _read_by_one_fault(path: Path, advice: MmapAdvice | None) -> int:
    """Bytes of a cold ``path`` in the page cache after one fault at its
    start, once the kernel's read for it has landed."""
    evict(path)
    with MemoryMappedFile.open_ro(path, advice=advice) as m:
        m[0]
        seen, deadline = -1, time.monotonic() + 10
        while True:
            time.sleep(0.05)
            now = m.residency().resident
            if now == seen or time.monotonic() > deadline:
                return now * PS
            seen = now


def test_sequential_advice_doubles_what_a_fault_reads_ahead(tmp_path: Path) -> None:
    # SEQUENTIAL is madvise(MADV_SEQUENTIAL) plus posix_fadvise(SEQUENTIAL)
    # of the mapping's open file, which doubles its read-ahead window.
    path = cold_file(tmp_path / "big.bin", 48 * MiB)
    normal = _read_by_one_fault(path, None)
    if normal <= PS:
        pytest.skip("the device reads nothing ahead (read_ahead_kb is 0)")
    sequential = _read_by_one_fault(path, MmapAdvice.SEQUENTIAL)
    assert sequential >= 1.5 * normal, (sequential, normal)


# -- read-ahead ----------------------------------------------------------------

CHUNK = 64 << 10


@pytest.fixture
def cold(tmp_path: Path) -> Path:
    """A 16 MiB file evicted from the page cache."""
    return cold_file(tmp_path / "cold.bin", 16 * MiB)


def _resident_beyond(m: MemoryMappedFile, consumed: int) -> int:
    """Bytes resident past ``consumed`` (the part nobody read yet), once the
    read-ahead had time to land: MADV_WILLNEED returns before the disk has
    read anything, and mincore() counts a page once it has been read."""
    deadline = time.monotonic() + 5
    while not m.residency(consumed, len(m) - consumed).resident:
        if time.monotonic() > deadline:
            return 0
        time.sleep(0.01)
    time.sleep(0.2)  # whatever was asked for lands too
    return m.residency(consumed, len(m) - consumed).resident * PS


def _consume(it: Iterator[object], count: int, size: int) -> int:
    for _ in range(count):
        next(it)
    return count * size


# RANDOM advice turns off the kernel's own read-around, so what is resident
# beyond the cursor is what the library asked for.
CONSUMERS: dict[str, Callable[[MemoryMappedFile], tuple[Iterator[object], int]]] = {
    "chunks": lambda m: (iter(m.chunks(CHUNK)), CHUNK),
    "chunks_owned": lambda m: (iter(m.chunks_owned(CHUNK)), CHUNK),
    "pages": lambda m: (iter(m.pages()), PS),
    "pages_owned": lambda m: (iter(m.pages_owned()), PS),
}


@pytest.mark.parametrize("name", list(CONSUMERS))
def test_iteration_reads_ahead_at_most_one_window(cold: Path, name: str) -> None:
    with MemoryMappedFile.open_ro(cold, advice=MmapAdvice.RANDOM) as m:
        it, size = CONSUMERS[name](m)
        count = 3
        consumed = _consume(it, count, size)
        window = read_ahead_window(size)
        beyond = _resident_beyond(m, consumed)
        assert 0 < beyond <= window, (beyond, window)
        del it


def test_reader_reads_ahead_at_most_one_window(cold: Path) -> None:
    with MemoryMappedFile.open_ro(cold, advice=MmapAdvice.RANDOM) as m:
        r = m.reader()
        buf = bytearray(CHUNK)
        for _ in range(3):
            assert r.readinto(buf) == CHUNK
        beyond = _resident_beyond(m, 3 * CHUNK)
        assert 0 < beyond <= read_ahead_window(CHUNK)


def test_reader_seek_does_not_read_ahead_from_afar(cold: Path) -> None:
    # A reader that jumps around is not sequential: nothing is read ahead
    # of a single read after a seek.
    with MemoryMappedFile.open_ro(cold, advice=MmapAdvice.RANDOM) as m:
        r = m.reader()
        r.seek(8 * MiB)
        r.read(PS)
        assert m.residency(0, 8 * MiB).resident == 0
        assert m.residency(8 * MiB + PS, 8 * MiB - PS).resident == 0


def test_touch_pages_range_touches_only_its_range(cold: Path) -> None:
    with MemoryMappedFile.open_ro(cold, advice=MmapAdvice.RANDOM) as m:
        m.touch_pages_range(MiB, MiB)
        assert m.residency(MiB, MiB).fraction == 1.0
        assert m.residency(0, MiB).resident == 0
        # Read-ahead stops at the end of the range asked for.
        assert m.residency(2 * MiB, len(m) - 2 * MiB).resident == 0


def test_touch_pages_makes_a_cold_file_resident(cold: Path) -> None:
    with MemoryMappedFile.open_ro(cold, advice=MmapAdvice.RANDOM) as m:
        m.touch_pages()
        assert m.residency().fraction == 1.0


def test_full_scan_of_a_cold_file_sees_every_byte(cold: Path) -> None:
    data = cold.read_bytes()
    evict(cold)
    with MemoryMappedFile.open_ro(cold, advice=MmapAdvice.RANDOM) as m:
        assert b"".join(bytes(v) for v in m.chunks(3 * CHUNK + 5)) == data
        assert b"".join(m.chunks_owned(CHUNK - 1)) == data
        evict_while_mapped = m.reader().read()
    assert evict_while_mapped == data


def test_read_ahead_window_grows_with_the_chunk_and_is_bounded() -> None:
    small, big = read_ahead_window(PS), read_ahead_window(64 * MiB)
    assert PS < small <= read_ahead_window(MiB) <= big
    assert read_ahead_window(MiB) >= MiB
    assert big <= 64 * MiB


# -- big reads of cold ranges ---------------------------------------------------


def _syscr() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("syscr:"):
                return int(line.split()[1])
    raise AssertionError("no syscr in /proc/self/io")


def reads_during(fn: Callable[[], object]) -> int:
    """How many read syscalls (``read``, ``pread``...) ``fn()`` made."""
    before = _syscr()
    fn()
    after = _syscr()
    return after - before - (_syscr() - after)  # less reading /proc itself


needs_proc_io = pytest.mark.skipif(
    not os.path.exists("/proc/self/io"), reason="needs /proc/self/io (Linux)"
)


@needs_proc_io
@pytest.mark.parametrize("mode", [MmapMode.READ_ONLY, MmapMode.READ_WRITE])
def test_big_cold_read_uses_pread_and_returns_the_same_bytes(
    tmp_path: Path, mode: MmapMode
) -> None:
    size = 8 * MiB
    path = cold_file(tmp_path / "big.bin", size)
    data = path.read_bytes()
    evict(path)
    opener = MemoryMappedFile.open_ro if mode is MmapMode.READ_ONLY else MemoryMappedFile.open_rw
    with opener(path) as m:
        got: list[bytes] = []
        assert reads_during(lambda: got.append(m.read_bytes(100, size - 200))) > 0
        assert got[0] == data[100 : size - 100]
        evict(path)
        buf = bytearray(size - 1)
        assert reads_during(lambda: m.read_into(1, buf)) > 0
        assert buf == data[1:]
        # Warm now: the copy from the mapping, no read syscalls.
        assert reads_during(lambda: got.append(m.read_bytes(0, size))) == 0
        assert got[1] == data


@needs_proc_io
def test_small_cold_reads_are_copies(tmp_path: Path) -> None:
    path = cold_file(tmp_path / "big.bin", 8 * MiB)
    with MemoryMappedFile.open_ro(path) as m:
        assert reads_during(lambda: m.read_bytes(0, (256 << 10) - 1)) == 0


@pytest.mark.parametrize("mode", [MmapMode.READ_WRITE, MmapMode.COPY_ON_WRITE])
def test_big_cold_read_sees_writes_through_the_mapping(tmp_path: Path, mode: MmapMode) -> None:
    # Read-write: the rest is cold, pread() runs and sees the unflushed
    # write (mapping and file share the page cache). Copy-on-write: the
    # private page is not in the file, so the copy must run.
    size = 8 * MiB
    path = cold_file(tmp_path / "big.bin", size)
    opener = MemoryMappedFile.open_rw if mode is MmapMode.READ_WRITE else MemoryMappedFile.open_cow
    with opener(path) as m:
        m.update_region(5 * MiB, b"written")
        assert m.read_bytes(0, size)[5 * MiB : 5 * MiB + 7] == b"written"
    in_file = path.read_bytes()[5 * MiB : 5 * MiB + 7] == b"written"
    assert in_file is (mode is MmapMode.READ_WRITE)


def test_big_cold_read_of_a_truncated_file(tmp_path: Path) -> None:
    size = 8 * MiB
    path = cold_file(tmp_path / "big.bin", size)
    data = path.read_bytes()
    with MemoryMappedFile.open_ro(path) as m:
        cut = 3 * MiB + 100  # mid-page: the rest of that page reads as zeros
        os.truncate(path, cut)
        evict(path)
        with pytest.raises(FileTruncatedError):
            m.read_bytes(0, size)
        with pytest.raises(FileTruncatedError):
            m.read_into(MiB, bytearray(4 * MiB))
        page_end = (cut + PS - 1) // PS * PS
        head = m.read_bytes(0, page_end)
        assert head[:cut] == data[:cut]
        assert head[cut:] == bytes(page_end - cut)
        evict(path)
        # The same range through pread (cold, big) gives the same bytes.
        assert m.read_bytes(page_end - 2 * MiB, 2 * MiB) == head[-2 * MiB :]


def test_big_read_bad_ranges_raise_as_before(tmp_path: Path) -> None:
    size = 8 * MiB
    path = cold_file(tmp_path / "big.bin", size)
    with MemoryMappedFile.open_ro(path) as m:
        with pytest.raises(OutOfBoundsError):
            m.read_bytes(1, size)
        with pytest.raises(OutOfBoundsError):
            m.read_into(size - MiB, bytearray(2 * MiB))
        with pytest.raises(OutOfBoundsError):
            m.read_bytes(-1, 2 * MiB)


@needs_proc_io
def test_cold_scan_in_big_reads_mixes_pread_and_copies(tmp_path: Path) -> None:
    # Chunks the kernel has read ahead are copied, cold ones are pread():
    # every byte must come back, and the extra descriptor pread() uses
    # must go with the mapping.
    path = cold_file(tmp_path / "big.bin", 16 * MiB)
    data = path.read_bytes()
    evict(path)
    fds = len(os.listdir("/proc/self/fd"))
    with MemoryMappedFile.open_ro(path) as m:
        got: list[bytes] = []
        assert reads_during(lambda: got.extend(m.chunks_owned(MiB))) > 0
        assert b"".join(got) == data
        r = m.reader()
        evict(path)
        assert b"".join(iter(lambda: r.read(3 * MiB), b"")) == data
    assert len(os.listdir("/proc/self/fd")) == fds


# -- random reads that keep going to the disk ------------------------------------


def _cold_read_ns(path: Path) -> int:
    """How long one pread() of a cold page takes here, at best of three."""
    best = 1 << 62
    fd = os.open(path, os.O_RDONLY)
    try:
        for page in (1, 7, 13):
            t0 = time.perf_counter_ns()
            os.pread(fd, PS, page * 97 * PS)
            best = min(best, time.perf_counter_ns() - t0)
    finally:
        os.close(fd)
    evict(path)
    return best


@pytest.fixture
def random_cold(tmp_path: Path) -> Path:
    """A 32 MiB file evicted from the page cache, on storage slow enough
    (a cold page takes well over 10 µs) for a cold read to be told apart."""
    path = cold_file(tmp_path / "random.bin", 32 * MiB)
    if _cold_read_ns(path) < 40_000:
        pytest.skip("a cold page reads too fast here to be told from a cached one")
    return path


@pytest.fixture
def cold_data(random_cold: Path) -> bytes:
    """``random_cold``'s bytes, the file evicted again after reading them."""
    data = random_cold.read_bytes()
    evict(random_cold)
    return data


def _go_cold(m: MemoryMappedFile, data: bytes, pages: Iterator[int]) -> int:
    """Read 4 KiB at the next pages until the mapping reads with pread();
    every read must return the file's bytes. Returns how many it took."""
    for n, page in enumerate(pages, 1):
        off = page * PS
        assert m.read_bytes(off, PS) == data[off : off + PS]
        if m._cold_reads:
            return n
    raise AssertionError("reads of cold pages never switched to pread()")


def _scattered(size: int) -> Iterator[int]:
    """Distinct pages spread over the file (a stride prime to its pages)."""
    pages = size // PS
    return iter([(i * 7919) % pages for i in range(pages)])


@needs_proc_io
@pytest.mark.parametrize("mode", [MmapMode.READ_ONLY, MmapMode.READ_WRITE])
def test_random_reads_of_a_cold_file_switch_to_pread(
    random_cold: Path, cold_data: bytes, mode: MmapMode
) -> None:
    opener = MemoryMappedFile.open_ro if mode is MmapMode.READ_ONLY else MemoryMappedFile.open_rw
    with opener(random_cold, advice=MmapAdvice.RANDOM) as m:
        pages = _scattered(len(m))
        assert _go_cold(m, cold_data, pages) <= 64
        off = next(pages) * PS
        got: list[bytes] = []
        assert reads_during(lambda: got.append(m.read_bytes(off, 3 * PS))) == 1
        assert got[0] == cold_data[off : off + 3 * PS]
        buf = bytearray(PS + 1)
        off = next(pages) * PS
        assert reads_during(lambda: m.read_into(off, buf)) == 1
        assert buf == cold_data[off : off + PS + 1]
        assert m[off : off + 10] == cold_data[off : off + 10]


@needs_proc_io
def test_random_reads_go_back_to_copies_once_the_file_is_cached(
    random_cold: Path, cold_data: bytes
) -> None:
    with MemoryMappedFile.open_ro(random_cold, advice=MmapAdvice.RANDOM) as m:
        _go_cold(m, cold_data, _scattered(len(m)))
        random_cold.read_bytes()  # all of it cached now
        for page in list(_scattered(len(m)))[:16]:
            assert m.read_bytes(page * PS, PS) == cold_data[page * PS : (page + 1) * PS]
            if not m._cold_reads:
                break
        assert not m._cold_reads
        assert reads_during(lambda: m.read_bytes(5 * PS, PS)) == 0


def test_cold_random_reads_see_unflushed_writes(random_cold: Path, cold_data: bytes) -> None:
    with MemoryMappedFile.open_rw(random_cold, advice=MmapAdvice.RANDOM) as m:
        _go_cold(m, cold_data, _scattered(len(m)))
        m.update_region(20 * PS + 5, b"written")
        assert m.read_bytes(20 * PS, PS)[5:12] == b"written"


def test_copy_on_write_random_reads_never_pread(random_cold: Path, cold_data: bytes) -> None:
    # The private pages of a copy-on-write mapping are in no file.
    with MemoryMappedFile.open_cow(random_cold, advice=MmapAdvice.RANDOM) as m:
        m.update_region(3 * PS, b"private")
        for page in list(_scattered(len(m)))[:200]:
            got = m.read_bytes(page * PS, PS)
            if page != 3:
                assert got == cold_data[page * PS : (page + 1) * PS]
        assert not m._cold_reads
        assert m.read_bytes(3 * PS, 7) == b"private"


@pytest.mark.parametrize("advice", [MmapAdvice.NORMAL, MmapAdvice.SEQUENTIAL])
def test_other_advice_on_any_part_ends_pread_reads(
    random_cold: Path, cold_data: bytes, advice: MmapAdvice
) -> None:
    with MemoryMappedFile.open_ro(random_cold, advice=MmapAdvice.RANDOM) as m:
        _go_cold(m, cold_data, _scattered(len(m)))
        m.advise(PS, PS, advice)
        assert not m._cold_reads
        for page in list(_scattered(len(m)))[-100:]:
            m.read_bytes(page * PS, PS)
        assert not m._cold_reads


def test_random_advice_on_part_of_the_mapping_reads_by_copy(
    random_cold: Path, cold_data: bytes
) -> None:
    with MemoryMappedFile.open_ro(random_cold) as m:
        m.advise(0, len(m) - PS, MmapAdvice.RANDOM)
        for page in list(_scattered(len(m)))[:100]:
            assert m.read_bytes(page * PS, PS) == cold_data[page * PS : (page + 1) * PS]
        assert not m._cold_reads


def test_cold_random_read_of_a_truncated_file(random_cold: Path, cold_data: bytes) -> None:
    with MemoryMappedFile.open_ro(random_cold, advice=MmapAdvice.RANDOM) as m:
        pages = [p for p in _scattered(len(m)) if p < 1000]
        _go_cold(m, cold_data, iter(pages))
        cut = 1000 * PS + 100
        os.truncate(random_cold, cut)
        evict(random_cold)
        with pytest.raises(FileTruncatedError):
            m.read_bytes(1001 * PS, PS)
        with pytest.raises(FileTruncatedError):
            m.read_into(999 * PS, bytearray(3 * PS))
        # The page the file ends in reads as the mapping shows it: zeros past the end.
        assert m.read_bytes(1000 * PS, PS) == cold_data[1000 * PS : cut] + bytes(PS - 100)


def test_cold_multi_page_reads_switch_after_two(random_cold: Path, cold_data: bytes) -> None:
    # A timed read counts once per page (up to 4): two cold 64 KiB reads of
    # a fresh mapping are enough to go to pread().
    with MemoryMappedFile.open_ro(random_cold, advice=MmapAdvice.RANDOM) as m:
        for n, off in enumerate((3 * MiB, 17 * MiB, 9 * MiB), 1):
            assert m.read_bytes(off, 16 * PS) == cold_data[off : off + 16 * PS]
            assert m._cold_reads == (n >= 2)


def test_cold_random_reads_from_threads_never_tear(random_cold: Path, cold_data: bytes) -> None:
    # pread() runs under the same lock as the copy, and a copy or a write
    # of the GIL-holding fast path waits for pread()s in flight: a reader
    # sees two pages before or after an update_region() of them, never
    # half of one, while other threads read cold pages through pread().
    import threading

    with MemoryMappedFile.open_rw(random_cold, advice=MmapAdvice.RANDOM) as m:
        _go_cold(m, cold_data, _scattered(len(m)))
        target = 40 * PS
        old = cold_data[target : target + 2 * PS]
        patterns = [bytes([n]) * (2 * PS) for n in (1, 2)]
        stop = threading.Event()
        seen: list[bytes] = []
        modes: list[int] = []

        def write() -> None:
            i = 0
            while not stop.is_set():
                m.update_region(target, patterns[i % 2])
                i += 1

        def read() -> None:
            for page in list(_scattered(len(m)))[:150]:
                m.read_bytes(page * PS, PS)  # keeps the mapping reading cold pages
                modes.append(m._cold_reads)
                seen.append(m.read_bytes(target, 2 * PS))

        writer = threading.Thread(target=write)
        readers = [threading.Thread(target=read) for _ in range(3)]
        writer.start()
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        stop.set()
        writer.join()
        assert seen and all(s in (old, *patterns) for s in seen)
        assert any(modes)  # cold pages were read through pread() meanwhile
