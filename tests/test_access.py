"""Reading and writing: zero-copy views, copies, the buffer protocol,
pointers, streams, numpy, pickle, flush and resize."""

from __future__ import annotations

import ctypes
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from mmap_io import (
    AnonymousMmap,
    BusyError,
    FlushPolicy,
    InvalidModeError,
    MappingClosedError,
    MemoryMappedFile,
    MmapAdvice,
    MmapMode,
    OutOfBoundsError,
    ResizeFailedError,
    page_size,
)

PS = page_size()


def _address(view: memoryview) -> int:
    return int(np.frombuffer(view, dtype=np.uint8).__array_interface__["data"][0])


# -- zero-copy slices ------------------------------------------------------


@pytest.mark.parametrize("mode", list(MmapMode))
def test_as_slice_is_read_only_and_zero_copy(data_file: Path, mode: MmapMode) -> None:
    data = data_file.read_bytes()
    with MemoryMappedFile.builder(data_file).mode(mode).open() as m:
        view = m.as_slice(10, 100)
        assert view.readonly
        assert bytes(view) == data[10:110]
        assert len(view) == 100
        with pytest.raises(TypeError):
            view[0] = 1
        assert _address(view) == m.as_ptr() + 10
        view.release()
        if mode is not MmapMode.READ_ONLY:
            view = m.as_slice(0, 4)
            m.update_region(0, b"WXYZ")
            assert bytes(view) == b"WXYZ"  # sees later writes: no copy
            view.release()


@pytest.mark.parametrize("mode", [MmapMode.READ_WRITE, MmapMode.COPY_ON_WRITE])
def test_as_slice_mut(data_file: Path, mode: MmapMode) -> None:
    with MemoryMappedFile.builder(data_file).mode(mode).open() as m:
        view = m.as_slice_mut(8, 5)
        assert not view.readonly
        view[:] = b"hello"
        assert _address(view) == m.as_ptr() + 8
        view.release()
        assert m.read_bytes(8, 5) == b"hello"
        alias = m.as_mut_slice(0, 1)
        alias[0] = 0x41
        alias.release()
        assert m.read_bytes(0, 1) == b"A"


def test_as_slice_mut_read_only(data_file: Path) -> None:
    with MemoryMappedFile.open_ro(data_file) as m:
        with pytest.raises(InvalidModeError) as info:
            m.as_slice_mut(0, 1)
        assert isinstance(info.value, ValueError)
        assert str(data_file) in str(info.value)
        with pytest.raises(InvalidModeError):
            m.as_mut_slice(0, 1)
        assert m._exports == 0


@pytest.mark.parametrize("meth", ["as_slice", "as_slice_mut", "read_bytes", "flush_range"])
def test_range_errors(rw: MemoryMappedFile, meth: str) -> None:
    fn = getattr(rw, meth)
    n = len(rw)
    fn(n, 0)  # zero length at the end is valid
    fn(0, n)
    for off, length in [
        (-1, 1),
        (0, -1),
        (n + 1, 0),
        (n, 1),
        (1, n),
        (2**63 - 1, 1),
        (1, 2**63 - 1),
        (2**63, 0),
        (2**64 - 1, 2),
        (0, 2**64),
        (2**64, 2**64),
        (2**200, 0),
        (-(2**64), 0),
    ]:
        with pytest.raises(OutOfBoundsError) as info:
            fn(off, length)
        exc = info.value
        assert (exc.offset, exc.length, exc.total) == (off, length, n)
        assert isinstance(exc, IndexError)
        assert str(off) in str(exc)
    for bad in (1.0, "1", None, b"1", 1j):
        with pytest.raises(TypeError):
            fn(bad, 1)
        with pytest.raises(TypeError):
            fn(0, bad)
    with pytest.raises(TypeError):
        fn(0)
    with pytest.raises(TypeError):
        fn(0, 1, 2)
    assert rw._exports == 0


