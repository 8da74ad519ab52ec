"""The public surface, section by section, checked mechanically.

Each section covers one part of the public surface: the importable names,
signatures, return types and raised exceptions. Behaviour that other
modules test in depth is checked here only as far as the surface shows it.
"""

from __future__ import annotations

import collections.abc
import enum
import errno
import importlib.util
import inspect
import io
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mmap_io
from mmap_io import (
    AdviceFailedError,
    AnonymousMmap,
    AtomicSlice,
    AtomicU32,
    AtomicU64,
    BusyError,
    ChangeEvent,
    ChangeKind,
    FileTruncatedError,
    FlushFailedError,
    FlushPolicy,
    InvalidModeError,
    LockFailedError,
    MappingClosedError,
    MemoryMappedFile,
    MisalignedError,
    MmapAdvice,
    MmapBuilder,
    MmapIoError,
    MmapMode,
    MmapReader,
    MmapWriter,
    OutOfBoundsError,
    ResizeFailedError,
    Segment,
    SegmentMut,
    TouchHint,
    UnlockFailedError,
    WatchFailedError,
    WatchHandle,
    page_size,
)

PS = page_size()

# -- names -------------------------------------------------------------------

# Every name importable from the top-level package.
PUBLIC_NAMES = [
    "MmapIoError",
    "OutOfBoundsError",
    "InvalidModeError",
    "MisalignedError",
    "ResizeFailedError",
    "FlushFailedError",
    "AdviceFailedError",
    "LockFailedError",
    "UnlockFailedError",
    "WatchFailedError",
    "MappingClosedError",
    "BusyError",
    "FileTruncatedError",
    "MmapMode",
    "TouchHint",
    "MmapAdvice",
    "FlushPolicy",
    "MemoryMappedFile",
    "AnonymousMmap",
    "Segment",
    "SegmentMut",
    "AtomicU64",
    "AtomicU32",
    "ChangeEvent",
    "ChangeKind",
    "WatchHandle",
    "MmapReader",
    "MmapWriter",
    "create_mmap",
    "load_mmap",
    "write_mmap",
    "update_region",
    "flush",
    "copy_mmap",
    "delete_mmap",
    "create_mmap_async",
    "copy_mmap_async",
    "delete_mmap_async",
    "page_size",
    "align_up",
]


