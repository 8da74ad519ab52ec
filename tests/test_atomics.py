"""Atomic views (AtomicU64, AtomicU32 and their slices) on mapped memory."""

from __future__ import annotations

import gc
import inspect
import multiprocessing
import operator
import os
import pickle
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _atomic_workers as workers
from mmap_io import (
    AnonymousMmap,
    AtomicU32,
    AtomicU64,
    BusyError,
    FileTruncatedError,
    InvalidModeError,
    MappingClosedError,
    MemoryMappedFile,
    MisalignedError,
    MmapIoError,
    OutOfBoundsError,
)
from mmap_io._core import AtomicSlice

WIDTHS = [8, 4]
TYPES = {8: AtomicU64, 4: AtomicU32}
WRITE_OPS: list[tuple[str, tuple[int, ...]]] = [
    ("store", (1,)),
    ("fetch_add", (1,)),
    ("fetch_sub", (1,)),
    ("fetch_and", (1,)),
    ("fetch_or", (1,)),
    ("fetch_xor", (1,)),
    ("swap", (1,)),
    ("compare_exchange", (0, 1)),
]


def view(m: Any, width: int, offset: int) -> Any:
    return m.atomic_u64(offset) if width == 8 else m.atomic_u32(offset)


def slice_of(m: Any, width: int, offset: int, count: int) -> Any:
    if width == 8:
        return m.atomic_u64_slice(offset, count)
    return m.atomic_u32_slice(offset, count)


def read_int(m: Any, offset: int, width: int) -> int:
    return int.from_bytes(m.read_bytes(offset, width), sys.byteorder)


@pytest.fixture
def rw(tmp_path: Path) -> Iterator[MemoryMappedFile]:
    m = MemoryMappedFile.create_rw(tmp_path / "atomics.bin", 4096)
    yield m
    gc.collect()
    m.close()


# -- operations ------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_operations_return_old_value(rw: MemoryMappedFile, width: int) -> None:
    with view(rw, width, 16) as c:
        assert isinstance(c, TYPES[width])
        assert c.load() == 0
        assert c.store(12) is None  # type: ignore[func-returns-value]
        assert c.load() == 12
        assert c.fetch_add(5) == 12
        assert c.fetch_sub(3) == 17
        assert c.load() == 14
        assert c.fetch_and(0b1010) == 14
        assert c.fetch_or(0b0101) == 0b1010
        assert c.fetch_xor(0b0011) == 0b1111
        assert c.load() == 0b1100
        assert c.swap(99) == 0b1100
        assert c.compare_exchange(99, 7) == (True, 99)
        assert c.compare_exchange(99, 8) == (False, 7)
        assert c.load() == 7
        ok, prev = c.compare_exchange(7, 7)
        assert ok is True and prev == 7
    assert read_int(rw, 16, width) == 7
    assert read_int(rw, 16 + width, width) == 0  # the neighbours are untouched
    assert read_int(rw, 16 - width, width) == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_wraparound(rw: MemoryMappedFile, width: int) -> None:
    top = 2 ** (8 * width) - 1
    with view(rw, width, 0) as c:
        c.store(top)
        assert c.fetch_add(1) == top
        assert c.load() == 0
        assert c.fetch_sub(1) == 0
        assert c.load() == top
        assert c.fetch_add(top) == top  # adding 2**n - 1 subtracts 1
        assert c.load() == top - 1
        c.store(5)
        c.fetch_sub(top)
        assert c.load() == 6


