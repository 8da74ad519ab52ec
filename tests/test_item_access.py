"""Item access, ``m[i]`` and ``m[a:b:s]``, read and assigned, as stdlib ``mmap``.

Each parity test runs once against ``mmap.mmap`` and once against mmap_io
(the ``opener`` fixture); the generated tests apply the same operation to a
stdlib mapping and to ours of identical files and compare the outcomes.

The deliberate differences, each asserted below:

- A write to a read-only mapping raises ``InvalidModeError`` (a
  ``ValueError``), as every other write to it does; stdlib raises
  ``TypeError``.
- An int item value outside ``range(0, 256)`` is a ``ValueError`` however big
  it is (as for ``bytearray``); stdlib raises ``TypeError`` for one that does
  not fit a C ``ssize_t``.
- The data of a slice assignment must be a C-contiguous buffer, else
  ``TypeError`` (as for ``update_region``); stdlib passes on the exporter's
  error (``BufferError`` from a memoryview, ``ValueError`` from numpy).
- The errors are the library's: ``OutOfBoundsError`` (an ``IndexError`` with
  ``.offset``, ``.length``, ``.total``), ``MappingClosedError`` (a
  ``ValueError``).

The rest of the file covers what only mmap_io has: flush-policy accounting,
``__index__`` methods that close or resize the mapping, truncated files.
"""

from __future__ import annotations

import array
import hashlib
import mmap
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _parity import Opener, open_ours, open_stdlib
from mmap_io import (
    AnonymousMmap,
    FileTruncatedError,
    FlushPolicy,
    InvalidModeError,
    MappingClosedError,
    MemoryMappedFile,
    OutOfBoundsError,
    _core,
)

BIG = [2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**100, -(2**100)]


