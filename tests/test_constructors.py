"""Every constructor, the builder, path types and the accessors."""

from __future__ import annotations

import io
import os
import pathlib
from collections.abc import Callable
from pathlib import Path

import pytest

from mmap_io import (
    FlushPolicy,
    InvalidModeError,
    MemoryMappedFile,
    MmapBuilder,
    MmapIoError,
    MmapMode,
    ResizeFailedError,
    TouchHint,
    load_mmap,
)


@pytest.mark.parametrize("kind", ["str", "bytes", "pathlib"])
def test_path_types(tmp_path: Path, kind: str) -> None:
    raw = tmp_path / "f.bin"
    path: str | bytes | pathlib.Path = {
        "str": str(raw),
        "bytes": os.fsencode(raw),
        "pathlib": raw,
    }[kind]
    with MemoryMappedFile.create_rw(path, 4096) as m:
        assert m.path == raw
        assert isinstance(m.path, pathlib.Path)
        m.update_region(0, b"abc")
        m.flush()
    for opener in (MemoryMappedFile.open_ro, MemoryMappedFile.open_rw, MemoryMappedFile.open_cow):
        with opener(path) as m:
            assert m.path == raw
            assert m.read_bytes(0, 3) == b"abc"
    with MemoryMappedFile.open_or_create(path, 100) as m:
        assert m.path == raw
        assert len(m) == 4096