@pytest.mark.parametrize("width", WIDTHS)
def test_values_out_of_range_raise_overflow(rw: MemoryMappedFile, width: int) -> None:
    limit = 2 ** (8 * width)
    with view(rw, width, 0) as c:
        c.store(3)
        for bad in (-1, limit, limit + 1, 2**200, -(2**200)):
            for name in ("store", "fetch_add", "fetch_sub", "fetch_and", "fetch_or", "swap"):
                with pytest.raises(OverflowError, match=str(bad)):
                    getattr(c, name)(bad)
            with pytest.raises(OverflowError, match=f"2\\*\\*{8 * width}"):
                c.compare_exchange(3, bad)
            with pytest.raises(OverflowError):
                c.compare_exchange(bad, 3)
        for huge in (10**5000, -(10**5000)):  # too many digits to show
            with pytest.raises(OverflowError, match="out of range"):
                c.fetch_add(huge)
        assert c.load() == 3  # nothing was written
        c.store(limit - 1)
        assert c.load() == limit - 1


@pytest.mark.parametrize("width", WIDTHS)
def test_values_must_be_ints(rw: MemoryMappedFile, width: int) -> None:
    with view(rw, width, 0) as c:
        for bad in (1.0, "1", None, b"\x01", [1]):
            for name in ("store", "fetch_add", "fetch_xor", "swap"):
                with pytest.raises(TypeError, match="must be an int"):
                    getattr(c, name)(bad)
            with pytest.raises(TypeError):
                c.compare_exchange(0, bad)
        # bool and __index__ objects (numpy integers) are ints
        c.store(True)
        assert c.load() == 1
        c.fetch_add(np.uint64(2) if width == 8 else np.uint32(2))
        assert c.load() == 3
        with pytest.raises(OverflowError):
            c.store(np.int64(-1))