def test_index_objects_accepted(rw: MemoryMappedFile) -> None:
    assert rw.read_bytes(np.int64(2), np.uint8(3)) == rw.read_bytes(2, 3)
    assert rw.read_bytes(True, False) == b""


# -- copies ----------------------------------------------------------------


def test_read_bytes_owned(data_file: Path) -> None:
    m = MemoryMappedFile.open_ro(data_file)
    out = m.read_bytes(0, 1000)
    m.close()
    assert isinstance(out, bytes)
    assert out == data_file.read_bytes()[:1000]


@pytest.mark.parametrize("n", [0, 1, 100, 64 * 1024 - 1, 64 * 1024])
def test_read_into(data_file: Path, n: int) -> None:
    data = data_file.read_bytes()
    with MemoryMappedFile.open_ro(data_file) as m:
        off = len(data) - n
        buf = bytearray(n)
        assert m.read_into(off, buf) == n
        assert bytes(buf) == data[off:]


def test_read_into_buffer_kinds(rw: MemoryMappedFile) -> None:
    rw.update_region(0, bytes(range(64)))
    arr = np.zeros(4, dtype=np.uint32)
    assert rw.read_into(0, arr) == 16  # nbytes, not len
    assert arr.tobytes() == bytes(range(16))
    mv = memoryview(bytearray(10))
    assert rw.read_into(4, mv[2:6]) == 4
    assert bytes(mv) == b"\0\0" + bytes(range(4, 8)) + b"\0" * 4
    import array

    a = array.array("H", [0, 0])
    assert rw.read_into(0, a) == 4
    with pytest.raises(TypeError):
        rw.read_into(0, b"immutable")
    with pytest.raises(TypeError):
        rw.read_into(0, np.zeros((4, 4))[:, 0])  # not contiguous
    with pytest.raises(TypeError):
        rw.read_into(0, 5)
    with pytest.raises(TypeError):
        rw.read_into(1.0, bytearray(1))
    with pytest.raises(OutOfBoundsError) as info:
        rw.read_into(len(rw) - 1, bytearray(2))
    assert (info.value.offset, info.value.length, info.value.total) == (len(rw) - 1, 2, len(rw))
    with pytest.raises(OutOfBoundsError):
        rw.read_into(-1, bytearray(0))
    with pytest.raises(OutOfBoundsError):
        rw.read_into(2**64, bytearray(1))


def test_read_into_from_own_view(rw: MemoryMappedFile) -> None:
    rw.update_region(0, b"abcdef")
    with rw.as_slice_mut(100, 6) as dst:
        assert rw.read_into(0, dst) == 6
    assert rw.read_bytes(100, 6) == b"abcdef"


def test_update_region(rw: MemoryMappedFile) -> None:
    rw.update_region(0, b"bytes")
    rw.update_region(5, bytearray(b"array"))
    rw.update_region(10, memoryview(b"--view--")[2:6])
    rw.update_region(14, np.array([1, 2], dtype=np.uint16))
    assert rw.read_bytes(0, 18) == b"bytesarrayview\x01\x00\x02\x00"
    big = os.urandom(1 << 16)
    rw.update_region(len(rw) - len(big), big)
    assert rw.read_bytes(len(rw) - len(big), len(big)) == big
    rw.update_region(len(rw), b"")
    with pytest.raises(OutOfBoundsError) as info:
        rw.update_region(len(rw) - 2, b"abc")
    assert (info.value.offset, info.value.length, info.value.total) == (len(rw) - 2, 3, len(rw))
    for off in (-1, 2**63, 2**64 + 5, -(2**70)):
        with pytest.raises(OutOfBoundsError):
            rw.update_region(off, b"x")
    with pytest.raises(TypeError):
        rw.update_region(0, "text")
    with pytest.raises(TypeError):
        rw.update_region(0, np.zeros((4, 4))[:, 0])
    with pytest.raises(TypeError):
        rw.update_region("0", b"x")
    closed = AnonymousMmap(4)
    closed.close()
    with pytest.raises(MappingClosedError):
        rw.update_region(0, closed)
    with pytest.raises(MappingClosedError):
        rw.read_into(0, closed)


