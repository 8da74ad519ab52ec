"""Where our mapping and stdlib ``mmap`` overlap they behave alike.

In the manner of uvloop's test suite: each behaviour test runs once against
``mmap.mmap`` and once against ``MemoryMappedFile``.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from _parity import Opener
from _parity import open_ours as _ours
from _parity import open_stdlib as _stdlib
from mmap_io import MemoryMappedFile, MmapMode


@pytest.fixture
def data(data_file: Path) -> bytes:
    return data_file.read_bytes()


@pytest.mark.parametrize("mode", ["r", "w", "c"])
def test_len_and_slicing(opener: Opener, data_file: Path, data: bytes, mode: str) -> None:
    m = opener(data_file, mode)
    assert len(m) == len(data)
    with memoryview(m) as mv:
        assert mv.readonly is (mode == "r")
        assert mv.nbytes == len(data)
        assert bytes(mv[10:20]) == data[10:20]
        assert bytes(mv[-5:]) == data[-5:]
        assert mv[0] == data[0]
    m.close()


def test_write_through_memoryview_and_flush(opener: Opener, data_file: Path) -> None:
    m = opener(data_file, "w")
    with memoryview(m) as mv:
        mv[0:5] = b"hello"
        assert bytes(mv[0:5]) == b"hello"
    m.flush()
    assert data_file.read_bytes()[:5] == b"hello"
    m.close()


def test_read_only_memoryview_refuses_writes(opener: Opener, data_file: Path) -> None:
    m = opener(data_file, "r")
    with memoryview(m) as mv, pytest.raises(TypeError):
        mv[0] = 1
    m.close()


def test_copy_on_write_private(opener: Opener, data_file: Path, data: bytes) -> None:
    m = opener(data_file, "c")
    with memoryview(m) as mv:
        mv[0:4] = b"priv"
        assert bytes(mv[0:4]) == b"priv"
    m.flush()
    m.close()
    assert data_file.read_bytes() == data


def test_closed_and_idempotent_close(opener: Opener, data_file: Path) -> None:
    m = opener(data_file, "w")
    assert m.closed is False
    m.close()
    assert m.closed is True
    m.close()
    with pytest.raises(ValueError):
        len(m)
    with pytest.raises(ValueError):
        memoryview(m)


def test_context_manager(opener: Opener, data_file: Path) -> None:
    with opener(data_file, "r") as m:
        assert not m.closed
    assert m.closed


# A deliberate difference: with exported buffers alive, stdlib's close()
# raises BufferError and stays open; ours closes and leaves the memory to
# the last view (as numpy.memmap does), so `with` never turns the body's
# own exception into a BufferError. Both keep the views valid.


@pytest.mark.parametrize("mode", ["r", "w"])
def test_close_with_live_view(opener: Opener, data_file: Path, mode: str) -> None:
    m = opener(data_file, mode)
    mv = memoryview(m)
    if opener is _stdlib:
        with pytest.raises(BufferError):
            m.close()
        assert not m.closed
    else:
        m.close()
        assert m.closed
    assert bytes(mv[:3]) == data_file.read_bytes()[:3]  # still usable either way
    sub = mv[1:4]
    mv.release()
    assert bytes(sub) == data_file.read_bytes()[1:4]
    sub.release()
    m.close()
    assert m.closed


def test_exit_with_live_view(opener: Opener, data_file: Path) -> None:
    keep: list[memoryview] = []
    expected = BufferError if opener is _stdlib else KeyError
    with pytest.raises(expected), opener(data_file, "r") as m:
        keep.append(memoryview(m))
        raise KeyError("body")
    assert m.closed is (opener is _ours)
    assert bytes(keep[0][:2]) == data_file.read_bytes()[:2]
    keep[0].release()
    m.close()


def test_numpy_and_hashlib(opener: Opener, data_file: Path, data: bytes) -> None:
    m = opener(data_file, "r")
    assert hashlib.sha256(m).hexdigest() == hashlib.sha256(data).hexdigest()
    arr = np.frombuffer(m, dtype=np.uint8)
    assert arr.sum() == sum(data)
    assert not arr.flags.writeable
    if opener is _stdlib:  # the deliberate difference above
        with pytest.raises(BufferError):
            m.close()
    del arr
    m.close()


def test_flush_read_only_is_noop(opener: Opener, data_file: Path) -> None:
    for mode in ("r", "c"):
        m = opener(data_file, mode)
        m.flush()
        m.close()


def test_empty_file(opener: Opener, make_file: Callable[..., Path]) -> None:
    # the one deliberate difference: stdlib refuses, open_ro maps nothing
    path = make_file(b"")
    if opener is _stdlib:
        with pytest.raises(ValueError):
            opener(path, "r")
    else:
        with opener(path, "r") as m:
            assert len(m) == 0


def test_mapping_survives_closing_the_file(opener: Opener, data_file: Path, data: bytes) -> None:
    fd = os.open(data_file, os.O_RDONLY)
    if opener is _stdlib:
        m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    else:
        m = MemoryMappedFile.from_file(fd, MmapMode.READ_ONLY)
    os.close(fd)
    with memoryview(m) as mv:
        assert bytes(mv[:8]) == data[:8]
    m.close()
