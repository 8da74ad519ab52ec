"""AnonymousMmap, the manager functions, page_size and align_up."""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mmap_io import (
    AnonymousMmap,
    FlushPolicy,
    InvalidModeError,
    MemoryMappedFile,
    MmapIoError,
    MmapMode,
    OutOfBoundsError,
    ResizeFailedError,
    align_up,
    copy_mmap,
    create_mmap,
    delete_mmap,
    flush,
    load_mmap,
    page_size,
    update_region,
    write_mmap,
)


def test_anonymous_basics() -> None:
    with AnonymousMmap(10_000) as a:
        assert len(a) == 10_000 and not a.closed and not a.is_empty()
        assert a.path is None
        assert a.read_bytes(0, 10_000) == bytes(10_000)
        a.update_region(5, b"anon")
        assert bytes(a.as_slice(5, 4)) == b"anon"
        with a.as_mut_slice(0, 2) as v:
            v[:] = b"hi"
        with a.as_slice_mut(2, 2) as v:
            v[:] = b"!!"
        assert a.read_bytes(0, 4) == b"hi!!"
        buf = bytearray(4)
        assert a.read_into(5, buf) == 4 and buf == b"anon"
        assert ctypes.string_at(a.as_ptr(), 2) == b"hi"
        assert a.as_mut_ptr() == a.as_ptr()
        arr = a.as_array("u1")
        assert arr.flags.writeable
        del arr
        assert np.frombuffer(a, dtype=np.uint8)[0] == ord("h")
        assert a.pending_bytes == 4
        assert "AnonymousMmap" in repr(a)
        assert a.reader().read(2) == b"hi"
        with pytest.raises(OutOfBoundsError):
            a.read_bytes(10_000, 1)
    assert a.closed
    assert "closed" in repr(a)
    a.close()


@pytest.mark.parametrize("name", ["flush", "flush_range", "resize", "fileno", "watch"])
def test_anonymous_lacks(name: str) -> None:
    with AnonymousMmap(16) as a:
        assert not hasattr(a, name)
        with pytest.raises(AttributeError, match=name):
            getattr(a, name)


@pytest.mark.parametrize("size", [0, -1, (1 << 47) + 1, 2**64])
def test_anonymous_bad_size(size: int) -> None:
    with pytest.raises(ResizeFailedError):
        AnonymousMmap(size)


def test_anonymous_arg_types() -> None:
    with pytest.raises(TypeError):
        AnonymousMmap(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AnonymousMmap(10, huge_pages="yes")  # type: ignore[arg-type]


def test_anonymous_huge_pages() -> None:
    with AnonymousMmap(3 << 20, huge_pages=True) as a:
        assert len(a) == 3 << 20
        a.update_region((3 << 20) - 4, b"last")
        assert a.read_bytes((3 << 20) - 4, 4) == b"last"
        with pytest.raises(OutOfBoundsError):
            a.read_bytes(3 << 20, 1)


def test_anonymous_is_private_per_object() -> None:
    with AnonymousMmap(8) as a, AnonymousMmap(8) as b:
        a.update_region(0, b"aaaa")
        assert b.read_bytes(0, 4) == bytes(4)


# -- manager functions ----------------------------------------------------


def test_create_and_load(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    with create_mmap(path, 4096) as m:
        assert isinstance(m, MemoryMappedFile)
        assert m.mode is MmapMode.READ_WRITE and len(m) == 4096
        update_region(m, 0, b"managed")
        flush(m)
        assert m.pending_bytes == 0
    for mode in MmapMode:
        with load_mmap(path, mode) as m:
            assert m.mode is mode
            assert m.read_bytes(0, 7) == b"managed"
    for mode in MmapMode:
        with load_mmap(path, mode.value) as m:  # numpy.memmap's spelling
            assert m.mode is mode
    with pytest.raises(ValueError, match="'r', 'r\\+' or 'c'"):
        load_mmap(path, "rb")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        load_mmap(path, 0)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        load_mmap(tmp_path / "nope", MmapMode.READ_ONLY)
    with pytest.raises(ResizeFailedError):
        create_mmap(tmp_path / "zero", 0)
    assert not (tmp_path / "zero").exists()


def test_create_mmap_discards(make_file: Callable[..., Path]) -> None:
    path = make_file(b"\x01" * 100)
    with create_mmap(path, 50) as m:
        assert m.read_bytes(0, 50) == bytes(50)


def test_write_mmap(make_file: Callable[..., Path]) -> None:
    path = make_file(bytes(100))
    write_mmap(path, 10, b"written")
    assert path.read_bytes()[10:17] == b"written"
    with pytest.raises(OutOfBoundsError):
        write_mmap(path, 95, b"too long")
    with pytest.raises(FileNotFoundError):
        write_mmap(path.parent / "nope", 0, b"x")
    with pytest.raises(TypeError):
        write_mmap(path, 0, "str")  # type: ignore[arg-type]


def test_update_region_and_flush_functions(make_file: Callable[..., Path]) -> None:
    path = make_file(bytes(10))
    with MemoryMappedFile.open_ro(path) as m:
        with pytest.raises(InvalidModeError):
            update_region(m, 0, b"x")
        flush(m)
    with AnonymousMmap(4) as a:
        update_region(a, 0, b"anon")
        assert a.read_bytes(0, 4) == b"anon"


def test_copy_and_delete(make_file: Callable[..., Path], tmp_path: Path) -> None:
    src = make_file(b"copy me")
    dst = tmp_path / "dst.bin"
    copy_mmap(src, dst)
    assert dst.read_bytes() == b"copy me"
    copy_mmap(str(src), str(dst))
    delete_mmap(dst)
    assert not dst.exists()
    with pytest.raises(FileNotFoundError) as info:
        delete_mmap(dst)
    assert isinstance(info.value, MmapIoError)
    with pytest.raises(FileNotFoundError) as info2:
        copy_mmap(tmp_path / "nope", dst)
    assert isinstance(info2.value, MmapIoError)
    with pytest.raises(IsADirectoryError):
        delete_mmap(tmp_path)  # os.remove of a directory


def test_page_size() -> None:
    assert page_size() == mmap.PAGESIZE
    assert page_size() & (page_size() - 1) == 0


def test_align_up() -> None:
    ps = page_size()
    assert align_up(0, ps) == 0
    assert align_up(1, ps) == ps
    assert align_up(ps, ps) == ps
    assert align_up(5000, 4096) == 8192
    assert align_up(7, 3) == 9
    assert align_up(2**64 + 1, 2**32) == 2**64 + 2**32
    with pytest.raises(ValueError):
        align_up(5, 0)
    with pytest.raises(ValueError):
        align_up(5, -4)
    with pytest.raises(ValueError):
        align_up(-1, 4)
    with pytest.raises(TypeError):
        align_up(1.5, 4)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        align_up(1, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        align_up(True, 4)


def test_flush_policy_values() -> None:
    assert FlushPolicy.MANUAL == FlushPolicy.NEVER
    assert FlushPolicy.every_bytes(5) == FlushPolicy.every_bytes(5)
    assert FlushPolicy.every_bytes(5) != FlushPolicy.every_writes(5)
    with pytest.raises(ValueError):
        FlushPolicy.every_bytes(0)