def test_update_region_read_only(data_file: Path) -> None:
    with MemoryMappedFile.open_ro(data_file) as m:
        with pytest.raises(InvalidModeError, match="read-only"):
            m.update_region(0, b"x")
        with pytest.raises(InvalidModeError):
            m.as_mut_ptr()


# -- buffer protocol and pointers ----------------------------------------


def test_buffer_protocol(data_file: Path) -> None:
    data = data_file.read_bytes()
    with MemoryMappedFile.open_ro(data_file) as m:
        with memoryview(m) as mv:
            assert mv.readonly
            assert mv.nbytes == len(data)
            assert mv[5:9] == data[5:9]
        assert hashlib.sha256(m).digest() == hashlib.sha256(data).digest()
        arr = np.frombuffer(m, dtype=np.uint8)
        assert not arr.flags.writeable
        assert arr[:16].tobytes() == data[:16]
        del arr
    with MemoryMappedFile.open_rw(data_file) as m:
        with memoryview(m) as mv:
            assert not mv.readonly
            mv[0:3] = b"abc"
        arr = np.frombuffer(m, dtype=np.uint8)
        arr[3] = ord("d")
        del arr
        assert m.read_bytes(0, 4) == b"abcd"


def test_pointers(data_file: Path) -> None:
    data = data_file.read_bytes()
    with MemoryMappedFile.open_rw(data_file) as m:
        assert ctypes.string_at(m.as_ptr(), 16) == data[:16]
        p = m.as_mut_ptr()
        assert p == m.as_ptr()
        ctypes.memmove(p, b"ptr", 3)
        assert m.read_bytes(0, 3) == b"ptr"
    with MemoryMappedFile.open_cow(data_file) as m:
        ctypes.memmove(m.as_mut_ptr(), b"cow", 3)
        assert m.read_bytes(0, 3) == b"cow"
    assert data_file.read_bytes()[:3] == b"ptr"
    with MemoryMappedFile.open_ro(data_file) as m:
        assert ctypes.string_at(m.as_ptr(), 3) == b"ptr"
        with pytest.raises(InvalidModeError):
            m.as_mut_ptr()


# -- numpy -------------------------------------------------------------------