class Index:
    """An object with ``__index__`` that is not an int."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


@pytest.fixture
def data(data_file: Path) -> bytes:
    return data_file.read_bytes()


@pytest.fixture
def small(make_file: Callable[..., Path]) -> Path:
    return make_file(b"hello, mapped world", "small.bin")


def _is_ours(m: object) -> bool:
    return isinstance(m, MemoryMappedFile)


# -- reading -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["r", "w", "c"])
def test_index(opener: Opener, data_file: Path, data: bytes, mode: str) -> None:
    with opener(data_file, mode) as m:
        n = len(data)
        for i in (0, 1, 4095, 4096, n - 1, -1, -n, -4097):
            assert m[i] == data[i]
            assert type(m[i]) is int
        assert m[Index(7)] == data[7] and m[np.int64(-2)] == data[-2]
        assert m[True] == data[1]


@pytest.mark.parametrize("mode", ["r", "w"])
def test_index_out_of_range(opener: Opener, data_file: Path, data: bytes, mode: str) -> None:
    with opener(data_file, mode) as m:
        n = len(data)
        for i in [n, n + 1, -n - 1, *BIG]:
            with pytest.raises(IndexError) as info:
                m[i]
            if _is_ours(m):
                exc = info.value
                assert isinstance(exc, OutOfBoundsError)
                assert (exc.offset, exc.length, exc.total) == (i, 1, n)
                assert exc.offset is i  # the key as given, even beyond 64 bits
                assert str(data_file) in str(exc)


def test_key_types(opener: Opener, small: Path) -> None:
    with opener(small, "w") as m:
        for key in (1.0, "1", None, b"\x00", (0, 1), [0], Ellipsis):
            with pytest.raises(TypeError):
                m[key]
            with pytest.raises(TypeError):
                m[key] = 0
        with pytest.raises(TypeError):
            del m[0]
        with pytest.raises(TypeError):
            del m[0:1]
        assert m[0:5] == b"hello"  # nothing changed


SLICES = [
    slice(None),
    slice(0, 0),
    slice(3, 1),
    slice(10, 20),
    slice(-5, None),
    slice(None, -5),
    slice(-100, 100),
    slice(100, 200),
    slice(None, None, 2),
    slice(1, None, 3),
    slice(None, None, -1),
    slice(-2, 2, -3),
    slice(5, None, -2),
    slice(None, None, 1000),
    slice(None, None, -1000),
    slice(2**100, -(2**100), -1),
    slice(-(2**100), 2**100, 7),
    slice(Index(2), Index(9), Index(2)),
]


@pytest.mark.parametrize("mode", ["r", "w", "c"])
def test_slices(opener: Opener, small: Path, mode: str) -> None:
    data = small.read_bytes()
    with opener(small, mode) as m:
        for key in SLICES:
            got = m[key]
            assert type(got) is bytes and got == data[key], key


def test_step_zero(opener: Opener, small: Path) -> None:
    with opener(small, "w") as m:
        with pytest.raises(ValueError, match="step cannot be zero"):
            m[::0]
        with pytest.raises(ValueError, match="step cannot be zero"):
            m[::0] = b""


def test_slices_are_copies(opener: Opener, small: Path) -> None:
    m = opener(small, "w")
    head = m[0:5]
    m[0:5] = b"HELLO"
    assert head == b"hello" and m[0:5] == b"HELLO"
    m.close()
    assert head == b"hello"  # owned: survives close


# -- writing -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["w", "c"])
def test_setitem(opener: Opener, small: Path, mode: str) -> None:
    data = small.read_bytes()
    with opener(small, mode) as m:
        m[0] = ord("J")
        m[-1] = 0x21
        m[Index(1)] = np.uint8(0x41)
        m[2] = True
        m[3] = Index(0x7A)
        expected = b"JA\x01z" + data[4:-1] + b"!"
        assert m[:] == expected
        with memoryview(m) as mv:
            assert bytes(mv) == expected
        m.flush()
    assert small.read_bytes() == (expected if mode == "w" else data)


def test_setitem_values(opener: Opener, small: Path) -> None:
    with opener(small, "w") as m:
        for v in (0, 255, True, False, np.int32(200), Index(9)):
            m[4] = v
            assert m[4] == int(v)
        for v in (256, -1, 1000, Index(-3)):
            with pytest.raises(ValueError, match="range"):
                m[4] = v
        for v in (1.0, "a", b"a", None, [1], np.float64(2)):
            with pytest.raises(TypeError):
                m[4] = v
        assert m[4] == 9  # the failed writes left it alone


def test_setitem_huge_value(opener: Opener, small: Path) -> None:
    # Deliberate difference: too big for ssize_t is still a ValueError here.
    with opener(small, "w") as m:
        for v in (2**64, -(2**70)):
            with pytest.raises(TypeError if not _is_ours(m) else ValueError):
                m[0] = v
        assert m[0] == ord("h")


def test_setitem_index_checked_before_value(opener: Opener, small: Path) -> None:
    with opener(small, "w") as m:
        n = len(m)
        for i in (n, -n - 1, 2**100):
            with pytest.raises(IndexError):
                m[i] = 0
            with pytest.raises(IndexError):
                m[i] = "not checked"


@pytest.mark.parametrize("mode", ["w", "c"])
def test_slice_assign(opener: Opener, small: Path, mode: str) -> None:
    data = bytearray(small.read_bytes())
    n = len(data)
    cases: list[tuple[slice, Any]] = [
        (slice(0, 5), b"HELLO"),
        (slice(0, 2), bytearray(b"he")),
        (slice(7, 13), memoryview(b"MAPPED")),
        (slice(0, 4), array.array("B", [1, 2, 3, 4])),
        (slice(0, 4), array.array("H", [0x4142, 0x4344])),
        (slice(4, 6), np.arange(2, dtype=np.uint8)),
        (slice(None, None, 2), bytes(range(len(range(0, n, 2))))),
        (slice(None, None, -1), bytes(reversed(data))),
        (slice(-3, None, -4), b"xyzab"),
        (slice(5, 5), b""),
        (slice(100, 200), b""),
        (slice(2**100, None), b""),
    ]
    with opener(small, mode) as m:
        for key, value in cases:
            m[key] = value
            data[key] = bytes(memoryview(value).cast("B"))
            assert m[:] == bytes(data), key
        m[:] = m  # from itself
        m[1:] = m[:-1]
        data[1:] = data[:-1]
        assert m[:] == bytes(data)


def test_slice_assign_wrong_size(opener: Opener, small: Path) -> None:
    with opener(small, "w") as m:
        before = m[:]
        for key, value in [
            (slice(0, 2), b"xyz"),
            (slice(0, 2), b"x"),
            (slice(None, None, 2), b"12"),
            (slice(100, 200), b"x"),
            (slice(len(m), None), b"x"),
        ]:
            with pytest.raises(IndexError, match="size"):
                m[key] = value
        assert m[:] == before


def test_slice_assign_types(opener: Opener, small: Path) -> None:
    with opener(small, "w") as m:
        for value in ("xy", [1, 2], 5, None, 1.5):
            with pytest.raises(TypeError):
                m[0:2] = value
        # Deliberate difference: not C-contiguous is a TypeError here.
        for value in (memoryview(b"abcd")[::2], np.arange(4, dtype=np.uint8)[::2]):
            with pytest.raises(TypeError if _is_ours(m) else (BufferError, ValueError)):
                m[0:2] = value
        assert m[0:5] == b"hello"


def test_read_only_refuses_writes(opener: Opener, small: Path) -> None:
    # Deliberate difference: InvalidModeError (a ValueError), not TypeError.
    expected = InvalidModeError if opener is open_ours else TypeError
    with opener(small, "r") as m:
        for key, value in [(0, 1), (0, 300), (100, 1), (0, "x"), (slice(0, 1), b"x")]:
            with pytest.raises(expected):
                m[key] = value
        assert m[0:5] == b"hello"


def test_closed(opener: Opener, small: Path) -> None:
    m = opener(small, "w")
    m.close()
    for key in (0, -1, 100, slice(0, 1), "not checked"):
        with pytest.raises(ValueError):
            m[key]
        with pytest.raises(ValueError):
            m[key] = 0
    if _is_ours(m):
        with pytest.raises(MappingClosedError):
            m[0]
        with pytest.raises(MappingClosedError):
            m[0:2] = b"xx"


# -- protocols built on items ------------------------------------------------


@pytest.mark.parametrize("mode", ["r", "w"])
def test_iteration_and_in(opener: Opener, small: Path, mode: str) -> None:
    # Deliberate difference: iterating yields ints, as m[i], bytes,
    # memoryview(m) and subclasses of mmap.mmap do; a plain mmap.mmap
    # yields 1-byte bytes objects. `in` compares with the items.
    data = small.read_bytes()
    with opener(small, mode) as m:
        items = list(data) if _is_ours(m) else [data[i : i + 1] for i in range(len(data))]
        assert list(m) == items
        assert list(reversed(m)) == items[::-1]
        assert items[3] in m and b"he" not in m and b"" not in m
        assert (ord("w") in m, b"w" in m) == ((True, False) if _is_ours(m) else (False, True))


def test_iteration_like_a_subclass_of_mmap(small: Path) -> None:
    class Sub(mmap.mmap):
        pass

    with open(small, "rb") as f:
        sub = Sub(f.fileno(), 0, access=mmap.ACCESS_READ)
    with sub, MemoryMappedFile.open_ro(small) as m:
        assert list(m) == list(sub) == list(small.read_bytes())
    # The native base type iterates the same way as its Python subclasses.
    fd = os.open(small, os.O_RDONLY)
    try:
        base = _core.Mapping(fd, 5, _core.ACCESS_READ)
    finally:
        os.close(fd)
    assert list(base) == list(b"hello") and base[1:3] == b"el" and 104 in base
    base.close()


def test_buffer_consumers(opener: Opener, data_file: Path, data: bytes) -> None:
    with opener(data_file, "r") as m:
        assert bytes(m) == data and bytearray(m) == data
        with memoryview(m) as mv:
            assert mv[5] == data[5] and bytes(mv[-3:]) == data[-3:]
        assert hashlib.sha256(m).digest() == hashlib.sha256(data).digest()
        arr = np.frombuffer(m, dtype=np.uint8)
        assert arr[3] == data[3] and len(arr) == len(data)
        asarr = np.asarray(m)
        assert asarr.dtype == np.uint8 and asarr.tobytes() == data
        del arr, asarr


# -- the same operation on both, generated -----------------------------------

N = 37
BASE = bytes(range(100, 100 + N))

ints = st.integers(-3 * N, 3 * N) | st.sampled_from(BIG)
maybe = st.none() | ints
slices = st.builds(slice, maybe, maybe, st.none() | ints.filter(bool))
keys = ints | slices
values = st.integers(-2, 258) | st.sampled_from([1.5, "a", b"a", None])


@pytest.fixture(params=["r", "w", "c"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any, Any]]:
    """(mode, stdlib mapping, ours) of two files holding BASE."""
    made = []
    for opener in (open_stdlib, open_ours):
        path = tmp_path / f"{opener.__name__}.bin"
        path.write_bytes(BASE)
        made.append(opener(path, request.param))
    yield request.param, made[0], made[1]
    for m in made:
        m.close()


def _reset(m: Any, mode: str) -> None:
    if mode != "r":
        with memoryview(m) as mv:
            mv[:] = BASE


def _outcome(fn: Callable[[], object]) -> tuple[str, object]:
    try:
        return "ok", fn()
    except (IndexError, ValueError, TypeError) as exc:
        return "raised", next(c for c in (IndexError, ValueError, TypeError) if isinstance(exc, c))


def _same(mode: str, std: Any, ours: Any, op: Callable[[Any], object]) -> None:
    expected, got = _outcome(lambda: op(std)), _outcome(lambda: op(ours))
    assert got == expected
    with memoryview(std) as a, memoryview(ours) as b:
        assert bytes(a) == bytes(b)


_PAIR_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_PAIR_SETTINGS
@given(key=keys)
def test_generated_reads(pair: tuple[str, Any, Any], key: Any) -> None:
    mode, std, ours = pair
    _same(mode, std, ours, lambda m: m[key])


def _same_write(pair: tuple[str, Any, Any], key: object, value: object) -> None:
    """``m[key] = value`` on both (reset to BASE first), compared."""
    mode, std, ours = pair
    _reset(std, mode)
    _reset(ours, mode)

    def write(m: Any) -> None:
        m[key] = value

    if mode == "r":  # deliberate difference: InvalidModeError, a ValueError
        with pytest.raises(TypeError):
            write(std)
        with pytest.raises(InvalidModeError):
            write(ours)
        return
    _same(mode, std, ours, write)


@_PAIR_SETTINGS
@given(key=ints, value=values)
def test_generated_item_writes(pair: tuple[str, Any, Any], key: int, value: Any) -> None:
    _same_write(pair, key, value)


@_PAIR_SETTINGS
@given(key=slices, extra=st.sampled_from([0, 0, 0, -1, 1]), seed=st.binary(min_size=1))
def test_generated_slice_writes(
    pair: tuple[str, Any, Any], key: slice, extra: int, seed: bytes
) -> None:
    want = len(range(*key.indices(N)))
    _same_write(pair, key, (seed * (want + 1))[: max(0, want + extra)])


# -- mmap_io only --------------------------------------------------------------


def test_anonymous() -> None:
    with AnonymousMmap(4096) as a:
        a[0] = 1
        a[10:13] = b"abc"
        a[-1] = 255
        assert (a[0], a[10:13], a[4095], a[::4096]) == (1, b"abc", 255, b"\x01")
        assert a[1:3] == b"\0\0"


def test_writes_count_toward_the_flush_policy(data_file: Path) -> None:
    with MemoryMappedFile.open_rw(data_file) as m:
        m[0] = 1
        m[10:14] = b"abcd"
        m[100:0:-10] = bytes(10)
        m[5:5] = b""
        assert m.pending_bytes == 1 + 4 + 10
        m.update_region(0, b"xy")  # counted the same way
        assert m.pending_bytes == 17
        m.flush()
        assert m.pending_bytes == 0
    with MemoryMappedFile.open_rw(data_file, flush_policy=FlushPolicy.every_writes(3)) as m:
        m[0] = 7
        m[1:3] = b"ab"
        assert m.pending_bytes == 3
        m[3] = 9  # the third write flushes
        assert m.pending_bytes == 0
    with MemoryMappedFile.open_rw(data_file, flush_policy=FlushPolicy.ALWAYS) as m:
        m[0:4] = b"done"
        assert m.pending_bytes == 0
    assert data_file.read_bytes()[:4] == b"done"
    with MemoryMappedFile.open_cow(data_file) as m:
        m[0] = 0
        assert m.pending_bytes == 1


class Closing:
    """An ``__index__`` that closes (or shrinks) the mapping it indexes."""

    def __init__(self, m: MemoryMappedFile, value: int, shrink_to: int = 0) -> None:
        self.m, self.value, self.shrink_to = m, value, shrink_to

    def __index__(self) -> int:
        if self.shrink_to:
            self.m.resize(self.shrink_to)
        else:
            self.m.close()
        return self.value


def test_index_method_that_closes(data_file: Path) -> None:
    for make in (
        lambda m: m.__getitem__(Closing(m, 0)),
        lambda m: m.__getitem__(slice(Closing(m, 0), 4)),
        lambda m: m.__setitem__(Closing(m, 0), 1),
        lambda m: m.__setitem__(0, Closing(m, 1)),
        lambda m: m.__setitem__(slice(0, 4, Closing(m, 1)), b"abcd"),
    ):
        m = MemoryMappedFile.open_rw(data_file)
        with pytest.raises(MappingClosedError):
            make(m)
        assert m.closed


def test_index_method_that_shrinks(data_file: Path) -> None:
    # Indices are checked against the length after every conversion: an item
    # beyond the new end is out of bounds, a slice is clipped to it (as slices
    # are) and then no longer matches the data's size.
    n = len(data_file.read_bytes())
    for make in (
        lambda m: m.__getitem__(Closing(m, n - 1, shrink_to=100)),
        lambda m: m.__setitem__(Closing(m, n - 1, shrink_to=100), 1),
        lambda m: m.__setitem__(n - 1, Closing(m, 1, shrink_to=100)),
        lambda m: m.__setitem__(-1, Closing(m, 1, shrink_to=100)),
        lambda m: m.__setitem__(slice(n - 4, n, Closing(m, 1, shrink_to=100)), b"abcd"),
    ):
        with MemoryMappedFile.open_rw(data_file) as m:
            with pytest.raises(OutOfBoundsError):
                make(m)
            assert len(m) == 100
        os.truncate(data_file, n)
    with MemoryMappedFile.open_rw(data_file) as m:
        head = m[:100]
        assert m[0 : n : Closing(m, 1, shrink_to=100)] == head
        assert m[Closing(m, -1, shrink_to=50)] == head[49]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ needs Python 3.12")
def test_data_export_that_closes_or_shrinks(data_file: Path) -> None:
    n = len(data_file.read_bytes())

    class Data:
        def __init__(self, m: MemoryMappedFile, size: int, shrink_to: int = 0) -> None:
            self.m, self.data, self.shrink_to = m, bytearray(size), shrink_to

        def __buffer__(self, flags: int) -> memoryview:
            if self.shrink_to:
                self.m.resize(self.shrink_to)
            else:
                self.m.close()
            return memoryview(self.data)

    m = MemoryMappedFile.open_rw(data_file)
    with pytest.raises(MappingClosedError):
        m[0:4] = Data(m, 4)
    with MemoryMappedFile.open_rw(data_file) as m:
        with pytest.raises(OutOfBoundsError):
            m[n - 4 :] = Data(m, 4, shrink_to=100)
        assert len(m) == 100 and m.pending_bytes == 0


def test_truncated_file_is_an_error_not_a_crash(make_file: Callable[..., Path]) -> None:
    path = make_file(os.urandom(3 * mmap.PAGESIZE))
    with MemoryMappedFile.open_rw(path) as m:
        os.truncate(path, 0)
        with pytest.raises(FileTruncatedError):
            m[mmap.PAGESIZE]
        with pytest.raises(FileTruncatedError):
            m[0:16]
        with pytest.raises(FileTruncatedError):
            m[::4096]
        with pytest.raises(FileTruncatedError):
            m[mmap.PAGESIZE] = 1
        with pytest.raises(FileTruncatedError):
            m[0:16] = bytes(16)
        with pytest.raises(FileTruncatedError):
            m[::-4096] = bytes(3)


def test_big_slices(make_file: Callable[..., Path]) -> None:
    # Copies of 64 KiB and more release the GIL; strided ones too.
    data = os.urandom(1 << 20)
    path = make_file(data)
    with MemoryMappedFile.open_rw(path) as m:
        assert m[:] == data
        assert m[1::3] == data[1::3]
        assert m[::-1] == data[::-1]
        m[::2] = bytes(len(data) // 2)
        assert m[1::2] == data[1::2] and m[::2] == bytes(len(data) // 2)
        m[:] = data
        assert m.read_bytes(0, len(data)) == data


def test_strided_assignment_from_itself(make_file: Callable[..., Path]) -> None:
    # Deliberate difference: stdlib scatters from the memory it is
    # overwriting (mm[::-1] = mm gives b"abcddcba"); here, as for
    # bytearray, the data is read before it is overwritten.
    path = make_file(b"abcdefgh")
    with MemoryMappedFile.open_rw(path) as m:
        m[::-1] = m
        assert m[:] == b"hgfedcba"
        with memoryview(m) as mv:
            m[6::-2] = mv[1:5]  # 4 is read before it is written
        assert m[:] == b"dgeefcga"
        m[1:] = m[:-1]  # overlapping, contiguous
        assert m[:] == b"ddgeefcg"


def test_empty_mapping(make_file: Callable[..., Path]) -> None:
    with MemoryMappedFile.open_ro(make_file(b"")) as m:
        assert m[:] == b"" and m[::-1] == b"" and m[5:9] == b"" and list(m) == []
        with pytest.raises(OutOfBoundsError) as info:
            m[0]
        assert (info.value.offset, info.value.total) == (0, 0)
        with pytest.raises(InvalidModeError):
            m[0:0] = b""


def test_index_method_that_raises(small: Path) -> None:
    class Broken:
        def __index__(self) -> int:
            raise KeyError("from __index__")

    with MemoryMappedFile.open_rw(small) as m:
        for call in (
            lambda: m[Broken()],
            lambda: m[Broken() : 2],
            lambda: m.__setitem__(Broken(), 1),
            lambda: m.__setitem__(0, Broken()),
            lambda: m.__setitem__(slice(0, 1, Broken()), b"x"),
        ):
            with pytest.raises(KeyError, match="from __index__"):
                call()
        assert m[0:5] == b"hello" and m.pending_bytes == 0
