"""The exception hierarchy and operating-system errors."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

import mmap_io
from mmap_io import (
    AdviceFailedError,
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
    (ResizeFailedError, None),
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