def test_every_contract_name_is_exported() -> None:
    for name in PUBLIC_NAMES:
        assert hasattr(mmap_io, name), name
        assert name in mmap_io.__all__, name
    assert mmap_io.__all__ == sorted(mmap_io.__all__)
    for name in mmap_io.__all__:
        assert hasattr(mmap_io, name), name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, Any] = {}
    exec("from mmap_io import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(mmap_io.__all__)


# -- errors ------------------------------------------------------------------

ERROR_TABLE: list[tuple[type[Exception], type[Exception] | None]] = [
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


def test_error_table() -> None:
    assert MmapIoError.__bases__ == (Exception,)
    builtins_ = (IndexError, ValueError, OSError, BufferError, TypeError)
    for cls, also in ERROR_TABLE:
        assert issubclass(cls, MmapIoError), cls
        for b in builtins_:
            expected = also is not None and issubclass(also, b)
            assert issubclass(cls, b) == expected, (cls, b)


def test_os_errors_are_both(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    with pytest.raises(MmapIoError) as info:
        MemoryMappedFile.open_ro(missing)
    exc = info.value
    assert isinstance(exc, FileNotFoundError)
    assert exc.errno == errno.ENOENT and exc.strerror and exc.filename == str(missing)
    assert str(missing) in str(exc)
    with pytest.raises(IsADirectoryError) as info2:
        MemoryMappedFile.open_ro(tmp_path)
    assert isinstance(info2.value, MmapIoError)


def test_error_attributes(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", PS) as m:
        with pytest.raises(OutOfBoundsError) as oob:
            m.read_bytes(PS - 1, 2)
        assert (oob.value.offset, oob.value.length, oob.value.total) == (PS - 1, 2, PS)
        with pytest.raises(MisalignedError) as mis:
            m.atomic_u64(4)
        assert (mis.value.required, mis.value.offset) == (8, 4)
        del oob, mis


# -- enums and FlushPolicy ---------------------------------------------------


def test_enums() -> None:
    for cls in (MmapMode, TouchHint, MmapAdvice, ChangeKind):
        assert issubclass(cls, enum.Enum)
    assert [(m.name, m.value) for m in MmapMode] == [
        ("READ_ONLY", "r"),
        ("READ_WRITE", "r+"),
        ("COPY_ON_WRITE", "c"),
    ]
    assert MmapMode("r+") is MmapMode.READ_WRITE
    assert [m.name for m in TouchHint] == ["NEVER", "EAGER", "LAZY"]
    assert [m.name for m in MmapAdvice][:5] == [
        "NORMAL",
        "RANDOM",
        "SEQUENTIAL",
        "WILL_NEED",
        "DONT_NEED",
    ]
    assert {m.name for m in ChangeKind} == {"MODIFIED", "METADATA", "REMOVED"}


def test_flush_policy_values() -> None:
    assert FlushPolicy.MANUAL == FlushPolicy.NEVER
    assert FlushPolicy.NEVER != FlushPolicy.ALWAYS
    for make in (FlushPolicy.every_bytes, FlushPolicy.every_writes, FlushPolicy.every_millis):
        p = make(10)
        assert p == make(10) and hash(p) == hash(make(10)) and p != make(11)
        assert eval(repr(p), {"FlushPolicy": FlushPolicy}) == p  # readable repr
        with pytest.raises(AttributeError):
            p.threshold = 3  # type: ignore[misc]
        # "n/ms must be positive ints (else ValueError)"
        for bad in (0, -1, 1.5, "10", None, True):
            with pytest.raises(ValueError):
                make(bad)  # type: ignore[arg-type]
        for bad_type in (1.5, "10", None):
            with pytest.raises(TypeError):  # also a TypeError: it is not an int
                make(bad_type)  # type: ignore[arg-type]
    assert repr(FlushPolicy.NEVER) == "FlushPolicy.NEVER"


# -- MemoryMappedFile constructors -------------------------------------------

OPTION_DEFAULTS = {
    "flush_policy": FlushPolicy.NEVER,
    "touch_hint": TouchHint.NEVER,
    "huge_pages": False,
    "advice": None,
}
CONSTRUCTORS = {
    "create_rw": ["path", "size"],
    "open_ro": ["path"],
    "open_rw": ["path"],
    "open_cow": ["path"],
    "open_or_create": ["path", "default_size"],
    "from_file": ["file", "mode", "path"],
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_constructor_signatures(name: str) -> None:
    raw = inspect.getattr_static(MemoryMappedFile, name)
    assert isinstance(raw, classmethod)
    params = inspect.signature(getattr(MemoryMappedFile, name)).parameters
    positional = [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == CONSTRUCTORS[name]
    keyword = {n: p.default for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    expected = dict(OPTION_DEFAULTS)
    if name != "from_file":  # it opens nothing
        expected["follow_symlinks"] = True
    if name in ("create_rw", "open_or_create"):
        expected["permissions"] = 0o666
    assert keyword == expected
    if name == "from_file":
        assert params["path"].default is None


def test_constructors(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    with MemoryMappedFile.create_rw(str(p), 2 * PS) as m:
        assert isinstance(m, MemoryMappedFile) and len(m) == 2 * PS
        assert m.mode is MmapMode.READ_WRITE and m.path == p and isinstance(m.path, Path)
        m.update_region(0, b"data")
    # create_rw on an existing file discards its contents
    with MemoryMappedFile.create_rw(os.fsencode(p), PS) as m:
        assert m.read_bytes(0, 4) == bytes(4) and p.stat().st_size == PS
        m.update_region(0, b"data")
        m.flush()
    for opener, mode in (
        (MemoryMappedFile.open_ro, MmapMode.READ_ONLY),
        (MemoryMappedFile.open_rw, MmapMode.READ_WRITE),
        (MemoryMappedFile.open_cow, MmapMode.COPY_ON_WRITE),
    ):
        with opener(p) as m:
            assert m.mode is mode and m.read_bytes(0, 4) == b"data"
    with MemoryMappedFile.open_or_create(p, 99) as m:
        assert len(m) == PS  # exists: opened as it is
    with MemoryMappedFile.open_or_create(tmp_path / "new.bin", 100) as m:
        assert len(m) == 100 and m.mode is MmapMode.READ_WRITE
    empty = tmp_path / "empty.bin"
    empty.touch()
    with MemoryMappedFile.open_ro(empty) as m:
        assert len(m) == 0 and m.is_empty()
    with pytest.raises(ResizeFailedError):
        MemoryMappedFile.open_rw(empty)
    with pytest.raises(ResizeFailedError):
        MemoryMappedFile.create_rw(tmp_path / "zero.bin", 0)
    assert not (tmp_path / "zero.bin").exists()
    with pytest.raises(TypeError):
        MemoryMappedFile(p)  # type: ignore[call-arg]


def test_options_are_keyword_only_and_checked_before_any_change(tmp_path: Path) -> None:
    p = tmp_path / "keep.bin"
    p.write_bytes(b"keep")
    with pytest.raises(TypeError):
        MemoryMappedFile.create_rw(p, PS, touch_hint="eager")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MemoryMappedFile.open_or_create(tmp_path / "n.bin", PS, flush_policy=None)  # type: ignore[arg-type]
    assert p.read_bytes() == b"keep" and not (tmp_path / "n.bin").exists()
    with pytest.raises(TypeError, match="unexpected keyword"):
        MemoryMappedFile.open_ro(p, populate=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        MemoryMappedFile.open_ro(p, FlushPolicy.NEVER)  # type: ignore[misc]
    opts = {
        "flush_policy": FlushPolicy.every_bytes(64),
        "touch_hint": TouchHint.EAGER,
        "huge_pages": True,
    }
    with MemoryMappedFile.create_rw(tmp_path / "o.bin", PS, **opts) as m:  # type: ignore[arg-type]
        assert m.flush_policy == FlushPolicy.every_bytes(64)


def test_from_file_rules(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"x" * PS)
    with open(p, "rb") as f:
        m = MemoryMappedFile.from_file(f, MmapMode.READ_ONLY)
    # the mapping keeps its own duplicate of the fd: f is closed now
    assert m.path == p and m.read_bytes(0, 1) == b"x"
    assert f.closed and m.fileno() >= 0
    m.close()
    fd = os.open(p, os.O_RDWR)
    try:
        with MemoryMappedFile.from_file(fd, MmapMode.READ_WRITE) as m:
            assert m.path is None  # an int has no name
            assert m.fileno() != fd
        with (
            io.FileIO(fd, "r+b", closefd=False) as f,
            MemoryMappedFile.from_file(f, MmapMode.READ_ONLY) as m,
        ):
            assert m.path is None  # FileIO(fd).name is the int fd
        with MemoryMappedFile.from_file(fd, MmapMode.COPY_ON_WRITE, path=os.fsencode(p)) as m:
            assert m.path == p
        with (
            open(p, "rb") as f,
            MemoryMappedFile.from_file(f, MmapMode.READ_ONLY, path=tmp_path / "other") as m,
        ):
            assert m.path == tmp_path / "other"  # an explicit path wins
    finally:
        os.close(fd)
    with pytest.raises(TypeError):
        MemoryMappedFile.from_file(str(p), MmapMode.READ_ONLY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MemoryMappedFile.from_file(True, MmapMode.READ_ONLY)
    with pytest.raises(ValueError):
        MemoryMappedFile.from_file(0, "w")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MemoryMappedFile.from_file(0, b"r")  # type: ignore[arg-type]


def test_builder(tmp_path: Path) -> None:
    p = tmp_path / "b.bin"
    b = MemoryMappedFile.builder(p)
    assert isinstance(b, MmapBuilder)
    assert "READ_WRITE" in repr(b)  # the default mode
    with pytest.raises(ValueError, match="size"):
        b.create()
    assert not p.exists()
    same = (
        b.mode(MmapMode.READ_WRITE)
        .size(PS)
        .flush_policy(FlushPolicy.every_bytes(64 << 10))
        .touch_hint(TouchHint.EAGER)
        .huge_pages(True)
    )
    assert same is b
    with b.create() as m:
        assert isinstance(m, MemoryMappedFile) and len(m) == PS
        assert m.mode is MmapMode.READ_WRITE
        assert m.flush_policy == FlushPolicy.every_bytes(64 << 10)
    with MemoryMappedFile.builder(p).open() as m:
        assert m.mode is MmapMode.READ_WRITE
    with MemoryMappedFile.builder(p).mode(MmapMode.READ_ONLY).open() as m:
        assert m.mode is MmapMode.READ_ONLY
    with MemoryMappedFile.builder(tmp_path / "c.bin").size(PS).open_or_create() as m:
        assert len(m) == PS


# -- MemoryMappedFile surface -------------------------------------------------

MAPPING_METHODS = [
    "close",
    "is_empty",
    "fileno",
    "as_slice",
    "as_slice_mut",
    "read_into",
    "read_bytes",
    "update_region",
    "reader",
    "writer",
    "as_ptr",
    "as_mut_ptr",
    "flush",
    "flush_range",
    "resize",
    "advise",
    "prefetch_range",
    "touch_pages",
    "touch_pages_range",
    "lock",
    "unlock",
    "lock_all",
    "unlock_all",
    "is_hugepage_backed",
    "chunks",
    "pages",
    "chunks_owned",
    "pages_owned",
    "chunks_mut",
    "atomic_u64",
    "atomic_u32",
    "atomic_u64_slice",
    "atomic_u32_slice",
    "watch",
    "update_region_async",
    "flush_async",
    "flush_range_async",
    "segment",
    "segment_mut",
    "residency",
    "as_array",
    "unmap",
]
MAPPING_PROPERTIES = ["closed", "path", "mode", "flush_policy", "pending_bytes"]
# What AnonymousMmap does not have (no flush, resize or watch; path
# exists and is None).
ANONYMOUS_ABSENT = [
    "flush",
    "flush_range",
    "resize",
    "watch",
    "fileno",
    "unmap",
    "update_region_async",
    "flush_async",
    "flush_range_async",
]

SIGNATURES = {
    "as_slice": ["offset", "length"],
    "as_slice_mut": ["offset", "length"],
    "read_into": ["offset", "buf"],
    "read_bytes": ["offset", "length"],
    "update_region": ["offset", "data"],
    "flush_range": ["offset", "length"],
    "resize": ["new_size"],
    "advise": ["offset", "length", "advice"],
    "prefetch_range": ["offset", "length"],
    "touch_pages_range": ["offset", "length"],
    "lock": ["offset", "length"],
    "unlock": ["offset", "length"],
    "chunks": ["size"],
    "chunks_owned": ["size"],
    "chunks_mut": ["size"],
    "atomic_u64": ["offset"],
    "atomic_u32": ["offset"],
    "atomic_u64_slice": ["offset", "count"],
    "atomic_u32_slice": ["offset", "count"],
    "watch": ["callback"],
    "update_region_async": ["offset", "data"],
    "flush_range_async": ["offset", "length"],
    "segment": ["offset", "length"],
    "segment_mut": ["offset", "length"],
    "residency": ["offset", "length"],
    "as_array": ["dtype", "offset", "shape"],
}


def _required_and_optional(fn: Callable[..., Any]) -> list[str]:
    params = inspect.signature(fn).parameters.values()
    return [
        p.name
        for p in params
        if p.name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def test_memory_mapped_file_has_the_surface() -> None:
    for name in MAPPING_METHODS:
        assert callable(getattr(MemoryMappedFile, name)), name
    for name in MAPPING_PROPERTIES:
        assert inspect.isdatadescriptor(inspect.getattr_static(MemoryMappedFile, name)), name
    for name, params in SIGNATURES.items():
        assert _required_and_optional(getattr(MemoryMappedFile, name)) == params, name
    residency = inspect.signature(MemoryMappedFile.residency).parameters
    assert residency["offset"].default == 0 and residency["length"].default is None
    as_array = inspect.signature(MemoryMappedFile.as_array).parameters
    assert as_array["offset"].default == 0 and as_array["shape"].default is None
    for name in ("update_region_async", "flush_async", "flush_range_async"):
        assert inspect.iscoroutinefunction(getattr(MemoryMappedFile, name)), name
    for fn in (mmap_io.create_mmap_async, mmap_io.copy_mmap_async, mmap_io.delete_mmap_async):
        assert inspect.iscoroutinefunction(fn), fn


def test_anonymous_surface() -> None:
    with AnonymousMmap(PS) as a:
        assert a.path is None and not a.closed and len(a) == PS
        assert a.read_bytes(0, PS) == bytes(PS)  # zero-filled
        for name in MAPPING_METHODS:
            assert hasattr(a, name) == (name not in ANONYMOUS_ABSENT), name
        a.as_mut_slice(0, 2)[:] = b"hi"  # the alias of as_slice_mut
        assert a.read_bytes(0, 2) == b"hi"
        assert (
            AnonymousMmap.as_mut_slice.__doc__
            and "as_slice_mut" in AnonymousMmap.as_mut_slice.__doc__
        )
        a.update_region(2, b"!")
        with a.atomic_u64(8) as c:
            c.store(5)
        assert [len(v) for v in a.chunks(PS // 2)] == [PS // 2, PS // 2]
        with pytest.raises(AttributeError):
            a.flush()  # type: ignore[attr-defined]
    assert a.closed
    a.close()  # idempotent
    for bad in (0, mmap_io._core.MAX_SIZE + 1):
        with pytest.raises(ResizeFailedError):
            AnonymousMmap(bad)
    with pytest.raises(TypeError):
        pickle.dumps(AnonymousMmap(PS))


def test_reading_and_writing(tmp_path: Path) -> None:
    import array

    with MemoryMappedFile.create_rw(tmp_path / "f", 2 * PS) as m:
        m.update_region(0, b"hello")
        view = m.as_slice(0, 5)
        assert isinstance(view, memoryview) and view.readonly and bytes(view) == b"hello"
        mut = m.as_slice_mut(0, 5)
        assert isinstance(mut, memoryview) and not mut.readonly
        mut[0:1] = b"J"
        del view, mut
        buf = array.array("i", [0, 0])
        assert m.read_into(0, buf) == memoryview(buf).nbytes == 8
        data = m.read_bytes(0, 5)
        assert type(data) is bytes and data == b"Jello"
        assert m.update_region(0, bytearray(b"h")) is None
        assert isinstance(m.as_ptr(), int) and m.as_ptr() == m.as_mut_ptr()
        with memoryview(m) as mv:
            assert not mv.readonly and mv.nbytes == len(m)
        r = m.reader()
        assert isinstance(r, MmapReader) and isinstance(r, io.RawIOBase)
        assert r.readable() and r.seekable() and not r.writable()
        assert r.read(5) == b"hello" and r.tell() == 5 == r.position
        r.set_position(1)
        assert r.readline() == m.read_bytes(1, 2 * PS - 1) and r.seek(0) == 0
        w = m.writer()
        assert isinstance(w, MmapWriter) and isinstance(w, io.RawIOBase) and w.writable()
        w.seek(2 * PS - 1)
        with pytest.raises(OutOfBoundsError):
            w.write(b"ab")
    assert data == b"Jello"  # bytes survive close
    with MemoryMappedFile.open_ro(tmp_path / "f") as ro:
        with memoryview(ro) as mv:
            assert mv.readonly
        for write in (
            lambda: ro.as_slice_mut(0, 1),
            lambda: ro.update_region(0, b"x"),
            lambda: ro.as_mut_ptr(),
            lambda: ro.atomic_u64(0).store(1),
            lambda: ro.chunks_mut(PS),
            lambda: ro.writer(),
        ):
            with pytest.raises(InvalidModeError):
                write()
        ro.flush()  # a no-op on read-only


def test_precise_range_rules(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", PS) as m:
        m.prefetch_range(len(m), 0)  # zero length at the end: a no-op
        for off, length in ((len(m) + 1, 0), (-1, 0), (0, -1), (1, len(m)), (2**64, 0)):
            with pytest.raises(OutOfBoundsError):
                m.prefetch_range(off, length)
            with pytest.raises(OutOfBoundsError):
                m.read_bytes(off, length)
        for bad in (1.0, "1", None):
            with pytest.raises(TypeError):
                m.read_bytes(bad, 1)  # type: ignore[arg-type]
        with pytest.raises(MisalignedError):  # alignment before bounds
            m.atomic_u64(len(m) + 4)


def test_copy_on_write_accepts_every_write_path(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(bytes(PS))
    with MemoryMappedFile.open_cow(p) as m:
        m.update_region(0, b"a")
        m.as_slice_mut(1, 1)[0] = ord("b")
        m.chunks_mut(PS).for_each_mut(lambda off, v: v.__setitem__(2, ord("c")))
        with m.atomic_u32(4) as c:
            c.store(7)
        m.flush()  # a no-op
        assert m.read_bytes(0, 3) == b"abc"
        with pytest.raises(InvalidModeError):
            m.resize(2 * PS)
    assert p.read_bytes() == bytes(PS)


def test_pending_bytes_rules(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 4 * PS) as m:
        assert m.pending_bytes == 0
        m.update_region(0, b"x" * 10)
        m.segment_mut(PS, 10).write(b"y" * 10)
        m.update_region(3 * PS, b"z" * 100)
        assert m.pending_bytes == 120
        m.flush_range(0, 1)  # flushes one whole page: L = PS
        assert m.pending_bytes == max(0, 120 - PS)
        m.update_region(0, b"q" * 10)
        m.flush()
        assert m.pending_bytes == 0


def test_after_close(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f", PS)
    r, w, seg = m.reader(), m.writer(), m.segment(0, 4)
    m.close()  # readers, writers and segments do not block close()
    m.close()  # idempotent
    assert m.closed and m.path == tmp_path / "f" and m.mode is MmapMode.READ_WRITE
    assert "closed" in repr(m) and "f" in repr(m)
    for use in (
        lambda: len(m),
        lambda: m.read_bytes(0, 1),
        lambda: m.update_region(0, b"x"),
        lambda: m.as_slice(0, 1),
        lambda: m.fileno(),
        lambda: m.reader(),
        lambda: m.as_ptr(),
        lambda: m.segment(0, 1),
        lambda: r.read(1),
        lambda: w.write(b"x"),
        lambda: seg.as_slice(),
    ):
        with pytest.raises(MappingClosedError):
            use()


def test_close_with_live_views_defers(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    p = tmp_path / "f"
    p.write_bytes(bytes(range(8)) * (PS // 8))
    # leaving `with` while views are alive: no BusyError, the array stays valid
    with MemoryMappedFile.open_ro(p) as m:
        a = m.as_array("f8")
        v = m.as_slice(0, 4)
    assert m.closed and "kept alive by 1 memoryview, 1 numpy array" in repr(m)
    with pytest.raises(MappingClosedError):
        len(m)
    assert a.tobytes() == p.read_bytes() and bytes(v) == b"\0\1\2\3"
    assert isinstance(a, np.ndarray)
    with pytest.raises(KeyError), MemoryMappedFile.open_ro(p) as m2:
        keep = m2.as_slice(0, 1)
        raise KeyError("the user's own exception survives")
    del a, v, keep


def test_views_block_resize_refresh_unmap(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f", PS)
    view = m.as_slice(0, 4)
    for refused in (lambda: m.resize(2 * PS), m.refresh, m.unmap):
        with pytest.raises(BusyError, match="1 memoryview"):
            refused()
    assert not m.closed
    assert m.read_bytes(0, 1) == b"\0"  # intact and usable
    view.release()
    f = m.unmap()
    assert isinstance(f, io.FileIO) and not f.closed and m.closed
    assert f.read(1) == b"\0"
    f.close()


def test_atomics_surface(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", PS) as m:
        c, c32 = m.atomic_u64(0), m.atomic_u32(8)
        assert type(c) is AtomicU64 and type(c32) is AtomicU32
        for method in [
            "load",
            "store",
            "fetch_add",
            "fetch_sub",
            "fetch_and",
            "fetch_or",
            "fetch_xor",
            "swap",
            "compare_exchange",
            "release",
        ]:
            assert callable(getattr(c, method)) and callable(getattr(c32, method))
        assert c.store(2**64 - 1) is None and c.fetch_add(2) == 2**64 - 1 and c.load() == 1
        assert c.compare_exchange(1, 5) == (True, 1) and c.compare_exchange(1, 6) == (False, 5)
        with pytest.raises(OverflowError):
            c32.store(2**32)
        arr = m.atomic_u64_slice(16, 4)
        assert isinstance(arr, AtomicSlice) and isinstance(arr, collections.abc.Sequence)
        assert len(arr) == 4 and arr.index(arr[2]) == 2 and arr.count(arr[0]) == 1
        assert [x.offset for x in arr] == [16, 24, 32, 40]
        assert isinstance(m.atomic_u32_slice(0, 2)[0], AtomicU32)
        with pytest.raises(BusyError):
            m.resize(2 * PS)
        for v in (c, c32, arr):
            v.release()
        with pytest.raises(MappingClosedError):
            c.load()
        with m.atomic_u64(0) as held:
            assert held.load() == 5


def test_iteration(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 2 * PS + 10) as m:
        views = [bytes(v) for v in m.chunks(PS)]
        assert [len(v) for v in views] == [PS, PS, 10]
        assert [len(v) for v in m.pages()] == [PS, PS, 10]
        owned = list(m.chunks_owned(PS))
        assert all(type(b) is bytes for b in owned) and owned == list(m.pages_owned())
        seen: list[int] = []

        def fill(off: int, view: memoryview) -> None:
            seen.append(off)
            view[:] = b"x" * len(view)

        cm = m.chunks_mut(PS)
        assert all(not v.readonly for v in cm)
        cm.for_each_mut(fill)
        assert seen == [0, PS, 2 * PS] and m.read_bytes(2 * PS, 10) == b"x" * 10

        def boom(off: int, view: memoryview) -> None:
            seen.append(off)
            raise KeyError(off)

        seen.clear()
        with pytest.raises(KeyError):
            m.chunks_mut(PS).for_each_mut(boom)
        assert seen == [0]  # stopped at the first exception


def test_segments(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 2 * PS) as m:
        seg = Segment(m, 16, 8)
        assert type(m.segment(16, 8)) is Segment
        assert seg.parent is m and seg.offset == 16 and len(seg) == 8
        assert isinstance(seg.as_slice(), memoryview) and seg.as_slice().readonly
        segm = SegmentMut(m, PS, 8)
        assert type(m.segment_mut(PS, 8)) is SegmentMut
        segm.write(b"abc")
        assert m.read_bytes(PS, 3) == b"abc" and not segm.as_slice_mut().readonly
        with pytest.raises(OutOfBoundsError):
            segm.write(b"x" * 9)
        with pytest.raises(OutOfBoundsError):
            Segment(m, 2 * PS - 4, 8)
        m.resize(PS)  # the parent shrinks past segm
        for use in (segm.as_slice, segm.as_slice_mut, lambda: segm.write(b"x")):
            with pytest.raises(OutOfBoundsError):
                use()
        assert bytes(seg.as_slice()) == bytes(8)  # still inside


def test_hints_and_memory(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 4 * PS) as m:
        assert m.advise(0, len(m), MmapAdvice.SEQUENTIAL) is None
        with pytest.raises(TypeError):
            m.advise(0, 1, "sequential")  # type: ignore[arg-type]
        assert m.touch_pages() is None and m.touch_pages_range(PS, PS) is None
        r = m.residency()
        assert (r.resident, r.total) == (4, 4) and len(r.pages) == 4
        assert m.residency(PS, PS).total == 1
        assert m.is_hugepage_backed() in (True, False, None)
        try:
            m.lock(0, PS)
        except LockFailedError as exc:  # RLIMIT_MEMLOCK may forbid it
            assert isinstance(exc, OSError) and exc.errno
        else:
            m.unlock(0, PS)
        assert mmap_io.align_up(5000, 4096) == 8192 and page_size() == PS


def test_as_array(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    p = tmp_path / "f"
    with MemoryMappedFile.create_rw(p, PS) as m:
        a = m.as_array(np.uint32, 8, (2, 3))
        assert isinstance(a, np.ndarray) and a.shape == (2, 3) and a.flags.writeable
        a[0, 0] = 7
        assert m.read_bytes(8, 4) == (7).to_bytes(4, sys.byteorder)
        with pytest.raises(BusyError, match="1 numpy array"):
            m.resize(2 * PS)  # the array keeps an export
        del a
    with MemoryMappedFile.open_ro(p) as ro:
        b = ro.as_array("u1")
        assert b.shape == (PS,) and not b.flags.writeable
        del b


def test_pickle(tmp_path: Path) -> None:
    p = tmp_path / "f"
    with MemoryMappedFile.create_rw(p, PS, flush_policy=FlushPolicy.ALWAYS) as m:
        m.update_region(0, b"pickled")
        with pickle.loads(pickle.dumps(m)) as again:
            assert again.path == p and again.mode is MmapMode.READ_WRITE
            assert again.flush_policy == FlushPolicy.ALWAYS
            assert again.read_bytes(0, 7) == b"pickled"
    with MemoryMappedFile.open_cow(p) as cow, pytest.raises(TypeError):
        pickle.dumps(cow)


def test_watch_surface(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    assert ChangeEvent(1, 2, ChangeKind.MODIFIED) == ChangeEvent(
        offset=1, length=2, kind=ChangeKind.MODIFIED
    )
    assert ChangeEvent(None, None, ChangeKind.REMOVED).offset is None
    with MemoryMappedFile.create_rw(tmp_path / "f", PS) as m:
        handle = m.watch(lambda event: None)
        assert isinstance(handle, WatchHandle)
        with handle as h:
            assert h is handle and handle.active
        assert not handle.active
        handle.stop()  # idempotent
    # from_file without a path has nothing to watch
    with (
        MemoryMappedFile.create_rw(tmp_path / "g", PS) as m,
        MemoryMappedFile.from_file(m.fileno(), MmapMode.READ_ONLY) as nameless,
        pytest.raises(WatchFailedError),
    ):
        nameless.watch(print)


def test_manager_functions(tmp_path: Path) -> None:
    src, dst = tmp_path / "a.bin", tmp_path / "b.bin"
    m = mmap_io.create_mmap(src, PS)
    assert isinstance(m, MemoryMappedFile) and m.mode is MmapMode.READ_WRITE
    assert mmap_io.update_region(m, 0, b"hi") is None
    assert mmap_io.flush(m) is None
    m.close()
    assert mmap_io.write_mmap(src, 2, b"!!") is None
    assert mmap_io.copy_mmap(src, dst) is None
    with mmap_io.load_mmap(dst, MmapMode.READ_ONLY) as loaded:
        assert loaded.mode is MmapMode.READ_ONLY and loaded.read_bytes(0, 4) == b"hi!!"
    assert mmap_io.delete_mmap(dst) is None and not dst.exists()
    with pytest.raises(FileNotFoundError):
        mmap_io.delete_mmap(dst)
    assert list(inspect.signature(mmap_io.load_mmap).parameters) == ["path", "mode"]
    assert list(inspect.signature(mmap_io.write_mmap).parameters) == ["path", "offset", "data"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_functions(tmp_path: Path, backend: str) -> None:
    anyio = pytest.importorskip("anyio")
    if backend == "trio":
        pytest.importorskip("trio")

    async def main() -> None:
        m = await mmap_io.create_mmap_async(tmp_path / "a.bin", PS)
        with m:
            await m.update_region_async(0, b"async")
            assert m.pending_bytes == 0  # written, then flushed
            m.update_region(8, b"x")
            await m.flush_range_async(0, 16)
            await m.flush_async()
        await mmap_io.copy_mmap_async(tmp_path / "a.bin", tmp_path / "b.bin")
        await mmap_io.delete_mmap_async(tmp_path / "a.bin")

    anyio.run(main, backend=backend)
    assert (tmp_path / "b.bin").read_bytes()[:5] == b"async"
    assert not (tmp_path / "a.bin").exists()


def test_file_truncated_error(tmp_path: Path) -> None:
    p = tmp_path / "f"
    with MemoryMappedFile.create_rw(p, 2 * PS) as m:
        os.truncate(p, 0)
        with pytest.raises(FileTruncatedError) as info:
            m.read_bytes(PS, 1)
        assert isinstance(info.value, OSError) and isinstance(info.value, MmapIoError)
        del info


def test_cli_entry_points() -> None:
    from mmap_io.cli import build_parser

    text = build_parser().format_help()
    for command in ("info", "warm", "evict", "dump", "watch", "demo", "bench"):
        assert command in text
    assert importlib.util.find_spec("mmap_io.__main__") is not None  # python -m mmap_io