def test_bad_path_type(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="path"):
        MemoryMappedFile.open_ro(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path"):
        MemoryMappedFile.create_rw(None, 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path"):
        MemoryMappedFile.builder(1.5)  # type: ignore[arg-type]


def test_direct_instantiation_is_refused() -> None:
    with pytest.raises(TypeError, match="create_rw"):
        MemoryMappedFile()


def test_create_rw(tmp_path: Path) -> None:
    path = tmp_path / "new.bin"
    with MemoryMappedFile.create_rw(path, 10_000) as m:
        assert len(m) == 10_000
        assert m.mode is MmapMode.READ_WRITE
        assert m.flush_policy == FlushPolicy.NEVER
        assert m.read_bytes(0, 10_000) == bytes(10_000)
        assert not m.is_empty()
    assert path.stat().st_size == 10_000


def test_create_rw_truncates_existing(make_file: Callable[..., Path]) -> None:
    path = make_file(b"\xff" * 50_000)
    with MemoryMappedFile.create_rw(path, 4096) as m:
        assert m.read_bytes(0, 4096) == bytes(4096)
    assert path.read_bytes() == bytes(4096)
    # growing is zero-filled too
    with MemoryMappedFile.create_rw(path, 8192) as m:
        assert m.read_bytes(0, 8192) == bytes(8192)


@pytest.mark.parametrize("size", [0, -1, (1 << 47) + 1, 2**64, 2**100])
def test_create_rw_bad_size_leaves_no_file(tmp_path: Path, size: int) -> None:
    path = tmp_path / "x.bin"
    with pytest.raises(ResizeFailedError) as info:
        MemoryMappedFile.create_rw(path, size)
    assert str(size) in str(info.value)
    assert isinstance(info.value, MmapIoError)
    assert not path.exists()


def test_create_rw_size_type(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        MemoryMappedFile.create_rw(tmp_path / "x", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MemoryMappedFile.create_rw(tmp_path / "x", True)
    with pytest.raises(TypeError):
        MemoryMappedFile.create_rw(tmp_path / "x", "10")  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def test_create_rw_bad_option_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        MemoryMappedFile.create_rw(tmp_path / "x", 10, touch_hint="eager")
    with pytest.raises(TypeError):
        MemoryMappedFile.create_rw(tmp_path / "x", 10, huge_pages=1)
    with pytest.raises(TypeError):
        MemoryMappedFile.create_rw(tmp_path / "x", 10, bogus=1)
    assert not (tmp_path / "x").exists()


def test_create_rw_in_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir.bin"
    with pytest.raises(FileNotFoundError) as info:
        MemoryMappedFile.create_rw(path, 10)
    assert isinstance(info.value, MmapIoError)
    assert info.value.filename == str(path)


def test_open_ro(data_file: Path) -> None:
    data = data_file.read_bytes()
    with MemoryMappedFile.open_ro(data_file) as m:
        assert m.mode is MmapMode.READ_ONLY
        assert len(m) == len(data)
        assert m.read_bytes(0, len(data)) == data
        with pytest.raises(InvalidModeError):
            m.update_region(0, b"x")
        with pytest.raises(InvalidModeError):
            m.as_slice_mut(0, 1)
        with pytest.raises(InvalidModeError):
            m.resize(10)
        m.flush()  # a no-op, not an error


def test_open_ro_empty_file(make_file: Callable[..., Path]) -> None:
    path = make_file(b"")
    with MemoryMappedFile.open_ro(path) as m:
        assert len(m) == 0
        assert m.is_empty()
        assert bytes(memoryview(m)) == b""
        assert m.read_bytes(0, 0) == b""
        assert bytes(m.as_slice(0, 0)) == b""
        assert list(m.chunks(16)) == []
        assert list(m.pages_owned()) == []
        assert m.read_into(0, bytearray()) == 0
        m.flush()
        m.flush_range(0, 0)


def test_open_rw_and_cow_refuse_empty_file(make_file: Callable[..., Path]) -> None:
    path = make_file(b"")
    with pytest.raises(ResizeFailedError, match="empty"):
        MemoryMappedFile.open_rw(path)
    with pytest.raises(ResizeFailedError):
        MemoryMappedFile.open_cow(path)


def test_open_rw_writes_reach_file(data_file: Path) -> None:
    with MemoryMappedFile.open_rw(data_file) as m:
        assert m.mode is MmapMode.READ_WRITE
        m.update_region(100, b"written")
        m.flush()
    assert data_file.read_bytes()[100:107] == b"written"


def test_open_cow(data_file: Path) -> None:
    before = data_file.read_bytes()
    with MemoryMappedFile.open_cow(data_file) as m:
        assert m.mode is MmapMode.COPY_ON_WRITE
        m.update_region(0, b"private")
        assert m.read_bytes(0, 7) == b"private"
        m.flush()
        with pytest.raises(InvalidModeError):
            m.resize(100)
    assert data_file.read_bytes() == before


@pytest.mark.parametrize(
    "opener", [MemoryMappedFile.open_ro, MemoryMappedFile.open_rw, MemoryMappedFile.open_cow]
)
def test_open_missing(tmp_path: Path, opener: Callable[..., MemoryMappedFile]) -> None:
    path = tmp_path / "missing.bin"
    with pytest.raises(FileNotFoundError) as info:
        opener(path)
    exc = info.value
    assert isinstance(exc, MmapIoError)
    assert exc.errno == 2
    assert exc.filename == str(path)
    assert exc.strerror
    assert not path.exists()


def test_open_or_create(tmp_path: Path) -> None:
    path = tmp_path / "state.bin"
    with MemoryMappedFile.open_or_create(path, 4096) as m:
        assert len(m) == 4096
        m.update_region(0, b"state")
    with MemoryMappedFile.open_or_create(path, 99_999) as m:
        assert len(m) == 4096  # existing file: its own size
        assert m.read_bytes(0, 5) == b"state"
    # an existing empty file is grown to the default size
    empty = tmp_path / "empty.bin"
    empty.touch()
    with MemoryMappedFile.open_or_create(empty, 123) as m:
        assert len(m) == 123


@pytest.mark.parametrize("size", [0, -5, (1 << 47) + 1])
def test_open_or_create_bad_size(tmp_path: Path, size: int) -> None:
    path = tmp_path / "s.bin"
    with pytest.raises(ResizeFailedError):
        MemoryMappedFile.open_or_create(path, size)
    assert not path.exists()


def test_from_file_int_fd(data_file: Path) -> None:
    fd = os.open(data_file, os.O_RDWR)
    try:
        m = MemoryMappedFile.from_file(fd, MmapMode.READ_WRITE)
    finally:
        os.close(fd)  # the mapping has its own duplicate
    with m:
        assert m.path is None
        assert os.fstat(m.fileno()).st_ino == os.stat(data_file).st_ino
        m.update_region(0, b"fd!")
        m.flush()
    assert data_file.read_bytes()[:3] == b"fd!"


def test_from_file_keeps_own_fd(data_file: Path) -> None:
    with open(data_file, "rb") as f:
        m = MemoryMappedFile.from_file(f, MmapMode.READ_ONLY)
        assert m.fileno() != f.fileno()
    with m:
        os.fstat(m.fileno())  # still valid after the file object closed
        assert m.read_bytes(0, 4) == data_file.read_bytes()[:4]


def test_from_file_object_path(data_file: Path) -> None:
    with open(data_file, "r+b") as f:
        with MemoryMappedFile.from_file(f, MmapMode.READ_WRITE) as m:
            assert m.path == data_file
        with MemoryMappedFile.from_file(f, MmapMode.COPY_ON_WRITE, path="other.bin") as m:
            assert m.path == Path("other.bin")
        with MemoryMappedFile.from_file(f, MmapMode.READ_ONLY, path=b"b.bin") as m:
            assert m.path == Path("b.bin")
    fd = os.open(data_file, os.O_RDONLY)
    # a file object whose name is the int fd: no path
    with open(fd, "rb") as f, MemoryMappedFile.from_file(f, MmapMode.READ_ONLY) as m:
        assert m.path is None
    with (
        io.BytesIO(b"x") as bio,
        pytest.raises((io.UnsupportedOperation, OSError, TypeError)),
    ):
        MemoryMappedFile.from_file(bio, MmapMode.READ_ONLY)


def test_from_file_errors(data_file: Path) -> None:
    with pytest.raises(TypeError):
        MemoryMappedFile.from_file("path.bin", MmapMode.READ_ONLY)
    with pytest.raises(TypeError):
        MemoryMappedFile.from_file(True, MmapMode.READ_ONLY)
    with open(data_file, "rb") as f, pytest.raises(ValueError):
        MemoryMappedFile.from_file(f, "rb")  # type: ignore[arg-type]
    with open(data_file, "rb") as f, pytest.raises(TypeError):
        MemoryMappedFile.from_file(f, None)  # type: ignore[arg-type]
    fd = os.open(data_file, os.O_RDONLY)
    os.close(fd)
    with pytest.raises(OSError) as info:
        MemoryMappedFile.from_file(fd, MmapMode.READ_ONLY)
    assert isinstance(info.value, MmapIoError)
    assert info.value.errno == 9  # EBADF


def test_from_file_permission_denied(data_file: Path) -> None:
    # a real permission failure even as root: a read-only descriptor
    # cannot back a shared writable mapping (mmap says EACCES)
    with open(data_file, "rb") as f:
        with pytest.raises(PermissionError) as info:
            MemoryMappedFile.from_file(f, MmapMode.READ_WRITE)
        assert isinstance(info.value, MmapIoError)
        assert info.value.errno == 13
        assert info.value.filename == str(data_file)
        # copy-on-write of the same descriptor is fine
        with MemoryMappedFile.from_file(f, MmapMode.COPY_ON_WRITE) as m:
            m.update_region(0, b"ok")


def _mode_takers(path: Path) -> dict[str, Callable[[object], MemoryMappedFile]]:
    """Every way of opening ``path`` that takes a mode."""

    def from_file(mode: object) -> MemoryMappedFile:
        with open(path, "rb" if mode in ("r", MmapMode.READ_ONLY) else "r+b") as f:
            return MemoryMappedFile.from_file(f, mode)  # type: ignore[arg-type]

    return {
        "load_mmap": lambda mode: load_mmap(path, mode),  # type: ignore[arg-type]
        "from_file": from_file,
        "builder": lambda mode: MemoryMappedFile.builder(path).mode(mode).open(),  # type: ignore[arg-type]
    }


@pytest.mark.parametrize("taker", ["load_mmap", "from_file", "builder"])
@pytest.mark.parametrize("mode", list(MmapMode))
def test_mode_strings(data_file: Path, taker: str, mode: MmapMode) -> None:
    # numpy.memmap's strings name the same modes as the members.
    with _mode_takers(data_file)[taker](mode.value) as m:
        assert m.mode is mode
        assert m._access == mode._access


@pytest.mark.parametrize("taker", ["load_mmap", "from_file", "builder"])
@pytest.mark.parametrize(
    ("bad", "cls"),
    [
        ("w", ValueError),
        ("rb", ValueError),
        ("R", ValueError),
        ("", ValueError),
        ("READ_ONLY", ValueError),
        (b"r", TypeError),
        (0, TypeError),
        (None, TypeError),
        (TouchHint.NEVER, TypeError),
    ],
)
def test_bad_mode(data_file: Path, taker: str, bad: object, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        _mode_takers(data_file)[taker](bad)
    assert type(info.value) is cls  # not a subclass, such as InvalidModeError
    msg = str(info.value)
    assert "'r', 'r+' or 'c'" in msg and repr(bad) in msg and str(data_file) in msg


def test_bad_mode_string_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.bin"
    with pytest.raises(ValueError):
        MemoryMappedFile.builder(path).mode("w").size(10).create()  # type: ignore[arg-type]
    assert not path.exists()


def test_builder_defaults(tmp_path: Path) -> None:
    b = MemoryMappedFile.builder(tmp_path / "b.bin")
    assert isinstance(b, MmapBuilder)
    with pytest.raises(ValueError, match="size"):
        b.create()
    assert not (tmp_path / "b.bin").exists()
    with b.size(4096).create() as m:
        assert m.mode is MmapMode.READ_WRITE  # the default mode
        assert m.flush_policy == FlushPolicy.NEVER
        assert len(m) == 4096
    assert "b.bin" in repr(b)


def test_builder_full_chain(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    policy = FlushPolicy.every_bytes(64 << 10)
    m = (
        MemoryMappedFile.builder(path)
        .mode(MmapMode.READ_WRITE)
        .size(1 << 20)
        .flush_policy(policy)
        .touch_hint(TouchHint.EAGER)
        .huge_pages(True)
        .create()
    )
    with m:
        assert len(m) == 1 << 20
        assert m.flush_policy == policy
        m.update_region(0, b"built")
    with MemoryMappedFile.builder(path).mode(MmapMode.READ_ONLY).open() as m:
        assert m.mode is MmapMode.READ_ONLY
        assert m.read_bytes(0, 5) == b"built"
    with MemoryMappedFile.builder(path).mode(MmapMode.COPY_ON_WRITE).open() as m:
        assert m.mode is MmapMode.COPY_ON_WRITE
    with MemoryMappedFile.builder(path).open() as m:
        assert m.mode is MmapMode.READ_WRITE
    with MemoryMappedFile.builder(path).size(10).open_or_create() as m:
        assert len(m) == 1 << 20
    other = tmp_path / "g.bin"
    with MemoryMappedFile.builder(other).size(10).open_or_create() as m:
        assert len(m) == 10


def test_builder_errors(tmp_path: Path) -> None:
    b = MemoryMappedFile.builder(tmp_path / "b.bin")
    with pytest.raises(ValueError):
        b.mode("w")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.mode(1)  # type: ignore[arg-type]
    with pytest.raises(ResizeFailedError):
        b.size(0)
    with pytest.raises(ResizeFailedError):
        b.size(1 << 48)
    with pytest.raises(TypeError):
        b.flush_policy("never")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.touch_hint(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.huge_pages("yes")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        b.open()
    with pytest.raises(ValueError, match="size"):
        b.open_or_create()
    with pytest.raises(ValueError, match="READ_WRITE"):
        b.mode(MmapMode.READ_ONLY).size(10).create()
    with pytest.raises(ValueError, match="READ_WRITE"):
        b.open_or_create()
    assert not (tmp_path / "b.bin").exists()


@pytest.mark.parametrize("hint", list(TouchHint))
@pytest.mark.parametrize("huge", [False, True])
def test_options_every_mode(data_file: Path, hint: TouchHint, huge: bool) -> None:
    data = data_file.read_bytes()
    for opener in (MemoryMappedFile.open_ro, MemoryMappedFile.open_rw, MemoryMappedFile.open_cow):
        with opener(data_file, touch_hint=hint, huge_pages=huge) as m:
            assert m.read_bytes(0, len(data)) == data


def test_accessors_and_repr(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    r = repr(m)
    assert str(data_file) in r and "READ_WRITE" in r and str(len(m)) in r
    assert m.fileno() >= 0
    assert os.fstat(m.fileno()).st_ino == data_file.stat().st_ino
    assert m.pending_bytes == 0
    m.update_region(0, b"12345")
    assert m.pending_bytes == 5
    m.close()
    r = repr(m)
    assert "closed" in r and str(data_file) in r


def test_fileno_is_cloexec(data_file: Path) -> None:
    with MemoryMappedFile.open_ro(data_file) as m:
        assert not os.get_inheritable(m.fileno())
