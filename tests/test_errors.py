"""The exception hierarchy and operating-system errors."""

from __future__ import annotations

import errno
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

import mmap_io
from mmap_io import (
    AdviceFailedError,
    AnonymousMmap,
    BusyError,
    FileTruncatedError,
    FlushFailedError,
    InvalidModeError,
    LockFailedError,
    MappingClosedError,
    MemoryMappedFile,
    MisalignedError,
    MmapIoError,
    MmapMode,
    OutOfBoundsError,
    ResizeFailedError,
    UnlockFailedError,
    WatchFailedError,
)
from mmap_io.errors import from_oserror, os_error, out_of_bounds

HIERARCHY = [
    (OutOfBoundsError, IndexError),
    (InvalidModeError, ValueError),
    (MisalignedError, ValueError),
    (ResizeFailedError, ValueError),
    (FlushFailedError, OSError),
    (AdviceFailedError, OSError),
    (LockFailedError, OSError),
    (UnlockFailedError, OSError),
    (WatchFailedError, OSError),
    (MappingClosedError, ValueError),
    (BusyError, BufferError),
    (FileTruncatedError, OSError),
]


def test_base_class() -> None:
    assert issubclass(MmapIoError, Exception)
    assert not issubclass(MmapIoError, OSError)
    assert MmapIoError.__module__ == "mmap_io"
    assert MmapIoError.__doc__


@pytest.mark.parametrize(("cls", "builtin"), HIERARCHY)
def test_hierarchy(cls: type[Exception], builtin: type[Exception] | None) -> None:
    assert issubclass(cls, MmapIoError)
    if builtin is not None:
        assert issubclass(cls, builtin)
    else:
        assert cls.__mro__[1] is MmapIoError
    assert getattr(mmap_io, cls.__name__) is cls
    assert cls.__doc__
    assert cls.__module__ == "mmap_io"
    assert cls.__name__ in mmap_io.__all__


def test_bad_sizes_are_value_errors(tmp_path: Path, make_file: Callable[..., Path]) -> None:
    # A size is a value like any other: `except ValueError` catches a bad one.
    path = tmp_path / "new.bin"
    for call in (
        lambda: MemoryMappedFile.create_rw(path, -1),
        lambda: MemoryMappedFile.open_or_create(path, 0),
        lambda: MemoryMappedFile.open_rw(make_file(b"")),
        lambda: AnonymousMmap(0),
    ):
        try:
            call()
        except ValueError as exc:
            assert isinstance(exc, ResizeFailedError)
        else:
            raise AssertionError("no ValueError")
    assert not path.exists()
    with MemoryMappedFile.create_rw(path, 16) as m, pytest.raises(ValueError):
        m.resize(0)


@pytest.mark.parametrize(
    ("err", "builtin"),
    [
        (errno.ENOENT, FileNotFoundError),
        (errno.EACCES, PermissionError),
        (errno.EPERM, PermissionError),
        (errno.EISDIR, IsADirectoryError),
        (errno.EEXIST, FileExistsError),
        (errno.ENOSPC, OSError),
        (errno.EINTR, InterruptedError),
    ],
)
def test_os_error_classes(err: int, builtin: type[OSError]) -> None:
    exc = os_error(err, "/some/path", "context")
    assert isinstance(exc, MmapIoError)
    assert isinstance(exc, builtin)
    assert type(exc) is type(os_error(err))  # one class per builtin, cached
    assert exc.errno == err
    assert exc.strerror and "context" in exc.strerror
    assert exc.filename == "/some/path"
    assert "/some/path" in str(exc)


def test_from_oserror() -> None:
    exc = from_oserror(FileNotFoundError(2, "nope", b"/x"), None, "ctx")
    assert isinstance(exc, FileNotFoundError) and isinstance(exc, MmapIoError)
    assert exc.filename == "/x"
    exc = from_oserror(OSError("no errno"), "/y", "ctx")
    assert isinstance(exc, MmapIoError)


def test_out_of_bounds_helper() -> None:
    exc = out_of_bounds(10, 5, 12, "/p")
    assert (exc.offset, exc.length, exc.total) == (10, 5, 12)
    assert "/p" in str(exc) and "10" in str(exc)


def test_real_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "missing"
    try:
        MemoryMappedFile.open_ro(path)
    except FileNotFoundError as exc:
        assert isinstance(exc, MmapIoError)
        assert exc.errno == errno.ENOENT
        assert exc.filename == str(path)
        assert exc.strerror
    else:
        pytest.fail("no error")
    with pytest.raises(MmapIoError):
        MemoryMappedFile.open_rw(path)


