"""close(), context managers, unmap(), use after close, and BusyError.

More on what live views do to close() in test_lifetimes.py."""

from __future__ import annotations

import gc
import io
import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmap_io import (
    AnonymousMmap,
    BusyError,
    FlushPolicy,
    MappingClosedError,
    MemoryMappedFile,
    MmapMode,
)


def test_close_idempotent(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    assert not m.closed
    m.close()
    assert m.closed
    m.close()
    assert m.closed


def test_context_manager(data_file: Path) -> None:
    with MemoryMappedFile.open_ro(data_file) as m:
        assert not m.closed
    assert m.closed
    with pytest.raises(MappingClosedError):
        m.__enter__()
    with pytest.raises(RuntimeError), MemoryMappedFile.open_ro(data_file) as m2:
        raise RuntimeError("body failed")
    assert m2.closed


def test_close_releases_fd(data_file: Path) -> None:
    m = MemoryMappedFile.open_ro(data_file)
    fd = m.fileno()
    m.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_close_flushes_under_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.bin"
    m = MemoryMappedFile.create_rw(path, 4096, flush_policy=FlushPolicy.every_bytes(1 << 20))
    m.update_region(0, b"kept")
    assert m.pending_bytes == 4
    m.close()
    assert path.read_bytes()[:4] == b"kept"


def test_unmap(data_file: Path) -> None:
    data = data_file.read_bytes()
    m = MemoryMappedFile.open_rw(data_file)
    m.update_region(0, b"unmapped")
    f = m.unmap()
    assert m.closed
    assert isinstance(f, io.FileIO)
    with f:
        assert not f.closed
        assert f.name == str(data_file)
        assert f.tell() == 0
        assert f.read(8) == b"unmapped"
        assert f.writable()
        f.seek(0)
        f.write(b"via file")
    assert data_file.read_bytes()[:8] == b"via file"
    assert data_file.read_bytes()[8:] == data[8:]
    with MemoryMappedFile.open_ro(data_file) as ro:
        g = ro.unmap()
        with g:
            assert not g.writable()
    with pytest.raises(MappingClosedError):
        m.unmap()


def test_unmap_without_path(data_file: Path) -> None:
    with open(data_file, "rb") as src:
        m = MemoryMappedFile.from_file(src.fileno(), MmapMode.READ_ONLY)
    with m.unmap() as f:
        assert f.read(4) == data_file.read_bytes()[:4]


# -- use after close -------------------------------------------------------

CLOSED_CALLS: list[tuple[str, Callable[[Any], object]]] = [
    ("len", len),
    ("is_empty", lambda m: m.is_empty()),
    ("fileno", lambda m: m.fileno()),
    ("as_ptr", lambda m: m.as_ptr()),
    ("as_mut_ptr", lambda m: m.as_mut_ptr()),
    ("as_slice", lambda m: m.as_slice(0, 1)),
    ("as_slice_mut", lambda m: m.as_slice_mut(0, 1)),
    ("as_mut_slice", lambda m: m.as_mut_slice(0, 1)),
    ("read_bytes", lambda m: m.read_bytes(0, 1)),
    ("read_bytes0", lambda m: m.read_bytes(0, 0)),
    ("read_into", lambda m: m.read_into(0, bytearray(1))),
    ("update_region", lambda m: m.update_region(0, b"x")),
    ("flush", lambda m: m.flush()),
    ("flush_range", lambda m: m.flush_range(0, 1)),
    ("resize", lambda m: m.resize(10)),
    ("memoryview", memoryview),
    ("numpy", lambda m: np.frombuffer(m, dtype=np.uint8)),
    ("reader", lambda m: m.reader()),
    ("writer", lambda m: m.writer()),
    ("segment", lambda m: m.segment(0, 1)),
    ("segment_mut", lambda m: m.segment_mut(0, 1)),
    ("chunks", lambda m: m.chunks(4)),
    ("pages", lambda m: m.pages()),
    ("chunks_owned", lambda m: m.chunks_owned(4)),
    ("pages_owned", lambda m: m.pages_owned()),
    ("chunks_mut", lambda m: m.chunks_mut(4)),
    ("as_array", lambda m: m.as_array("u1")),
    ("unmap", lambda m: m.unmap()),
    ("enter", lambda m: m.__enter__()),
]


@pytest.mark.parametrize(("name", "call"), CLOSED_CALLS, ids=[c[0] for c in CLOSED_CALLS])
def test_use_after_close(data_file: Path, name: str, call: Callable[[Any], object]) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    m.close()
    with pytest.raises(MappingClosedError) as info:
        call(m)
    assert isinstance(info.value, ValueError)
    assert str(data_file) in str(info.value) or name in ("enter",)
    # the descriptive accessors keep working
    assert m.closed
    assert m.path == data_file
    assert m.mode is MmapMode.READ_WRITE
    assert "closed" in repr(m)
    assert m.flush_policy == FlushPolicy.NEVER


@pytest.mark.parametrize(("name", "call"), CLOSED_CALLS, ids=[c[0] for c in CLOSED_CALLS])
def test_anonymous_use_after_close(name: str, call: Callable[[Any], object]) -> None:
    if name in ("fileno", "flush", "flush_range", "resize", "unmap"):
        pytest.skip("anonymous mappings do not have it")
    a = AnonymousMmap(64)
    a.close()
    with pytest.raises(MappingClosedError):
        call(a)
    assert a.closed and a.path is None and "closed" in repr(a)


def test_streams_and_segments_after_close(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    r, w = m.reader(), m.writer()
    seg, segm = m.segment(0, 4), m.segment_mut(0, 4)
    m.close()  # they hold the mapping, not a buffer: close succeeds
    for call in (
        lambda: r.read(1),
        lambda: r.readinto(bytearray(1)),
        lambda: r.readline(),
        lambda: r.seek(0, os.SEEK_END),
        lambda: w.write(b"x"),
        lambda: seg.as_slice(),
        lambda: seg.read_bytes(),
        lambda: segm.as_slice_mut(),
        lambda: segm.write(b"x"),
    ):
        with pytest.raises(MappingClosedError):
            call()
    w.flush()  # a no-op once the mapping is closed
    r.close()
    w.close()


# -- views alive: close() defers, resize/refresh/unmap refuse ---------------


def _exporters() -> list[tuple[str, Callable[[Any], Any]]]:
    def chunk_view(m: Any) -> Any:
        it = m.chunks(16)
        v = next(it)
        return (it, v)

    def chunk_mut_view(m: Any) -> Any:
        it = iter(m.chunks_mut(16))
        v = next(it)
        return (it, v)

    return [
        ("as_slice", lambda m: m.as_slice(0, 10)),
        ("as_slice_empty", lambda m: m.as_slice(0, 0)),
        ("as_slice_mut", lambda m: m.as_slice_mut(0, 10)),
        ("memoryview", memoryview),
        ("sliced_memoryview", lambda m: memoryview(m)[5:9]),
        ("numpy", lambda m: np.frombuffer(m, dtype=np.uint8)),
        ("numpy_from_slice", lambda m: np.frombuffer(m.as_slice(0, 8), dtype=np.uint8)),
        ("as_array", lambda m: m.as_array("u1")),
        ("segment_slice", lambda m: m.segment(4, 4).as_slice()),
        ("segment_mut_slice", lambda m: m.segment_mut(4, 4).as_slice_mut()),
        ("chunks", chunk_view),
        ("chunks_mut", chunk_mut_view),
    ]


@pytest.mark.parametrize(("name", "export"), _exporters(), ids=[e[0] for e in _exporters()])
def test_busy_while_exported(data_file: Path, name: str, export: Callable[[Any], Any]) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    n = len(m)
    held = export(m)
    for op in (lambda: m.resize(n * 2), m.refresh, m.unmap):
        with pytest.raises(BusyError) as info:
            op()
        assert isinstance(info.value, BufferError)
        assert str(data_file) in str(info.value)
        assert not m.closed
        assert len(m) == n
        assert m.read_bytes(0, 4) == data_file.read_bytes()[:4]  # still usable
        m.update_region(0, b"ok")
    m.__exit__(None, None, None)  # close() defers instead of raising
    assert m.closed and m._exports > 0
    del held
    gc.collect()
    assert m._exports == 0 and m.closed


def test_with_block_with_live_view_closes(data_file: Path) -> None:
    keep = []
    with MemoryMappedFile.open_ro(data_file) as m:
        keep.append(m.as_slice(0, 4))
    assert m.closed
    assert bytes(keep[0]) == data_file.read_bytes()[:4]
    keep[0].release()
    assert m._exports == 0


def test_anonymous_close_with_a_live_view() -> None:
    a = AnonymousMmap(4096)
    v = memoryview(a)
    a.close()
    assert a.closed
    v[0] = 1
    assert v[0] == 1
    v.release()
    assert a._exports == 0


def test_released_views_unblock(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    with m.as_slice(0, 4) as v:
        assert bytes(v)
    v2 = m.as_slice_mut(0, 4)
    sub = v2[1:3]
    v2.release()
    with pytest.raises(BusyError):
        m.resize(2 * len(m))
    sub.release()
    m.resize(2 * len(m))
    m.close()


def test_garbage_collection_releases(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    fd = m.fileno()
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None
    with pytest.raises(OSError):
        os.fstat(fd)


def test_gc_flushes_under_policy(tmp_path: Path) -> None:
    path = tmp_path / "g.bin"
    m = MemoryMappedFile.create_rw(path, 4096, flush_policy=FlushPolicy.every_writes(100))
    m.update_region(0, b"gc")
    del m
    gc.collect()
    assert path.read_bytes()[:2] == b"gc"