def test_argument_count_errors(rw: MemoryMappedFile) -> None:
    with rw.atomic_u64(0) as c:
        with pytest.raises(TypeError):
            c.compare_exchange(1)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            c.compare_exchange(1, 2, 3)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            c.fetch_add()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            c.load(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        rw.atomic_u64_slice(0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        rw.atomic_u64()  # type: ignore[call-arg]


def test_signatures_and_docs() -> None:
    assert str(inspect.signature(AtomicU64.fetch_add)) == "(self, value, /)"
    assert str(inspect.signature(AtomicU32.compare_exchange)) == "(self, expected, new, /)"
    assert str(inspect.signature(MemoryMappedFile.atomic_u64)) == "(self, offset, /)"
    sig = inspect.signature(AnonymousMmap.atomic_u32_slice)
    assert str(sig) == "(self, offset, count, /)"
    for cls in (AtomicU64, AtomicU32, AtomicSlice):
        assert cls.__doc__ and ">>>" in cls.__doc__
    for name in ("load", "store", "fetch_add", "swap", "compare_exchange", "release"):
        doc = getattr(AtomicU64, name).__doc__
        assert doc and ">>>" in doc, name


def test_views_cannot_be_made_directly() -> None:
    for cls in (AtomicU64, AtomicU32, AtomicSlice):
        with pytest.raises(TypeError):
            cls()


def test_views_do_not_pickle(rw: MemoryMappedFile) -> None:
    with rw.atomic_u64(0) as c, rw.atomic_u64_slice(0, 2) as arr:
        for obj in (c, arr):
            with pytest.raises(TypeError):
                pickle.dumps(obj)


class ReleasingIndex:
    """An int-like whose __index__ releases the view being used, then closes."""

    def __init__(self, *victims: Any) -> None:
        self.victims = victims

    def __index__(self) -> int:
        for v in self.victims:
            v.release() if hasattr(v, "release") else v.close()
        return 0


def test_index_hook_that_releases_the_view_cannot_crash() -> None:
    ops = (("store", 1), ("fetch_add", 1), ("swap", 1), ("compare_exchange", 2))
    for name, nargs in ops:
        m = AnonymousMmap(4096)
        c = m.atomic_u64(0)
        args = [0] * (nargs - 1) + [ReleasingIndex(c, m)]
        with pytest.raises(MappingClosedError):
            getattr(c, name)(*args)
        assert m.closed  # unmapped while the call was under way
    m = AnonymousMmap(4096)
    arr = m.atomic_u32_slice(0, 4)
    with pytest.raises(MappingClosedError):
        arr[ReleasingIndex(arr, m) :]
    with pytest.raises(MappingClosedError):
        arr[ReleasingIndex()]
    assert m.closed


def test_offset_index_hook_that_closes_the_mapping(rw: MemoryMappedFile) -> None:
    with pytest.raises(MappingClosedError):
        rw.atomic_u64(ReleasingIndex(rw))  # type: ignore[arg-type]
    assert rw._exports == 0


# -- alignment and bounds --------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_misaligned_offsets(rw: MemoryMappedFile, width: int) -> None:
    for off in range(1, width):
        with pytest.raises(MisalignedError) as info:
            view(rw, width, off)
        assert info.value.required == width
        assert info.value.offset == off
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, MmapIoError)
        assert str(off) in str(info.value) and "atomics.bin" in str(info.value)
        with pytest.raises(MisalignedError):
            slice_of(rw, width, off, 1)
    assert rw._exports == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_alignment_is_checked_before_bounds(rw: MemoryMappedFile, width: int) -> None:
    for off in (4096 + 1, 10**6 + 1, -3, 2**70 + 1, 2**64 + 1):
        with pytest.raises(MisalignedError) as info:
            view(rw, width, off)
        assert info.value.offset == off
        assert info.value.required == width
    with pytest.raises(MisalignedError):
        slice_of(rw, width, 2**70 + 1, 10**30)
    with pytest.raises(MisalignedError) as info:  # too many digits for a message
        view(rw, width, 10**5000 + 1)
    assert info.value.offset == 10**5000 + 1


@pytest.mark.parametrize("width", WIDTHS)
def test_out_of_bounds(rw: MemoryMappedFile, width: int) -> None:
    with view(rw, width, 4096 - width) as c:  # the last slot is fine
        c.store(1)
    for off in (4096, 4096 + width, -width, 2**70, 2**64, -(2**70)):
        with pytest.raises(OutOfBoundsError) as info:
            view(rw, width, off)
        assert info.value.offset == off
        assert info.value.length == width
        assert info.value.total == 4096
        assert isinstance(info.value, IndexError)
    n = 4096 // width
    with slice_of(rw, width, 0, n) as arr:
        assert len(arr) == n
    with slice_of(rw, width, 4096, 0) as arr:
        assert len(arr) == 0
    for off, count in ((0, n + 1), (width, n), (0, -1), (0, 2**70), (4096 + width, 0)):
        with pytest.raises(OutOfBoundsError) as info:
            slice_of(rw, width, off, count)
        assert info.value.offset == off
        assert info.value.length == count * width
        assert info.value.total == 4096
    assert rw._exports == 0


def test_offset_and_count_must_be_ints(rw: MemoryMappedFile) -> None:
    for bad in (8.0, "8", None):
        with pytest.raises(TypeError, match="offset must be an int"):
            rw.atomic_u64(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="count must be an int"):
            rw.atomic_u32_slice(0, bad)  # type: ignore[arg-type]
    with rw.atomic_u64(np.int64(8)) as c:  # type: ignore[arg-type]
        assert c.offset == 8


def test_empty_read_only_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    with MemoryMappedFile.open_ro(path) as m:
        with pytest.raises(OutOfBoundsError):
            m.atomic_u64(0)
        with m.atomic_u64_slice(0, 0) as arr:
            assert len(arr) == 0
            assert list(arr) == []


# -- modes -----------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_read_only_mapping_allows_only_load(tmp_path: Path, width: int) -> None:
    path = tmp_path / "ro.bin"
    data = (123).to_bytes(width, sys.byteorder) + bytes(4096 - width)
    path.write_bytes(data)
    with MemoryMappedFile.open_ro(path) as m:
        with view(m, width, 0) as c:
            assert c.load() == 123
            for name, args in WRITE_OPS:
                with pytest.raises(InvalidModeError, match="read-only") as info:
                    getattr(c, name)(*args)
                assert isinstance(info.value, ValueError)
                assert "ro.bin" in str(info.value)
            # the mode error comes first, even for a bad value
            with pytest.raises(InvalidModeError):
                c.store(-1)
            assert c.load() == 123
        with slice_of(m, width, 0, 4) as arr:
            assert [x.load() for x in arr] == [123, 0, 0, 0]
            with pytest.raises(InvalidModeError):
                arr[1].fetch_add(1)
    assert path.read_bytes() == data


@pytest.mark.parametrize("width", WIDTHS)
def test_copy_on_write_is_private(tmp_path: Path, width: int) -> None:
    path = tmp_path / "cow.bin"
    data = os.urandom(4096)
    path.write_bytes(data)
    orig = int.from_bytes(data[:width], sys.byteorder)
    with MemoryMappedFile.open_cow(path) as a, MemoryMappedFile.open_cow(path) as b:
        with view(a, width, 0) as ca, view(b, width, 0) as cb:
            assert ca.load() == orig
            for name, args in WRITE_OPS:
                getattr(ca, name)(*args)
            ca.store(42)
            assert ca.fetch_add(1) == 42
            assert ca.load() == 43
            assert read_int(a, 0, width) == 43
            assert cb.load() == orig  # another private copy does not see it
        a.flush()  # a no-op on COW
    assert path.read_bytes() == data


def test_shared_mappings_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "shared.bin"
    a = MemoryMappedFile.create_rw(path, 4096)
    b = MemoryMappedFile.open_rw(path)
    with a, b, a.atomic_u64(8) as ca, b.atomic_u64(8) as cb:
        ca.fetch_add(5)
        assert cb.fetch_add(1) == 5
        assert ca.load() == 6
    assert int.from_bytes(path.read_bytes()[8:16], sys.byteorder) == 6


def test_writes_reach_the_file_after_flush(tmp_path: Path) -> None:
    path = tmp_path / "durable.bin"
    with MemoryMappedFile.create_rw(path, 4096) as m:
        with m.atomic_u64(64) as c:
            c.store(0x0102030405060708)
        m.flush()
        assert path.read_bytes()[64:72] == (0x0102030405060708).to_bytes(8, sys.byteorder)


def test_anonymous_mapping() -> None:
    with AnonymousMmap(4096) as a:
        with a.atomic_u64(0) as c, a.atomic_u32_slice(8, 4) as arr:
            assert c.fetch_add(3) == 0
            arr[2].store(9)
            assert a.read_bytes(16, 4) == (9).to_bytes(4, sys.byteorder)
            assert "anonymous" in repr(c)
            a.close()  # deferred: the views keep the memory
            assert a.closed
            assert c.fetch_add(1) == 3 and arr[2].load() == 9
        assert a._exports == 0
    assert a.closed


# -- lifetime --------------------------------------------------------------


def test_live_view_blocks_resize(rw: MemoryMappedFile) -> None:
    c = rw.atomic_u64(0)
    assert rw._exports == 1
    with pytest.raises(BusyError, match="1 atomic view still alive"):
        rw.resize(8192)
    assert not rw.closed and len(rw) == 4096
    c.store(1)  # still usable
    c.release()
    assert rw._exports == 0
    rw.resize(8192)
    with rw.atomic_u64(8192 - 8) as c2:
        c2.store(1)
    rw.close()


def test_release_and_with(rw: MemoryMappedFile) -> None:
    c = rw.atomic_u32(4)
    assert not c.released
    with c as same:
        assert same is c
        c.store(3)
    assert c.released
    assert rw._exports == 0
    for name, args in [("load", ()), *WRITE_OPS]:
        with pytest.raises(MappingClosedError, match="released"):
            getattr(c, name)(*args)
    with pytest.raises(MappingClosedError), c:
        pass
    c.release()  # idempotent
    assert "released" in repr(c)
    assert c.offset == 4
    rw.close()


def test_with_releases_on_error(rw: MemoryMappedFile) -> None:
    with pytest.raises(RuntimeError), rw.atomic_u64(0):
        raise RuntimeError("boom")
    assert rw._exports == 0


def test_garbage_collected_view_releases(rw: MemoryMappedFile) -> None:
    rw.atomic_u64(0).store(5)
    assert rw._exports == 0
    views = [rw.atomic_u32(4 * i) for i in range(10)]
    assert rw._exports == 10
    del views
    assert rw._exports == 0
    rw.close()


def test_view_keeps_the_mapping_alive(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "alive.bin", 4096)
    ref = weakref.ref(m)
    c = m.atomic_u64(0)
    del m
    gc.collect()
    assert ref() is not None
    assert c.fetch_add(2) == 0
    assert c.load() == 2
    c.release()
    gc.collect()
    assert ref() is None  # the mapping went away (and unmapped) with its last holder


def test_closed_mapping(rw: MemoryMappedFile) -> None:
    rw.close()
    with pytest.raises(MappingClosedError):
        rw.atomic_u64(0)
    with pytest.raises(MappingClosedError):
        rw.atomic_u32_slice(0, 1)


def test_truncated_file_raises_instead_of_crashing(tmp_path: Path) -> None:
    path = tmp_path / "trunc.bin"
    m = MemoryMappedFile.create_rw(path, 8192)
    with m, m.atomic_u64(4096) as c, m.atomic_u32(4096 + 8) as c32:
        c.store(1)
        os.truncate(path, 0)  # as another process might
        with pytest.raises(FileTruncatedError) as info:
            c.load()
        assert isinstance(info.value, OSError) and "trunc.bin" in str(info.value)
        for name, args in WRITE_OPS:
            with pytest.raises(FileTruncatedError):
                getattr(c, name)(*args)
            with pytest.raises(FileTruncatedError):
                getattr(c32, name)(*args)
        assert "value=?" in repr(c)


def test_reprs(rw: MemoryMappedFile) -> None:
    with rw.atomic_u64(8) as c:
        c.store(77)
        r = repr(c)
        assert r.startswith("<AtomicU64 ") and "offset=8" in r and "value=77" in r
        assert "atomics.bin" in r
    with rw.atomic_u32_slice(4, 3) as arr:
        r = repr(arr)
        assert "AtomicSlice" in r and "3 AtomicU32" in r and "offset=4" in r
        assert "atomics.bin" in r
    assert "released" in repr(arr)


# -- slices ----------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_slice_sequence_protocol(rw: MemoryMappedFile, width: int) -> None:
    with slice_of(rw, width, 32, 5) as arr:
        assert isinstance(arr, AtomicSlice)
        assert len(arr) == 5
        assert arr.offset == 32 and arr.itemsize == width
        assert [c.offset for c in arr] == [32 + i * width for i in range(5)]
        for i, c in enumerate(arr):
            assert isinstance(c, TYPES[width])
            c.store(i * 10)
        del c  # the loop variable holds the last item's export
        assert arr[0].load() == 0
        assert arr[4].load() == 40
        assert arr[-1].load() == 40
        assert arr[-5].load() == 0
        assert [c.load() for c in reversed(arr)] == [40, 30, 20, 10, 0]
        assert read_int(rw, 32 + 2 * width, width) == 20
        for bad in (5, -6, 2**70, -(2**70)):
            with pytest.raises(IndexError):
                arr[bad]
        with pytest.raises(OutOfBoundsError) as info:
            arr[5]
        assert info.value.offset == 32 + 5 * width
        assert info.value.length == width
        assert info.value.total == 4096
        with pytest.raises(TypeError, match="integers or slices"):
            arr["1"]  # type: ignore[call-overload]
        sub = arr[1:3]
        assert isinstance(sub, AtomicSlice)
        assert [c.load() for c in sub] == [10, 20]
        assert len(arr[3:]) == 2 and len(arr[4:1]) == 0
        with pytest.raises(ValueError, match="step"):
            arr[::2]
        sub.release()
    gc.collect()
    assert rw._exports == 0


def test_slice_exports(rw: MemoryMappedFile) -> None:
    arr = rw.atomic_u64_slice(0, 4)
    assert rw._exports == 1
    item = arr[2]
    assert rw._exports == 2
    arr.release()
    assert arr.released
    assert rw._exports == 1
    with pytest.raises(BusyError, match="1 atomic view still alive"):
        rw.resize(8192)
    item.fetch_add(1)  # items are views of their own
    for use in (lambda: len(arr), lambda: arr[0], lambda: list(arr), lambda: arr[0:1]):
        with pytest.raises(MappingClosedError):
            use()
    with pytest.raises(MappingClosedError), arr:
        pass
    item.release()
    rw.close()


def test_slice_with_block(rw: MemoryMappedFile) -> None:
    with rw.atomic_u32_slice(0, 8) as arr:
        assert arr.__enter__() is arr
        with pytest.raises(BusyError, match="1 atomic slice still alive"):
            rw.resize(8192)
    assert arr.released and rw._exports == 0
    rw.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_views_are_equal_when_they_are_the_same_cell(rw: MemoryMappedFile, width: int) -> None:
    a, b, other = view(rw, width, 16), view(rw, width, 16), view(rw, width, 24)
    assert a == b and operator.ne(a, b) is False and hash(a) == hash(b)
    assert a != other and a != view(rw, 12 - width, 16)  # the other width
    assert a != 16 and a != a.load()  # a view is not its value
    with AnonymousMmap(4096) as anon, view(anon, width, 16) as elsewhere:
        assert a != elsewhere  # same offset, another mapping
    h = hash(a)
    a.release()
    assert hash(a) == h  # stable across release()
    assert a == a and a != b  # a released view equals only itself
    b.release()
    other.release()
    assert len({view(rw, width, 0), view(rw, width, 0)}) == 1
    gc.collect()


@pytest.mark.parametrize("width", WIDTHS)
def test_slice_is_a_sequence(rw: MemoryMappedFile, width: int) -> None:
    from collections.abc import Reversible, Sequence

    import mmap_io

    assert mmap_io.AtomicSlice is AtomicSlice
    with slice_of(rw, width, 32, 4) as arr:
        assert isinstance(arr, Sequence) and isinstance(arr, Reversible)
        cells = [view(rw, width, 32 + i * width) for i in range(4)]
        assert [arr.index(c) for c in cells] == [0, 1, 2, 3]
        assert all(c in arr for c in cells) and all(arr.count(c) == 1 for c in cells)
        assert list(arr) == cells and list(reversed(arr)) == cells[::-1]
        outside = [
            view(rw, width, 32 - width),  # just before
            view(rw, width, 32 + 4 * width),  # just after
            view(rw, 12 - width, 32),  # the other width
            32,
            arr[0].load(),
            None,
        ]
        for x in outside:
            assert x not in arr and arr.count(x) == 0
            with pytest.raises(ValueError, match="not in the AtomicSlice of 4"):
                arr.index(x)
        assert arr[1:3].index(cells[2]) == 1 and cells[0] not in arr[1:3]
        # start/stop work like list.index's
        assert arr.index(cells[3], 3) == 3 and arr.index(cells[3], -1) == 3
        assert arr.index(cells[0], -(2**70), 2**70) == 0
        with pytest.raises(ValueError, match="outside start/stop"):
            arr.index(cells[0], 1)
        with pytest.raises(ValueError):
            arr.index(cells[3], 0, -1)
        with pytest.raises(TypeError, match="integers"):
            arr.index(cells[0], 1.0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            arr.index()  # type: ignore[call-arg]
        released = view(rw, width, 32)
        released.release()
        assert released not in arr  # a released view is no cell any more
        del cells, x, outside
    for use in (lambda: arr.index(None), lambda: arr.count(None), lambda: None in arr):
        with pytest.raises(MappingClosedError):
            use()
    gc.collect()
    assert rw._exports == 0


def test_slice_index_error_names_the_index_and_path(rw: MemoryMappedFile) -> None:
    with rw.atomic_u64_slice(8, 2) as arr:
        with pytest.raises(OutOfBoundsError, match=r"index -3 .* at offset 8 path='.*atomics.bin'"):
            arr[-3]
        with pytest.raises(OutOfBoundsError, match=r"index <100001-bit int>"):
            arr[2**100000]


# -- concurrency -----------------------------------------------------------


def test_threads_fetch_add_exact(rw: MemoryMappedFile) -> None:
    n, threads = 20_000, 4
    c = rw.atomic_u64(0)
    c32 = rw.atomic_u32(8)
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        for _ in range(n):
            c.fetch_add(1)
            c32.fetch_sub(1)

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert c.load() == n * threads
    assert c32.load() == 2**32 - n * threads
    c.release()
    c32.release()


def run_processes(target: Callable[..., None], path: Path, count: int, n: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=(str(path), count, n)) for _ in range(count)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
    finally:
        for p in procs:  # a worker that died early leaves the others spinning
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * count


def test_processes_fetch_add_exact(tmp_path: Path) -> None:
    path = tmp_path / "counter.bin"
    MemoryMappedFile.create_rw(path, 4096).close()
    n, count = 20_000, 4
    run_processes(workers.add_worker, path, count, n)
    with MemoryMappedFile.open_ro(path) as m, m.atomic_u64(workers.COUNTER) as c:
        assert c.load() == n * count


def test_processes_compare_exchange_spin_lock(tmp_path: Path) -> None:
    path = tmp_path / "lock.bin"
    MemoryMappedFile.create_rw(path, 4096).close()
    n, count = 1_500, 4
    run_processes(workers.spinlock_worker, path, count, n)
    with MemoryMappedFile.open_ro(path) as m:
        assert read_int(m, workers.PLAIN, 8) == n * count
        assert read_int(m, workers.LOCK, 8) == 0


# -- model-based -----------------------------------------------------------

OPS = ["load", "store", "fetch_add", "fetch_sub", "fetch_and", "fetch_or", "fetch_xor"]
OPS += ["swap", "cas_hit", "cas_any"]
MODEL: dict[str, Callable[[int, int], int]] = {
    "fetch_add": lambda old, v: old + v,
    "fetch_sub": lambda old, v: old - v,
    "fetch_and": lambda old, v: old & v,
    "fetch_or": lambda old, v: old | v,
    "fetch_xor": lambda old, v: old ^ v,
    "swap": lambda old, v: v,
}


@settings(max_examples=60, deadline=None)
@given(
    width=st.sampled_from(WIDTHS),
    steps=st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
        max_size=40,
    ),
)
def test_operations_match_an_int_model(width: int, steps: list[tuple[str, int, int]]) -> None:
    mask = 2 ** (8 * width) - 1
    model = 0
    with AnonymousMmap(64) as m, view(m, width, 8) as c:
        for op, a, b in steps:
            a &= mask
            b &= mask
            if op == "load":
                assert c.load() == model
                continue
            if op in ("cas_hit", "cas_any"):
                expected = model if op == "cas_hit" else a
                ok, prev = c.compare_exchange(expected, b)
                assert prev == model
                assert ok == (expected == model)
                if ok:
                    model = b
                continue
            old = getattr(c, op)(a)
            if op == "store":
                assert old is None
                model = a
                continue
            assert old == model
            model = MODEL[op](model, a) & mask
        assert c.load() == model
        assert read_int(m, 8, width) == model