def test_real_permission_denied_sysfs() -> None:
    # root may write almost anything; sysfs attributes without a store
    # method still refuse to be opened for writing
    path = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
    if not os.path.exists(path):
        pytest.skip("no such sysfs attribute")
    with pytest.raises(PermissionError) as info:
        MemoryMappedFile.open_rw(path)
    exc = info.value
    assert isinstance(exc, MmapIoError)
    assert exc.errno == errno.EACCES
    assert exc.filename == path
    assert path in str(exc)


def test_real_permission_denied_readonly_fd(data_file: Path) -> None:
    fd = os.open(data_file, os.O_RDONLY)
    try:
        with pytest.raises(PermissionError) as info:
            MemoryMappedFile.from_file(fd, MmapMode.READ_WRITE, path=data_file)
    finally:
        os.close(fd)
    assert isinstance(info.value, MmapIoError)
    assert info.value.errno == errno.EACCES
    assert info.value.filename == str(data_file)


@pytest.mark.parametrize("opener", ["open_ro", "open_rw", "open_cow", "create_rw", "or_create"])
def test_real_is_a_directory(tmp_path: Path, opener: str) -> None:
    fn = {
        "open_ro": lambda p: MemoryMappedFile.open_ro(p),
        "open_rw": lambda p: MemoryMappedFile.open_rw(p),
        "open_cow": lambda p: MemoryMappedFile.open_cow(p),
        "create_rw": lambda p: MemoryMappedFile.create_rw(p, 10),
        "or_create": lambda p: MemoryMappedFile.open_or_create(p, 10),
    }[opener]
    with pytest.raises(IsADirectoryError) as info:
        fn(tmp_path)
    assert isinstance(info.value, MmapIoError)
    assert info.value.errno == errno.EISDIR
    assert info.value.filename == str(tmp_path)
    assert tmp_path.is_dir()


def test_not_a_directory(make_file: type) -> None:
    path = make_file(b"x")
    with pytest.raises(NotADirectoryError) as info:
        MemoryMappedFile.open_ro(path / "child")
    assert isinstance(info.value, MmapIoError)


def test_bounds_error_attributes(data_file: Path) -> None:
    with MemoryMappedFile.open_ro(data_file) as m:
        with pytest.raises(OutOfBoundsError) as info:
            m.read_bytes(len(m), 1)
        exc = info.value
        assert (exc.offset, exc.length, exc.total) == (len(m), 1, len(m))
        assert str(data_file) in str(exc)
        with pytest.raises(IndexError):
            m.as_slice(2**64, 1)


def test_errors_pickle_roundtrip() -> None:
    exc = os_error(errno.ENOENT, "/p")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert back.errno == errno.ENOENT and back.filename == "/p"
    back2 = pickle.loads(pickle.dumps(ResizeFailedError("x")))
    assert type(back2) is ResizeFailedError


def test_ints_too_long_to_print_still_give_out_of_bounds() -> None:
    # str() of such ints raises ValueError (sys.set_int_max_str_digits);
    # the bounds error must survive that and still carry the exact values.
    from mmap_io import AnonymousMmap, MisalignedError

    huge = 10**5000
    with AnonymousMmap(4096) as a:
        for off, length in [(huge, 1), (-huge, 1), (0, huge)]:
            with pytest.raises(OutOfBoundsError, match="-bit int") as info:
                a.read_bytes(off, length)
            assert (info.value.offset, info.value.length) == (off, length)
        with pytest.raises(MisalignedError, match="-bit int"):
            a.atomic_u64(huge + 1)
        with a.atomic_u64(0) as view, pytest.raises(OverflowError, match="-bit int"):
            view.store(huge)


# -- messages name the offending value and the path ----------------------


