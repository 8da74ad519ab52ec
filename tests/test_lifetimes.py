"""Lifetimes: close() with live views, what keeps memory mapped, refresh(),
and buffer exports that no other request can take over."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _lifetime_workers import append_lines
from mmap_io import (
    AnonymousMmap,
    BusyError,
    FlushPolicy,
    InvalidModeError,
    MappingClosedError,
    MemoryMappedFile,
    MmapAdvice,
    OutOfBoundsError,
    _core,
    page_size,
)

PS = page_size()


# -- helpers ---------------------------------------------------------------


def _maps_text() -> str:
    with open("/proc/self/maps") as f:
        return f.read()


def _is_mapped(addr: int) -> bool:
    """Whether ``addr`` lies in a mapping of this process."""
    for line in _maps_text().splitlines():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= addr < hi:
            return True
    return False


def _maps_file(path: Path) -> bool:
    return str(path) in _maps_text()


def _fd_open_on(fd: int, path: Path) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == str(path)
    except OSError:
        return False


class _Probe:
    """Where a file mapping lives, to check later that it is really gone."""

    def __init__(self, m: MemoryMappedFile) -> None:
        assert m.path is not None
        self.path = m.path.resolve()
        self.addr = m.as_ptr()
        self.fd = m.fileno()

    def alive(self) -> bool:
        mapped = _maps_file(self.path)
        fd_open = _fd_open_on(self.fd, self.path)
        assert mapped == fd_open, (mapped, fd_open)  # both go at once
        return mapped

    def assert_gone(self) -> None:
        gc.collect()
        assert not _maps_file(self.path), "mapping leaked"
        assert not _fd_open_on(self.fd, self.path), "descriptor leaked"


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "lifetimes.bin"
    path.write_bytes(bytes(range(256)) * (4 * PS // 256))
    return path


def _exporters() -> list[tuple[str, Callable[[Any], Any], str]]:
    """(name, make a view, what a BusyError message calls it)."""

    def chunk(m: Any) -> Any:
        it = m.chunks(16)
        return (it, next(it))

    return [
        ("as_slice", lambda m: m.as_slice(0, 10), "1 memoryview"),
        ("as_slice_empty", lambda m: m.as_slice(0, 0), "1 memoryview"),
        ("as_slice_mut", lambda m: m.as_slice_mut(0, 10), "1 memoryview"),
        ("memoryview", memoryview, "1 buffer export"),
        ("sliced_memoryview", lambda m: memoryview(m)[5:9], "1 buffer export"),
        ("numpy_frombuffer", lambda m: np.frombuffer(m, dtype=np.uint8), "1 buffer export"),
        ("as_array", lambda m: m.as_array("u1"), "1 numpy array"),
        ("as_array_2d", lambda m: m.as_array("<u4", 16, (4, 4)), "1 numpy array"),
        ("segment_slice", lambda m: m.segment(4, 4).as_slice(), "1 memoryview"),
        ("chunks", chunk, "1 memoryview"),
        ("atomic_u64", lambda m: m.atomic_u64(8), "1 atomic view"),
        ("atomic_u32_slice", lambda m: m.atomic_u32_slice(0, 4), "1 atomic slice"),
    ]


_IDS = [e[0] for e in _exporters()]


# -- close() with live views defers ------------------------------------------


@pytest.mark.parametrize(("name", "export", "kind"), _exporters(), ids=_IDS)
def test_close_defers_until_the_last_view(
    big_file: Path, name: str, export: Callable[[Any], Any], kind: str
) -> None:
    m = MemoryMappedFile.open_rw(big_file)
    probe = _Probe(m)
    held = export(m)
    m.close()  # never BusyError
    assert m.closed
    assert probe.alive()  # the view still needs the memory and the fd
    assert f"kept alive by {kind}" in repr(m)
    for new_op in (lambda: len(m), lambda: m.read_bytes(0, 1), lambda: m.as_slice(0, 1)):
        with pytest.raises(MappingClosedError):
            new_op()
    m.close()  # idempotent, still deferred
    assert probe.alive()
    del held
    probe.assert_gone()
    assert repr(m).endswith(" closed>")


def test_views_stay_usable_after_close(big_file: Path) -> None:
    expected = big_file.read_bytes()
    m = MemoryMappedFile.open_rw(big_file)
    ro = m.as_slice(0, 64)
    rw = m.as_slice_mut(64, 64)
    arr = m.as_array("<u8")
    whole = memoryview(m)
    c = m.atomic_u64(PS)
    m.close()
    assert bytes(ro) == expected[:64]
    rw[:4] = b"WXYZ"
    assert bytes(whole[64:68]) == b"WXYZ"
    arr[1] = 7
    assert int.from_bytes(whole[8:16], "little") == 7
    assert c.fetch_add(5) == int.from_bytes(expected[PS : PS + 8], "little")
    assert c.load() == int.from_bytes(expected[PS : PS + 8], "little") + 5
    sub = rw[1:3]  # a view of a view: no new export needed
    assert bytes(sub) == b"XY"
    del ro, rw, arr, whole, c, sub
    gc.collect()
    data = big_file.read_bytes()
    assert data[64:68] == b"WXYZ" and data[8:16] == (7).to_bytes(8, "little")


def test_with_block_keeps_the_users_exception(big_file: Path) -> None:
    with pytest.raises(KeyError), MemoryMappedFile.open_ro(big_file) as m:
        v = m.as_slice(0, 4)
        raise KeyError("mine")
    assert m.closed
    assert bytes(v) == big_file.read_bytes()[:4]
    v.release()


def test_numpy_array_outlives_the_with_block(big_file: Path) -> None:
    with MemoryMappedFile.open_ro(big_file) as m:
        a = m.as_array("u1")
        probe = _Probe(m)
    assert m.closed and probe.alive()
    assert a.sum() == sum(big_file.read_bytes())
    assert not a.flags.writeable
    del a
    probe.assert_gone()


def test_every_view_kind_at_once(big_file: Path) -> None:
    m = MemoryMappedFile.open_rw(big_file)
    probe = _Probe(m)
    views: list[Any] = [
        m.as_slice(0, 8),
        m.as_slice_mut(8, 8),
        m.as_array("u1"),
        memoryview(m),
        m.atomic_u64(16),
        m.atomic_u64_slice(24, 2),
    ]
    m.close()
    assert "kept alive by 1 buffer export, 2 memoryviews, 1 numpy array, 1 atomic view, " in repr(m)
    while views:
        assert probe.alive()
        views.pop(0)
        gc.collect()
    probe.assert_gone()


def test_view_released_in_another_thread(big_file: Path) -> None:
    m = MemoryMappedFile.open_rw(big_file)
    probe = _Probe(m)
    box: list[Any] = [m.as_array("<u4"), m.as_slice_mut(0, 16)]
    m.close()

    def drop() -> None:
        box[1][:2] = b"ok"
        box.clear()  # the last views go in this thread

    t = threading.Thread(target=drop)
    t.start()
    t.join()
    probe.assert_gone()
    assert big_file.read_bytes()[:2] == b"ok"


def test_gc_without_close_unmaps_after_the_last_view(big_file: Path) -> None:
    m = MemoryMappedFile.open_rw(big_file)
    probe = _Probe(m)
    v = m.as_slice(0, 16)
    arr = m.as_array("u1")
    del m
    gc.collect()
    assert probe.alive()  # the views keep the mapping object, and so the memory
    assert bytes(v) == big_file.read_bytes()[:16] and arr[0] == 0
    del v
    gc.collect()
    assert probe.alive()
    del arr
    probe.assert_gone()


def test_cycle_through_a_view_is_collected(big_file: Path) -> None:
    class Holder(MemoryMappedFile):
        pass  # has a __dict__, so it can hold its own view

    m = Holder.open_rw(big_file)
    probe = _Probe(m)
    m.keep = m.as_slice(0, 8)  # type: ignore[attr-defined]
    m.close()
    del m
    probe.assert_gone()
    m2 = Holder.open_rw(big_file)
    probe2 = _Probe(m2)
    # (not through a numpy array: arrays do not take part in the GC at all)
    m2.keep = (m2.as_slice_mut(0, 8), m2.atomic_u64(0), m2)  # type: ignore[attr-defined]
    del m2  # never closed
    probe2.assert_gone()


def test_writes_through_views_after_close_are_flushed_under_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.bin"
    m = MemoryMappedFile.create_rw(path, PS, flush_policy=FlushPolicy.every_writes(1000))
    v = m.as_slice_mut(0, 8)
    m.close()
    v[:] = b"deferred"
    assert path.read_bytes()[:8] == b"deferred"  # one page cache: visible at once
    v.release()  # the deferred unmapping msyncs first (policy is not NEVER)
    with MemoryMappedFile.open_ro(path) as ro:
        assert ro.read_bytes(0, 8) == b"deferred"


def test_close_still_flushes_and_stops_threads_with_views_alive(tmp_path: Path) -> None:
    path = tmp_path / "millis.bin"
    m = MemoryMappedFile.create_rw(path, PS, flush_policy=FlushPolicy.every_millis(5))
    flusher = m._flusher
    assert flusher is not None
    m.update_region(0, b"counted")
    v = m.as_slice(0, 4)
    m.close()
    assert m._flusher is None and m.pending_bytes == 0
    assert path.read_bytes()[:7] == b"counted"
    v.release()


def test_anonymous_close_defers(tmp_path: Path) -> None:
    a = AnonymousMmap(PS)
    addr = a.as_ptr()
    v = a.as_slice_mut(0, 4)
    a.close()
    assert a.closed and "kept alive by 1 memoryview" in repr(a)
    v[:] = b"anon"
    assert bytes(v) == b"anon" and _is_mapped(addr)
    v.release()
    gc.collect()
    assert not _is_mapped(addr)


def test_atomic_slice_items_after_close(big_file: Path) -> None:
    m = MemoryMappedFile.open_rw(big_file)
    arr = m.atomic_u64_slice(0, 4)
    m.close()
    item = arr[2]  # the slice keeps the memory: its items stay reachable
    item.store(9)
    assert arr[2].load() == 9 and [x.offset for x in arr[1:3]] == [8, 16]
    arr.release()
    assert item.load() == 9  # the item is a view of its own
    with pytest.raises(MappingClosedError):
        arr[0]
    del item
    gc.collect()
    assert big_file.read_bytes()[16:24] == (9).to_bytes(8, "little")


def test_new_exports_from_a_closed_mapping_are_refused(big_file: Path) -> None:
    m = MemoryMappedFile.open_rw(big_file)
    v = m.as_slice(4, 4)
    assert v.obj is m  # the mapping itself exports every view
    m.close()
    for new in (lambda: memoryview(v.obj), lambda: memoryview(m), lambda: m.atomic_u32(0)):
        with pytest.raises(MappingClosedError):
            new()
    assert bytes(v[1:]) == big_file.read_bytes()[5:8]  # slicing the old view is fine
    v.release()


# -- resize(), refresh() and unmap() still refuse -----------------------------


@pytest.mark.parametrize(("name", "export", "kind"), _exporters(), ids=_IDS)
def test_busy_message_names_the_views(
    big_file: Path, name: str, export: Callable[[Any], Any], kind: str
) -> None:
    m = MemoryMappedFile.open_rw(big_file)
    n = len(m)
    held = export(m)
    for op, what in (
        (lambda: m.resize(2 * n), "resize"),
        (m.refresh, "refresh"),
        (m.unmap, "unmap"),
    ):
        with pytest.raises(BusyError) as info:
            op()
        text = str(info.value)
        assert f"cannot {what} mapping" in text and f"{kind} still alive" in text, text
        assert str(big_file) in text
        assert not m.closed and len(m) == n
        assert m.read_bytes(0, 4) == big_file.read_bytes()[:4]  # intact and usable
    del held
    gc.collect()
    assert m._exports == 0
    assert m.refresh() == n
    f = m.unmap()
    assert m.closed and f.read(4) == big_file.read_bytes()[:4]
    f.close()


def test_busy_message_counts_every_kind(big_file: Path) -> None:
    m = MemoryMappedFile.open_rw(big_file)
    held = [
        m.as_slice(0, 1),
        m.as_slice_mut(0, 1),
        m.as_array("u1"),
        m.atomic_u64(0),
        memoryview(m),
        m.atomic_u32_slice(0, 2),
        m.atomic_u32_slice(8, 2),
    ]
    with pytest.raises(BusyError) as info:
        m.resize(2 * PS)
    assert (
        "1 buffer export, 2 memoryviews, 1 numpy array, 1 atomic view, 2 atomic slices still alive"
        in str(info.value)
    )
    del held
    m.close()


# -- refresh() -----------------------------------------------------------------


@pytest.mark.parametrize("opener", ["open_ro", "open_rw", "open_cow"])
def test_refresh_follows_growth_and_shrinking(tmp_path: Path, opener: str) -> None:
    path = tmp_path / "grow.bin"
    path.write_bytes(b"a" * 100)
    m = getattr(MemoryMappedFile, opener)(path)
    assert m.refresh() == 100  # unchanged
    with open(path, "ab") as f:
        f.write(b"b" * (3 * PS))
    assert len(m) == 100
    assert m.refresh() == 100 + 3 * PS == len(m)
    assert m.read_bytes(0, 100) == b"a" * 100 and m.read_bytes(100, 3 * PS) == b"b" * 3 * PS
    os.truncate(path, 50)
    assert m.refresh() == 50 == len(m)
    assert m.read_bytes(0, 50) == b"a" * 50
    with pytest.raises(OutOfBoundsError):
        m.read_bytes(50, 1)
    m.close()


@pytest.mark.parametrize("opener", ["open_ro", "open_rw", "open_cow"])
def test_refresh_to_and_from_an_empty_file(tmp_path: Path, opener: str) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"x" * PS)
    m = getattr(MemoryMappedFile, opener)(path)
    os.truncate(path, 0)
    assert m.refresh() == 0 and len(m) == 0 and m.is_empty()
    assert m.read_bytes(0, 0) == b"" and bytes(m.as_slice(0, 0)) == b""
    assert list(m.chunks(16)) == []
    with pytest.raises(OutOfBoundsError):
        m.read_bytes(0, 1)
    path.write_bytes(b"back")
    assert m.refresh() == 4 and m.read_bytes(0, 4) == b"back"
    m.close()


def test_refresh_of_an_empty_read_only_mapping(tmp_path: Path) -> None:
    path = tmp_path / "starts-empty.log"
    path.touch()
    with MemoryMappedFile.open_ro(path) as m:
        assert len(m) == 0
        assert m.refresh() == 0
        path.write_bytes(b"first line\n")
        assert m.refresh() == 11 and bytes(m.as_slice(0, 11)) == b"first line\n"


def test_refresh_keeps_copy_on_write_changes(tmp_path: Path) -> None:
    path = tmp_path / "cow.bin"
    path.write_bytes(b"f" * (2 * PS))
    m = MemoryMappedFile.open_cow(path)
    m.update_region(0, b"private")
    m.advise(PS, PS, MmapAdvice.RANDOM)  # splits the mapping: mremap cannot grow it
    with open(path, "ab") as f:
        f.write(b"g" * PS)
    assert m.refresh() == 3 * PS
    assert m.read_bytes(0, 7) == b"private" and m.read_bytes(2 * PS, 1) == b"g"
    assert path.read_bytes()[:7] == b"fffffff"
    m.close()


def test_refresh_of_a_split_read_write_mapping(tmp_path: Path) -> None:
    path = tmp_path / "rw.bin"
    path.write_bytes(bytes(2 * PS))
    m = MemoryMappedFile.open_rw(path)
    m.advise(0, PS, MmapAdvice.SEQUENTIAL)
    m.update_region(0, b"kept")
    os.truncate(path, 4 * PS)
    assert m.refresh() == 4 * PS
    m.update_region(3 * PS, b"tail")
    m.flush()
    data = path.read_bytes()
    assert data[:4] == b"kept" and data[3 * PS : 3 * PS + 4] == b"tail"
    m.close()


def test_refresh_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.bin"
    path.write_bytes(b"z" * 10)
    m = MemoryMappedFile.open_ro(path)
    m.close()
    with pytest.raises(MappingClosedError):
        m.refresh()
    a = AnonymousMmap(PS)
    assert not hasattr(a, "refresh")
    with pytest.raises(InvalidModeError):
        _core.Mapping.refresh(a)
    a.close()


def test_refresh_re_checks_after_views(tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    path.write_bytes(b"v" * PS)
    with MemoryMappedFile.open_ro(path) as m:
        v = m.as_slice(0, PS)
        with open(path, "ab") as f:
            f.write(b"w" * PS)
        with pytest.raises(BusyError):
            m.refresh()
        assert len(m) == PS and bytes(v) == b"v" * PS
        v.release()
        assert m.refresh() == 2 * PS


def test_refresh_follows_another_process_appending(tmp_path: Path) -> None:
    path = tmp_path / "follow.log"
    path.touch()
    count = 200
    ctx = multiprocessing.get_context("spawn")
    writer = ctx.Process(target=append_lines, args=(str(path), count, 0.001))
    seen = b""
    with MemoryMappedFile.open_ro(path) as log:
        writer.start()
        try:
            deadline = time.monotonic() + 30
            while len(seen) < count * 11 and time.monotonic() < deadline:
                n = log.refresh()
                if n > len(seen):
                    seen += log.read_bytes(len(seen), n - len(seen))
                time.sleep(0.0005)
        finally:
            writer.join(30)
    assert writer.exitcode == 0
    assert seen == b"".join(b"line %05d\n" % i for i in range(count))


# -- a buffer request cannot take another's range -----------------------------


@contextlib.contextmanager
def _gc_every_allocation() -> Iterator[None]:
    old = gc.get_threshold()
    gc.set_threshold(1)
    try:
        yield
    finally:
        gc.set_threshold(*old)


_WHOLE_BUFFER_TAKERS: list[tuple[str, Callable[[Any], object]]] = [
    ("bytes", bytes),
    ("hashlib", lambda m: hashlib.sha256(m).digest()),
    ("numpy", lambda m: np.frombuffer(m, dtype=np.uint8).tobytes()),
    ("memoryview", lambda m: memoryview(m).tobytes()),
]


@pytest.mark.parametrize(
    ("name", "take"), _WHOLE_BUFFER_TAKERS, ids=[t[0] for t in _WHOLE_BUFFER_TAKERS]
)
@pytest.mark.parametrize("mutable", [False, True], ids=["as_slice", "as_slice_mut"])
def test_finalizer_during_as_slice_gets_the_whole_mapping(
    rw: MemoryMappedFile, name: str, take: Callable[[Any], object], mutable: bool
) -> None:
    expected_whole = take(rw)
    seen: list[object] = []

    class Taker:
        def __init__(self) -> None:
            self.me = self  # cyclic garbage: only the collector frees it

        def __del__(self) -> None:
            seen.append(take(rw))

    make = rw.as_slice_mut if mutable else rw.as_slice
    want = rw.read_bytes(10, 10)
    with _gc_every_allocation():
        for _ in range(50):
            Taker()
            v = make(10, 10)
            assert v.nbytes == 10 and bytes(v) == want and v.readonly is not mutable
            v.release()
    gc.collect()
    assert seen, "no finalizer ran during as_slice"
    assert all(s == expected_whole for s in seen)
    assert rw._exports == 0


def test_gc_callback_during_as_slice_gets_the_whole_mapping(rw: MemoryMappedFile) -> None:
    sizes: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            with memoryview(rw) as whole:
                sizes.append(whole.nbytes)

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    gc.callbacks.append(callback)
    try:
        with _gc_every_allocation():
            for _ in range(50):
                Cycle()
                with rw.as_slice(100, 10) as v:
                    assert v.nbytes == 10
    finally:
        gc.callbacks.remove(callback)
    assert sizes and set(sizes) == {len(rw)}


def test_finalizer_closing_the_mapping_during_as_slice(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)

    class Closer:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            m.close()

    results: list[str] = []
    with _gc_every_allocation():
        for _ in range(20):
            Closer()
            try:
                v = m.as_slice(0, 10)
            except MappingClosedError:
                results.append("closed")
            else:
                results.append("view")
                assert bytes(v) == data_file.read_bytes()[:10]  # valid even if closed since
                v.release()
    assert "closed" in results
    assert m.closed and m._exports == 0


def test_threads_taking_whole_buffers_while_others_slice(rw: MemoryMappedFile) -> None:
    whole = len(rw)
    errors: list[str] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible

    def slicer() -> None:
        for i in range(2000):
            with rw.as_slice(i % 100, 10) as v:
                if v.nbytes != 10:
                    errors.append(f"slice of {v.nbytes} bytes")

    def taker() -> None:
        for _ in range(300):
            with memoryview(rw) as v:
                if v.nbytes != whole:
                    errors.append(f"whole buffer of {v.nbytes} bytes")

    threads = [threading.Thread(target=f) for f in (slicer, slicer, taker, taker)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [] and rw._exports == 0
