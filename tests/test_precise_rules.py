"""The library's precise rules, one test per rule: which ranges are
valid, what pending_bytes counts, copy-on-write, use after close, what
keeps a mapping's memory alive (views, streams, segments, atomic views),
anonymous mappings, the builder.

Rules of optional features (atomics, prefetch_range, watch) are checked
when the feature is present, and skipped otherwise.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mmap_io import (
    AnonymousMmap,
    BusyError,
    FlushPolicy,
    InvalidModeError,
    MappingClosedError,
    MemoryMappedFile,
    MisalignedError,
    MmapMode,
    OutOfBoundsError,
    page_size,
)

PS = page_size()


def _need(m: Any, name: str) -> Any:
    if not hasattr(m, name):
        pytest.skip(f"{name} is not built in this tree")
    return getattr(m, name)


RANGE_CALLS: list[tuple[str, Callable[[Any, int, int], object]]] = [
    ("as_slice", lambda m, o, n: m.as_slice(o, n)),
    ("as_slice_mut", lambda m, o, n: m.as_slice_mut(o, n)),
    ("read_bytes", lambda m, o, n: m.read_bytes(o, n)),
    ("read_into", lambda m, o, n: m.read_into(o, bytearray(n))),
    ("update_region", lambda m, o, n: m.update_region(o, bytes(n))),
    ("flush_range", lambda m, o, n: m.flush_range(o, n)),
    ("segment", lambda m, o, n: m.segment(o, n)),
    ("segment_mut", lambda m, o, n: m.segment_mut(o, n)),
]


@pytest.mark.parametrize(("name", "call"), RANGE_CALLS, ids=[c[0] for c in RANGE_CALLS])
def test_range_validity(rw: MemoryMappedFile, name: str, call: Callable[..., object]) -> None:
    n = len(rw)
    for off, length in [(0, 0), (0, n), (n, 0), (n - 1, 1), (5, 10)]:
        r = call(rw, off, length)
        if isinstance(r, memoryview):
            r.release()
    for off, length in [(n + 1, 0), (n, 1), (-1, 0), (-1, 2)]:
        with pytest.raises(OutOfBoundsError):
            call(rw, off, length)
    if name not in ("read_into", "update_region"):
        with pytest.raises(OutOfBoundsError):
            call(rw, 0, -1)
    with pytest.raises(TypeError):
        call(rw, 1.0, 1)
    assert rw._exports == 0


def test_prefetch_range_zero_length(rw: MemoryMappedFile) -> None:
    prefetch = _need(rw, "prefetch_range")
    prefetch(len(rw), 0)
    with pytest.raises(OutOfBoundsError):
        prefetch(len(rw) + 1, 0)
    with pytest.raises(TypeError):
        prefetch("0", 0)


def test_atomics_alignment_before_bounds(rw: MemoryMappedFile) -> None:
    atomic_u64 = _need(rw, "atomic_u64")
    n = len(rw)
    with pytest.raises(MisalignedError):
        atomic_u64(n + 1)  # misaligned *and* out of bounds: alignment first
    with pytest.raises(OutOfBoundsError):
        atomic_u64(n)  # aligned, out of bounds
    with pytest.raises(MisalignedError):
        rw.atomic_u32(2**64 + 2)


def test_read_into_counts_nbytes(rw: MemoryMappedFile) -> None:
    import array

    buf = array.array("d", [0.0] * 3)
    assert rw.read_into(0, buf) == 24
    assert buf.tobytes() == rw.read_bytes(0, 24)


def test_segment_write_too_big(rw: MemoryMappedFile) -> None:
    with pytest.raises(OutOfBoundsError):
        rw.segment_mut(0, 4).write(b"12345")


@pytest.mark.parametrize(
    "policy",
    [
        FlushPolicy.NEVER,
        FlushPolicy.every_bytes(1 << 30),
        FlushPolicy.every_writes(1000),
        FlushPolicy.every_millis(3_600_000),
    ],
    ids=repr,
)
def test_pending_bytes_rules(data_file: Path, policy: FlushPolicy) -> None:
    with MemoryMappedFile.open_rw(data_file, flush_policy=policy) as m:
        assert m.pending_bytes == 0
        m.update_region(0, b"a" * 10)
        m.segment_mut(PS, 20).write(b"b" * 20)
        with m.as_slice_mut(100, 5) as v:
            v[:] = b"12345"  # views are not counted
        assert m.pending_bytes == 30
        m.flush()
        assert m.pending_bytes == 0
        m.update_region(0, b"x" * (3 * PS))
        m.flush_range(PS + 10, 1)  # L = one page
        assert m.pending_bytes == 2 * PS
        m.flush_range(0, 2 * PS + 1)  # L = three pages > pending
        assert m.pending_bytes == 0


def test_pending_bytes_always(data_file: Path) -> None:
    with MemoryMappedFile.open_rw(data_file, flush_policy=FlushPolicy.ALWAYS) as m:
        m.update_region(0, b"now")
        assert m.pending_bytes == 0
        with MemoryMappedFile.open_ro(data_file) as ro:
            assert ro.read_bytes(0, 3) == b"now"


def test_create_rw_discards(make_file: Callable[..., Path]) -> None:
    path = make_file(b"\xff" * 10_000)
    with MemoryMappedFile.create_rw(path, 10_000) as m:
        assert m.read_bytes(0, 10_000) == bytes(10_000)


def test_cow_every_write_path(data_file: Path) -> None:
    before = data_file.read_bytes()
    with MemoryMappedFile.open_cow(data_file) as m:
        m.update_region(0, b"u")
        with m.as_slice_mut(1, 1) as v:
            v[0] = ord("s")
        m.chunks_mut(PS).for_each_mut(lambda off, v: v.__setitem__(2, ord("c")))
        m.segment_mut(3, 1).write(b"g")
        m.writer().write(b"")
        if hasattr(m, "atomic_u64"):
            with m.atomic_u64(8) as a:
                a.store(7)
        m.flush()
        assert m.read_bytes(0, 4) == b"uscg"
    assert data_file.read_bytes() == before


def test_from_file_path_rule(data_file: Path) -> None:
    with open(data_file, "rb") as f:
        with MemoryMappedFile.from_file(f, MmapMode.READ_ONLY) as m:
            assert m.path == data_file
        with MemoryMappedFile.from_file(f.fileno(), MmapMode.READ_ONLY) as m:
            assert m.path is None


def test_after_close(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    m.close()
    for call in (
        lambda: len(m),
        lambda: m.read_bytes(0, 1),
        lambda: m.update_region(0, b"x"),
        lambda: m.as_slice(0, 1),
        lambda: m.fileno(),
        lambda: m.reader(),
        lambda: m.as_ptr(),
        lambda: m.segment(0, 1),
    ):
        with pytest.raises(MappingClosedError):
            call()
    assert repr(m) and m.closed and m.path == data_file and m.mode is MmapMode.READ_WRITE


def test_with_block_with_a_live_view_defers(data_file: Path) -> None:
    keep: list[memoryview] = []
    with pytest.raises(LookupError), MemoryMappedFile.open_ro(data_file) as m:
        keep.append(m.as_slice(0, 1))
        raise LookupError("the body's own error is what surfaces")
    assert m.closed and bytes(keep[0]) == data_file.read_bytes()[:1]
    keep.clear()
    assert m._exports == 0


def test_streams_and_segments_hold_the_mapping(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    r, w, s = m.reader(), m.writer(), m.segment(0, 4)
    m.close()
    for call in (lambda: r.read(1), lambda: w.write(b"x"), lambda: s.read_bytes()):
        with pytest.raises(MappingClosedError):
            call()


def test_atomic_view_release(rw: MemoryMappedFile) -> None:
    atomic_u64 = _need(rw, "atomic_u64")
    with atomic_u64(0) as a:
        a.store(1)
        with pytest.raises(BusyError):
            rw.resize(len(rw) + PS)
    with pytest.raises(MappingClosedError):
        a.load()
    b = rw.atomic_u32(4)
    b.release()
    with pytest.raises(MappingClosedError):
        b.load()
    rw.resize(len(rw) + PS)


def test_garbage_collected_mapping_releases(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file, flush_policy=FlushPolicy.every_millis(5))
    fd = m.fileno()
    m.update_region(0, b"gc")
    del m
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)
    assert data_file.read_bytes()[:2] == b"gc"


def test_anonymous_rules() -> None:
    with AnonymousMmap(10) as a:
        assert a.path is None and not a.closed
    assert a.closed
    a.close()


def test_builder_rules(tmp_path: Path) -> None:
    b = MemoryMappedFile.builder(tmp_path / "x.bin")
    with pytest.raises(ValueError):
        b.create()
    with b.size(10).create() as m:
        assert m.mode is MmapMode.READ_WRITE
    with MemoryMappedFile.open_ro(tmp_path / "x.bin") as ro, pytest.raises(InvalidModeError):
        ro.update_region(0, b"x")