def _message_cases(m: MemoryMappedFile, path: str) -> list[tuple[str, object, type[Exception]]]:
    """``(label, call, expected class)`` for raise sites in the Python modules."""
    from mmap_io import AnonymousMmap, FlushPolicy, MmapAdvice, align_up, load_mmap

    b = MemoryMappedFile.builder(path)
    new = path + ".new"
    return [
        ("create_rw size", lambda: MemoryMappedFile.create_rw(new, 0), ResizeFailedError),
        ("create_rw size type", lambda: MemoryMappedFile.create_rw(new, "4096"), TypeError),
        (
            "open_or_create size",
            lambda: MemoryMappedFile.open_or_create(new, -5),
            ResizeFailedError,
        ),
        ("from_file mode", lambda: MemoryMappedFile.from_file(m.fileno(), "rb", path), ValueError),
        ("from_file mode type", lambda: MemoryMappedFile.from_file(m.fileno(), 2, path), TypeError),
        ("touch_hint", lambda: MemoryMappedFile.open_ro(path, touch_hint="eager"), TypeError),
        ("huge_pages", lambda: MemoryMappedFile.open_ro(path, huge_pages="yes"), TypeError),
        ("flush_policy", lambda: MemoryMappedFile.open_ro(path, flush_policy="never"), TypeError),
        ("builder mode", lambda: b.mode("w+"), ValueError),
        ("builder size", lambda: b.size(0), ResizeFailedError),
        ("builder policy", lambda: b.flush_policy(7), TypeError),
        ("builder create", lambda: MemoryMappedFile.builder(path).create(), ValueError),
        ("builder o_or_c", lambda: MemoryMappedFile.builder(path).open_or_create(), ValueError),
        ("load_mmap mode", lambda: load_mmap(path, "READ_ONLY"), ValueError),
        ("advise", lambda: m.advise(0, 1, "normal"), TypeError),
        ("chunks", lambda: m.chunks(0), ValueError),
        ("chunks type", lambda: m.chunks("8"), TypeError),
        ("chunks_mut", lambda: m.chunks_mut(-1), ValueError),
        ("segment write", lambda: m.segment_mut(8, 4).write(b"12345"), OutOfBoundsError),
        ("writer", lambda: _write_past_end(m), OutOfBoundsError),
        ("reader seek", lambda: m.reader().seek(-7), ValueError),
        ("watch poll_ms", lambda: m.watch(print, poll_ms=0), ValueError),
        ("watch callback", lambda: m.watch("print"), TypeError),
        ("resize", lambda: m.resize(0), ResizeFailedError),
        ("resize huge", lambda: m.resize(-(2**100000)), ResizeFailedError),
        ("every_bytes", lambda: FlushPolicy.every_bytes(-3), ValueError),
        ("every_bytes type", lambda: FlushPolicy.every_bytes(2.5), TypeError),
        ("anonymous size", lambda: AnonymousMmap(0), ResizeFailedError),
        ("align_up", lambda: align_up(3, 0), ValueError),
        ("advice enum", lambda: m.advise(0, 1, MmapAdvice), TypeError),
    ]


def _write_past_end(m: MemoryMappedFile) -> None:
    w = m.writer()
    w.seek(len(m) - 1)
    w.write(b"xy")


# The value each message must name, by label (the path is checked for all
# but the ones without a mapping or path).
_VALUES = {
    "create_rw size": "0",
    "create_rw size type": "'4096'",
    "open_or_create size": "-5",
    "from_file mode": "'rb'",
    "from_file mode type": "int 2",
    "touch_hint": "'eager'",
    "huge_pages": "'yes'",
    "flush_policy": "'never'",
    "builder mode": "'w+'",
    "builder size": "0",
    "builder policy": "7",
    "builder create": "size",
    "builder o_or_c": "size",
    "load_mmap mode": "'READ_ONLY'",
    "advise": "'normal'",
    "chunks": "0",
    "chunks type": "'8'",
    "chunks_mut": "-1",
    "segment write": "length=5",
    "writer": "length=2",
    "reader seek": "-7",
    "watch poll_ms": "0",
    "watch callback": "'print'",
    "resize": "0",
    "resize huge": "<negative 100001-bit int>",
    "every_bytes": "-3",
    "every_bytes type": "2.5",
    "anonymous size": "0",
    "align_up": "0",
    "advice enum": "MmapAdvice",
}
_NO_PATH = {"every_bytes", "every_bytes type", "anonymous size", "align_up"}


def test_messages_name_the_value_and_the_path(data_file: Path) -> None:
    path = str(data_file)
    with MemoryMappedFile.open_rw(data_file) as m:
        cases = _message_cases(m, path)
        assert {label for label, _, _ in cases} == set(_VALUES)
        for label, call, cls in cases:
            with pytest.raises(cls) as info:
                call()  # type: ignore[operator]
            msg = str(info.value)
            assert _VALUES[label] in msg, (label, msg)
            if label not in _NO_PATH:
                assert path in msg, (label, msg)
        del info
    assert not os.path.exists(path + ".new")


def test_segment_write_error_says_segment(data_file: Path) -> None:
    with MemoryMappedFile.open_rw(data_file) as m:
        seg = m.segment_mut(8, 4)
        with pytest.raises(
            OutOfBoundsError, match=r"outside the segment at offset 8 .*\(length 4\)"
        ):
            seg.write(b"12345")
