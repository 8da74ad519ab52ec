"""lock / unlock / lock_all / unlock_all (mlock, munlock).

Success is checked through the kernel's own accounting (the ``Locked``
field of the mapping's /proc/self/smaps entry). Failure needs a process
that RLIMIT_MEMLOCK applies to: a spawned child lowers the limit and, when
it runs as root (CAP_IPC_LOCK bypasses the limit), switches to the
unprivileged uid 65534 after making its mappings.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmap_io import (
    AnonymousMmap,
    LockFailedError,
    MappingClosedError,
    MemoryMappedFile,
    MmapIoError,
    OutOfBoundsError,
    UnlockFailedError,
    page_size,
)
from mmap_io.residency import smaps_entries

PS = page_size()
SIZE = 64 * PS
OPENERS = {
    "ro": MemoryMappedFile.open_ro,
    "rw": MemoryMappedFile.open_rw,
    "cow": MemoryMappedFile.open_cow,
}


def locked_kb(m: MemoryMappedFile | AnonymousMmap) -> int:
    entries = smaps_entries(m.as_ptr(), m.as_ptr() + len(m))
    assert entries
    return sum(e.kb("Locked") for e in entries)


def can_lock_here() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft >= 4 * SIZE


@pytest.fixture(params=["ro", "rw", "cow", "anon"])
def mapping(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[MemoryMappedFile | AnonymousMmap]:
    m: MemoryMappedFile | AnonymousMmap
    if request.param == "anon":
        m = AnonymousMmap(SIZE)
    else:
        path = tmp_path / "data.bin"
        path.write_bytes(os.urandom(SIZE))
        m = OPENERS[request.param](path)
    with m:
        yield m


@pytest.mark.not_under_asan("ASan intercepts mlock/munlock and ignores them")
@pytest.mark.skipif(not can_lock_here(), reason="RLIMIT_MEMLOCK too small for this process")
def test_lock_and_unlock_ranges(mapping: MemoryMappedFile | AnonymousMmap) -> None:
    data = mapping.read_bytes(0, SIZE)
    assert locked_kb(mapping) == 0
    mapping.lock(PS + 1, 2 * PS)  # widened to pages 1..3
    assert locked_kb(mapping) == 3 * PS // 1024
    assert mapping.residency(PS, 3 * PS).resident == 3  # locking faults pages in
    mapping.unlock(PS, 3 * PS)
    assert locked_kb(mapping) == 0
    mapping.unlock(0, SIZE)  # unlocking unlocked pages is fine
    mapping.lock(SIZE, 0)  # zero length: no-op
    mapping.unlock(0, 0)
    assert locked_kb(mapping) == 0
    assert mapping.read_bytes(0, SIZE) == data


@pytest.mark.not_under_asan("ASan intercepts mlock/munlock and ignores them")
@pytest.mark.skipif(not can_lock_here(), reason="RLIMIT_MEMLOCK too small for this process")
def test_lock_all_and_unlock_all(mapping: MemoryMappedFile | AnonymousMmap) -> None:
    mapping.lock_all()
    assert locked_kb(mapping) == SIZE // 1024
    assert mapping.residency().resident == SIZE // PS
    mapping.lock_all()  # idempotent
    mapping.unlock_all()
    assert locked_kb(mapping) == 0
    mapping.unlock_all()


@pytest.mark.not_under_asan("ASan intercepts mlock/munlock and ignores them")
@pytest.mark.skipif(not can_lock_here(), reason="RLIMIT_MEMLOCK too small for this process")
def test_close_releases_locked_pages(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    m = MemoryMappedFile.create_rw(path, SIZE)
    m.lock_all()
    m.update_region(0, b"locked")
    m.close()  # munmap drops the lock with the mapping
    assert path.read_bytes()[:6] == b"locked"
    with AnonymousMmap(SIZE) as a:
        a.lock_all()


def test_lock_errors(mapping: MemoryMappedFile | AnonymousMmap) -> None:
    n = len(mapping)
    for method in (mapping.lock, mapping.unlock):
        for off, length in [(n + 1, 0), (-1, 1), (0, n + 1), (n, 1), (2**64, 0), (0, -(2**70))]:
            with pytest.raises(OutOfBoundsError) as ei:
                method(off, length)
            assert (ei.value.offset, ei.value.length, ei.value.total) == (off, length, n)
        with pytest.raises(TypeError, match="offset"):
            method(1.0, 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="length"):
            method(0, b"1")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            method(0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        mapping.lock_all(0)  # type: ignore[call-arg]
    mapping.close()
    for call in (
        lambda: mapping.lock(0, 0),
        lambda: mapping.unlock(0, 0),
        mapping.lock_all,
        mapping.unlock_all,
    ):
        with pytest.raises(MappingClosedError):
            call()


def test_empty_mapping_locks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    with MemoryMappedFile.open_ro(path) as m:
        m.lock_all()
        m.unlock_all()
        m.lock(0, 0)


# -- failure: RLIMIT_MEMLOCK in a spawned child ---------------------------------


def _drop_privileges() -> None:
    if os.geteuid() == 0:
        # CAP_IPC_LOCK lets root ignore RLIMIT_MEMLOCK; a uid change from 0
        # to non-zero clears every capability.
        os.setgid(65534)
        os.setuid(65534)


def _describe(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "errno": getattr(exc, "errno", None),
        "oserror": isinstance(exc, OSError),
        "mmapio": isinstance(exc, MmapIoError),
        "lock_failed": isinstance(exc, LockFailedError),
        "unlock_failed": isinstance(exc, UnlockFailedError),
        "filename": getattr(exc, "filename", None),
        "message": str(exc),
    }


def _child_lock_over_limit(path: str, limit: int) -> dict[str, Any]:
    """Runs in a spawned process: map, drop privileges, lower the limit, lock."""
    anon = AnonymousMmap(SIZE)
    ro = MemoryMappedFile.open_ro(path)
    rw = MemoryMappedFile.open_rw(path)
    cow = MemoryMappedFile.open_cow(path)
    _drop_privileges()
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (limit, limit))
    out: dict[str, Any] = {"uid": os.geteuid(), "within": [], "over": []}
    for m in (anon, ro, rw, cow):
        if limit >= PS:
            m.lock(0, PS)  # within the limit: fine
            m.unlock(0, PS)
            out["within"].append(True)
        try:
            m.lock_all()
        except Exception as exc:
            out["over"].append(_describe(exc))
        else:
            out["over"].append(None)
        try:
            m.lock(0, SIZE)
        except Exception as exc:
            out["over"].append(_describe(exc))
        else:
            out["over"].append(None)
        m.unlock_all()  # always allowed
        out["within"].append(m.read_bytes(0, 4) == m.read_bytes(0, 4))
        m.close()
    return out


@pytest.fixture(scope="module")
def spawn_pool() -> Iterator[Any]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        yield pool


@pytest.mark.not_under_asan("ASan intercepts mlock/munlock and ignores them")
@pytest.mark.parametrize(
    ("limit", "expected_errno"),
    [(2 * PS, errno.ENOMEM), (0, errno.EPERM)],
    ids=["over-limit-ENOMEM", "zero-limit-EPERM"],
)
def test_lock_fails_past_rlimit_memlock(
    tmp_path: Path, spawn_pool: Any, limit: int, expected_errno: int
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(SIZE))
    out = spawn_pool.apply(_child_lock_over_limit, (str(path), limit))
    assert out["uid"] != 0
    assert all(out["within"])
    assert len(out["over"]) == 8
    for i, d in enumerate(out["over"]):
        assert d is not None, "lock past RLIMIT_MEMLOCK succeeded"
        assert d["type"] == "LockFailedError" and d["lock_failed"]
        assert d["oserror"] and d["mmapio"] and not d["unlock_failed"]
        assert d["errno"] == expected_errno
        assert f"mlock failed on bytes 0..{SIZE}" in d["message"]
        assert d["filename"] == (None if i < 2 else str(path))