def test_as_array(data_file: Path) -> None:
    with MemoryMappedFile.open_rw(data_file) as m:
        a = m.as_array("<u8")
        assert a.shape == (len(m) // 8,)
        a[0] = 0x0102030405060708
        assert m.read_bytes(0, 8) == bytes([8, 7, 6, 5, 4, 3, 2, 1])
        b = m.as_array(np.uint16, offset=16, shape=(4, 2))
        b[:] = 7
        assert m.read_bytes(16, 16) == b"\x07\x00" * 8
        with pytest.raises(BusyError):
            m.resize(8192)  # the arrays hold exports (close() would defer)
        del a, b
        with pytest.raises(OutOfBoundsError):
            m.as_array("u1", offset=len(m) + 1)
        with pytest.raises(OutOfBoundsError):
            m.as_array("u1", offset=-1)
        with pytest.raises(OutOfBoundsError):
            m.as_array("u8", shape=len(m))
    with MemoryMappedFile.open_ro(data_file) as m:
        a = m.as_array("u1")
        assert not a.flags.writeable
        del a


# -- pickle ------------------------------------------------------------------


@pytest.mark.parametrize("mode", [MmapMode.READ_ONLY, MmapMode.READ_WRITE])
def test_pickle(data_file: Path, mode: MmapMode) -> None:
    policy = FlushPolicy.every_writes(3)
    with MemoryMappedFile.builder(data_file).mode(mode).flush_policy(policy).open() as m:
        blob = pickle.dumps(m)
        with pickle.loads(blob) as m2:
            assert type(m2) is MemoryMappedFile
            assert m2.path == m.path and m2.mode is mode
            assert m2.flush_policy == policy
            assert m2.read_bytes(0, 100) == m.read_bytes(0, 100)
            if mode is MmapMode.READ_WRITE:
                m2.update_region(0, b"shared")
                assert m.read_bytes(0, 6) == b"shared"


def test_pickle_refused(data_file: Path) -> None:
    with MemoryMappedFile.open_cow(data_file) as m, pytest.raises(TypeError):
        pickle.dumps(m)
    with AnonymousMmap(10) as a, pytest.raises(TypeError):
        pickle.dumps(a)
    with (
        open(data_file, "rb") as f,
        MemoryMappedFile.from_file(f.fileno(), MmapMode.READ_ONLY) as m,
        pytest.raises(TypeError),
    ):
        pickle.dumps(m)  # no path to re-map


def test_pickle_closed(data_file: Path) -> None:
    m = MemoryMappedFile.open_ro(data_file)
    m.close()
    with pytest.raises(MappingClosedError):
        pickle.dumps(m)


# -- flush ---------------------------------------------------------------------


def test_flush_and_pending(rw: MemoryMappedFile, data_file: Path) -> None:
    rw.update_region(0, b"abc")
    rw.update_region(10, b"defg")
    assert rw.pending_bytes == 7
    rw.flush()
    assert rw.pending_bytes == 0
    with MemoryMappedFile.open_ro(data_file) as ro:
        assert ro.read_bytes(0, 3) == b"abc"
    rw.flush()  # idempotent


def test_flush_range_page_aligned(rw: MemoryMappedFile) -> None:
    assert len(rw) >= 4 * PS
    rw.update_region(0, b"a" * 10)
    rw.update_region(3 * PS, b"b" * (PS + 5))
    assert rw.pending_bytes == PS + 15
    rw.flush_range(3 * PS + 1, 1)  # widened to one whole page
    assert rw.pending_bytes == 15
    rw.flush_range(0, 0)  # zero length: nothing
    assert rw.pending_bytes == 15
    rw.flush_range(PS - 1, 2)  # straddles: two pages, more than pending
    assert rw.pending_bytes == 0
    rw.update_region(0, b"x" * 100)
    rw.flush_range(len(rw) - 1, 1)  # the last page
    assert rw.pending_bytes == 0  # max(0, 100 - PS)


def test_flush_range_never_zeroes_outside(rw: MemoryMappedFile) -> None:
    rw.update_region(0, os.urandom(3 * PS))
    rw.flush_range(0, 1)
    assert rw.pending_bytes == 2 * PS


def test_flush_on_cow_and_ro_is_noop(data_file: Path) -> None:
    before = data_file.read_bytes()
    with MemoryMappedFile.open_cow(data_file) as m:
        m.update_region(0, b"zzz")
        assert m.pending_bytes == 3
        m.flush()
        m.flush_range(0, 3)
        assert m.pending_bytes == 0
    with MemoryMappedFile.open_ro(data_file) as m:
        m.flush()
        m.flush_range(0, 10)
    assert data_file.read_bytes() == before


# -- resize --------------------------------------------------------------------


def test_resize_grow_shrink(rw: MemoryMappedFile, data_file: Path) -> None:
    data = data_file.read_bytes()
    n = len(data)
    rw.resize(n * 3 + 5)
    assert len(rw) == n * 3 + 5
    assert data_file.stat().st_size == n * 3 + 5
    assert rw.read_bytes(0, n) == data
    assert rw.read_bytes(n, 2 * n + 5) == bytes(2 * n + 5)
    rw.update_region(3 * n, b"tail!")
    rw.resize(100)
    assert len(rw) == 100
    assert data_file.stat().st_size == 100
    assert rw.read_bytes(0, 100) == data[:100]
    with pytest.raises(OutOfBoundsError):
        rw.read_bytes(100, 1)
    rw.resize(100)  # same size: fine
    rw.resize(1)
    assert rw.read_bytes(0, 1) == data[:1]
    rw.resize(PS + 1)
    rw.flush()
    assert data_file.read_bytes() == data[:1] + bytes(PS)


@pytest.mark.parametrize("hint", ["advise", "lock"])
def test_resize_grows_after_hints_on_part_of_the_mapping(
    rw: MemoryMappedFile, data_file: Path, hint: str
) -> None:
    # advise()/lock() on part of the mapping split it in the kernel (mremap
    # cannot grow such a mapping in place): growing must still work
    data = data_file.read_bytes()
    n = len(data)
    if hint == "advise":
        rw.advise(PS, PS, MmapAdvice.RANDOM)
    else:
        rw.lock(PS, PS)
    rw.resize(4 * n)
    assert len(rw) == 4 * n
    assert rw.read_bytes(0, n) == data
    rw.update_region(3 * n, b"grown")
    rw.resize(2 * n)
    rw.advise(0, PS, MmapAdvice.SEQUENTIAL)
    rw.resize(3 * n)
    rw.update_region(2 * n, b"again")
    rw.flush()
    on_disk = data_file.read_bytes()
    assert on_disk[:n] == data and on_disk[2 * n : 2 * n + 5] == b"again"
    assert len(on_disk) == 3 * n


@pytest.mark.parametrize("size", [0, -1, -(2**64), (1 << 47) + 1, 2**63, 2**64, 2**70])
def test_resize_bad_sizes(rw: MemoryMappedFile, data_file: Path, size: int) -> None:
    n = len(rw)
    with pytest.raises(ResizeFailedError) as info:
        rw.resize(size)
    assert str(size) in str(info.value)
    assert len(rw) == n and data_file.stat().st_size == n
    rw.update_region(0, b"still usable")


def test_resize_too_big_for_filesystem(rw: MemoryMappedFile, data_file: Path) -> None:
    n = len(rw)
    with pytest.raises(ResizeFailedError) as info:
        rw.resize(1 << 47)  # 128 TiB: beyond ext4/tmpfs limits or address space
    assert str(data_file) in str(info.value)
    assert len(rw) == n and data_file.stat().st_size == n
    assert rw.read_bytes(0, 4) == data_file.read_bytes()[:4]


def test_resize_type_and_mode(data_file: Path) -> None:
    with MemoryMappedFile.open_rw(data_file) as m:
        with pytest.raises(TypeError):
            m.resize(10.0)
        with pytest.raises(TypeError):
            m.resize("10")
    for mode in (MmapMode.READ_ONLY, MmapMode.COPY_ON_WRITE):
        with (
            MemoryMappedFile.builder(data_file).mode(mode).open() as m,
            pytest.raises(InvalidModeError),
        ):
            m.resize(10)


# -- copy-on-write privacy ---------------------------------------------------


def test_cow_is_private(data_file: Path) -> None:
    before = data_file.read_bytes()
    with (
        MemoryMappedFile.open_cow(data_file) as cow,
        MemoryMappedFile.open_cow(data_file) as cow2,
        MemoryMappedFile.open_ro(data_file) as ro,
        MemoryMappedFile.open_rw(data_file) as rw,
    ):
        cow.update_region(0, b"one")
        with cow.as_slice_mut(10, 3) as v:
            v[:] = b"two"
        cow.chunks_mut(PS).for_each_mut(
            lambda off, v: v.__setitem__(slice(20, 25), b"three") if off == 0 else None
        )
        ctypes.memmove(cow.as_mut_ptr() + 30, b"four", 4)
        cow.flush()
        assert cow.read_bytes(0, 3) == b"one"
        assert cow.read_bytes(10, 3) == b"two"
        assert cow.read_bytes(20, 5) == b"three"
        assert cow.read_bytes(30, 4) == b"four"
        for other in (cow2, ro, rw):
            assert other.read_bytes(0, 64) == before[:64]
        # a shared write to an untouched page shows through the COW mapping
        rw.update_region(PS + 1, b"shared")
        assert cow.read_bytes(PS + 1, 6) == b"shared"
    after = data_file.read_bytes()
    assert after[:64] == before[:64]
