"""A file truncated under a mapping by someone else: the library's own
copies raise FileTruncatedError instead of the process dying of SIGBUS.

The risky part runs first in a spawned child, so a regression shows up as
a failed test rather than a dead pytest; once that passes, the same is
checked in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

import _workers
from mmap_io import FileTruncatedError, MemoryMappedFile, MmapIoError, page_size

PS = page_size()


def test_truncated_in_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    path.write_bytes(bytes(32 * PS))
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_workers.truncated_copies, args=(str(path), q))
    p.start()
    p.join(60)
    assert p.exitcode == 0, f"child died with {p.exitcode}" + (
        " (SIGBUS)" if p.exitcode == -signal.SIGBUS else ""
    )
    results = {name: (cls, truncated, msg) for name, cls, truncated, msg in q.get(timeout=10)}
    assert results.pop("first_page")[1] is True
    for name, (cls, truncated, msg) in results.items():
        assert truncated, f"{name}: {cls} {msg}"
        assert str(path) in msg, name


def test_truncated_in_process(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    path.write_bytes(b"\x01" * (4 * PS))
    with MemoryMappedFile.open_rw(path) as m:
        os.truncate(path, PS)  # another descriptor, as another process would
        with pytest.raises(FileTruncatedError) as info:
            m.read_bytes(2 * PS, 8)
        exc = info.value
        assert isinstance(exc, MmapIoError) and isinstance(exc, OSError)
        assert exc.filename == str(path)
        assert exc.errno is not None
        with pytest.raises(FileTruncatedError):
            m.read_into(PS, bytearray(PS))
        with pytest.raises(FileTruncatedError):
            m.update_region(3 * PS, b"x")
        with pytest.raises(FileTruncatedError):
            m.read_bytes(0, 4 * PS)  # big copy, GIL released
        # still usable where the file has data, and after it grows back
        assert m.read_bytes(0, 4) == b"\x01" * 4
        os.truncate(path, 4 * PS)
        assert m.read_bytes(2 * PS, 4) == bytes(4)
        m.update_region(3 * PS, b"back")
        assert m.read_bytes(3 * PS, 4) == b"back"


def test_truncated_read_only_and_cow(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    path.write_bytes(b"\x02" * (4 * PS))
    with MemoryMappedFile.open_ro(path) as ro, MemoryMappedFile.open_cow(path) as cow:
        os.truncate(path, PS)
        with pytest.raises(FileTruncatedError):
            ro.read_bytes(2 * PS, 1)
        with pytest.raises(FileTruncatedError):
            cow.read_bytes(2 * PS, 1)
        with pytest.raises(FileTruncatedError):
            cow.update_region(3 * PS, b"z")


def test_faulthandler_still_chained(tmp_path: Path) -> None:
    # enabling faulthandler after the first mapping must not disarm the guard
    import faulthandler

    was = faulthandler.is_enabled()
    faulthandler.enable()
    try:
        path = tmp_path / "t.bin"
        path.write_bytes(bytes(2 * PS))
        with MemoryMappedFile.open_ro(path) as m:
            os.truncate(path, 0)
            with pytest.raises(FileTruncatedError):
                m.read_bytes(PS, 1)
    finally:
        if not was:
            faulthandler.disable()


@pytest.mark.parametrize("faulthandler_between", [False, True])
def test_unguarded_fault_still_kills(tmp_path: Path, faulthandler_between: bool) -> None:
    # outside the library's copies a SIGBUS keeps its default meaning; with
    # faulthandler chained in, it reports and the process still dies of
    # SIGBUS (not of a stack overflow in handlers calling each other)
    import subprocess
    import sys

    import mmap_io

    src = str(Path(mmap_io.__file__).parent.parent)
    here = str(Path(__file__).parent)
    code = (
        "import _workers; "
        f"_workers.unguarded_fault({str(tmp_path / 'u.bin')!r}, {faulthandler_between})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, here])}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert "guarded copy ok" in proc.stdout
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        # under MMAPIO_SANITIZE the first handler is ASan's: it may report
        # the fault and exit instead of dying of the signal
        asan_report = "AddressSanitizer: BUS" in proc.stderr
        assert asan_report or proc.returncode == -signal.SIGBUS, proc.stderr
        return
    assert proc.returncode == -signal.SIGBUS, proc.stderr
    if faulthandler_between:
        assert "Bus error" in proc.stderr


def test_truncated_in_worker_thread(tmp_path: Path) -> None:
    # the guard is per thread: a fault in another thread's copy is caught there
    import threading

    path = tmp_path / "t.bin"
    path.write_bytes(bytes(32 * PS))
    caught: list[BaseException] = []
    with MemoryMappedFile.open_rw(path) as m:
        os.truncate(path, PS)

        def work() -> None:
            for call in (
                lambda: m.read_bytes(2 * PS, 10),
                lambda: m.read_bytes(PS, 16 * PS),
                lambda: m.update_region(8 * PS, bytes(20 * PS)),
            ):
                try:
                    call()
                except FileTruncatedError as exc:
                    caught.append(exc)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert len(caught) == 9
