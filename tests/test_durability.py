"""Durability: flush, flush_range, start_flush, close, crashes, the every_millis thread.

Whether bytes reached the file is judged by the page cache's dirty state
(``/proc/self/smaps``), never by reading them back, which only shows the
page cache; ``_durability_workers`` explains the method and why the other
probes do not work.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import gc
import logging
import mmap
import multiprocessing
import os
import signal
import threading
import time
import weakref
from pathlib import Path

import pytest

from _durability_workers import PAYLOAD_OFFSET, child_write, dirty_kib, file_state
from mmap_io import (
    AnonymousMmap,
    FlushFailedError,
    FlushPolicy,
    MappingClosedError,
    MemoryMappedFile,
    MmapIoError,
    OutOfBoundsError,
    page_size,
)

PS = page_size()
FAR = 4 << 20  # two pages this far apart never share a (2 MiB) folio


def flusher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mmap_io-flusher")]


def wait_until(cond: object, timeout: float = 2.0) -> float:
    """Poll ``cond()`` until true; return the seconds it took (fail on timeout)."""
    t0 = time.monotonic()
    while not cond():  # type: ignore[operator]
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.001)
    return time.monotonic() - t0


@pytest.fixture
def big(tmp_path: Path) -> Path:
    return tmp_path / "big.bin"


# -- flush / flush_range / start_flush ------------------------------------------


def test_written_page_is_dirty_until_flush(big: Path) -> None:
    with MemoryMappedFile.create_rw(big, 8 << 20) as m:
        m.update_region(0, b"abc")
        assert dirty_kib(m.as_ptr()) == PS // 1024
        assert m.pending_bytes == 3
        m.flush()
        assert dirty_kib(m.as_ptr()) == 0
        assert m.pending_bytes == 0
        # The flushed bytes are what a fresh mapping sees, clean.
        data, dirty = file_state(big)
        assert data[:3] == b"abc" and dirty == 0


def test_flush_range_flushes_only_its_pages(big: Path) -> None:
    with MemoryMappedFile.create_rw(big, 8 << 20) as m:
        m.update_region(10, b"a")
        m.update_region(FAR + 10, b"b")
        assert dirty_kib(m.as_ptr()) == 2 * PS // 1024
        m.flush_range(FAR + 10, 1)  # widened to the whole page
        assert dirty_kib(m.as_ptr()) == PS // 1024
        assert m.pending_bytes == 0  # 2 bytes - one page, floored at 0
        m.flush_range(0, 1)
        assert dirty_kib(m.as_ptr()) == 0


def test_flush_range_debits_the_page_aligned_length(big: Path) -> None:
    with MemoryMappedFile.create_rw(big, 8 << 20) as m:
        m.update_region(0, bytes(3 * PS))
        m.flush_range(PS + 1, 2)  # one page
        assert m.pending_bytes == 2 * PS
        m.flush_range(PS - 1, 2)  # straddles two pages
        assert m.pending_bytes == 0
        m.flush()
        m.update_region(0, b"x")
        m.flush_range(0, 0)  # zero length: nothing flushed, nothing debited
        assert m.pending_bytes == 1
        assert dirty_kib(m.as_ptr()) == PS // 1024


def test_flush_range_at_the_end_of_an_unaligned_mapping(tmp_path: Path) -> None:
    size = 3 * PS + 100
    with MemoryMappedFile.create_rw(tmp_path / "f", size) as m:
        m.update_region(size - 1, b"z")
        m.flush_range(size - 1, 1)  # clamped to the mapping: 100 bytes
        m.update_region(0, bytes(200))
        m.flush_range(3 * PS, 100)
        assert m.pending_bytes == 100
        assert dirty_kib(m.as_ptr()) == PS // 1024
        m.flush_range(size, 0)
        with pytest.raises(OutOfBoundsError):
            m.flush_range(size, 1)


def test_flush_errors(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f", PS)
    with pytest.raises(OutOfBoundsError):
        m.flush_range(-1, 1)
    with pytest.raises(OutOfBoundsError):
        m.flush_range(0, PS + 1)
    with pytest.raises(OutOfBoundsError):
        m.flush_range(2**64, 1)
    with pytest.raises(TypeError):
        m.flush_range(0.5, 1)
    with pytest.raises(TypeError):
        m.flush_range(0)  # type: ignore[call-arg]
    m.close()
    for call in (m.flush, lambda: m.flush_range(0, 1), m.start_flush):
        with pytest.raises(MappingClosedError):
            call()


def test_start_flush_starts_writeback_without_waiting(big: Path) -> None:
    with MemoryMappedFile.create_rw(big, 8 << 20) as m:
        m.update_region(0, b"a")
        m.update_region(FAR, b"b")
        m.start_flush(0, 1)
        # The kernel writes the page back on its own time (not ours: it
        # would wait 30 s); only our page goes, and nothing counts as flushed.
        wait_until(lambda: dirty_kib(m.as_ptr()) == PS // 1024)
        assert m.pending_bytes == 2
        m.start_flush()
        wait_until(lambda: dirty_kib(m.as_ptr()) == 0)
        assert m.pending_bytes == 2
        m.flush()
        assert m.pending_bytes == 0


def test_start_flush_arguments(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 4 * PS) as m:
        m.start_flush()
        m.start_flush(PS)
        m.start_flush(offset=PS, length=PS)
        m.start_flush(length=1)
        m.start_flush(4 * PS)  # empty tail
        m.start_flush(4 * PS, 0)
        with pytest.raises(OutOfBoundsError):
            m.start_flush(4 * PS + 1)
        with pytest.raises(OutOfBoundsError):
            m.start_flush(0, 4 * PS + 1)
        with pytest.raises(OutOfBoundsError):
            m.start_flush(-1)
        with pytest.raises(TypeError):
            m.start_flush("0")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            m.start_flush(0, 1.0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            m.start_flush(0, 1, 2)  # type: ignore[call-arg]
    with AnonymousMmap(PS) as a, pytest.raises(AttributeError):
        a.start_flush()


def test_ro_and_cow_have_nothing_to_flush(data_file: Path) -> None:
    before = data_file.read_bytes()
    with MemoryMappedFile.open_cow(data_file, flush_policy=FlushPolicy.ALWAYS) as c:
        c.update_region(0, b"private")
        assert c.pending_bytes == 0  # ALWAYS settled it: nothing to flush
        c.update_region(0, b"x")
        c.flush()
        c.flush_range(0, 1)
        c.start_flush()
    with MemoryMappedFile.open_ro(data_file, flush_policy=FlushPolicy.every_millis(5)) as r:
        assert not flusher_threads()
        r.flush()
        r.flush_range(0, 10)
        r.start_flush()
    assert data_file.read_bytes() == before


# -- file size and directory entry ----------------------------------------------


def test_create_and_resize_owe_an_fsync(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", PS) as m:
        assert m._needs_flush  # the new file's size and name
        m.flush()
        assert not m._needs_flush
        m.resize(2 * PS)
        assert m._needs_flush
        m.flush()
        assert not m._needs_flush
    with MemoryMappedFile.open_rw(tmp_path / "f") as m:
        assert not m._needs_flush  # opening changes nothing
    with MemoryMappedFile.open_or_create(tmp_path / "f", PS) as m:
        assert not m._needs_flush
    with MemoryMappedFile.open_or_create(tmp_path / "g", PS) as m:
        assert m._needs_flush


def test_flush_fsyncs_the_parent_directory_of_a_new_file(tmp_path: Path) -> None:
    # Proof that the directory is really synced: once it is gone, that step fails.
    d = tmp_path / "sub"
    d.mkdir()
    m = MemoryMappedFile.create_rw(d / "f", PS)
    m.update_region(0, b"x")
    os.unlink(d / "f")
    d.rmdir()
    with pytest.raises(FlushFailedError) as info:
        m.flush()
    assert info.value.errno == errno.ENOENT
    assert "parent directory" in str(info.value)
    assert isinstance(info.value, OSError) and isinstance(info.value, MmapIoError)
    assert info.value.filename == str(d / "f")
    assert dirty_kib(m.as_ptr()) == 0  # the data itself was flushed
    m.flush()  # reported once, not retried forever
    m.close()


# -- close -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [FlushPolicy.ALWAYS, FlushPolicy.every_bytes(1 << 40), FlushPolicy.every_writes(1000)],
)
def test_close_flushes_unless_never(tmp_path: Path, policy: FlushPolicy) -> None:
    path = tmp_path / "f"
    m = MemoryMappedFile.create_rw(path, 64 * PS, flush_policy=policy)
    view = m.as_slice_mut(5 * PS, 4)
    view[:] = b"view"  # uncounted, but close() flushes everything
    view.release()
    m.update_region(0, b"counted")
    m.close()
    data, dirty = file_state(path)
    assert data[:7] == b"counted" and data[5 * PS : 5 * PS + 4] == b"view"
    assert dirty == 0


def test_close_under_never_does_not_flush(tmp_path: Path) -> None:
    path = tmp_path / "f"
    m = MemoryMappedFile.create_rw(path, 16 * PS)
    m.update_region(0, b"kept in memory")
    m.close()
    data, dirty = file_state(path)
    assert data.startswith(b"kept in memory")
    assert dirty > 0  # written, but only to the page cache


def test_garbage_collection_flushes_like_close(tmp_path: Path) -> None:
    path = tmp_path / "f"
    m = MemoryMappedFile.create_rw(path, 16 * PS, flush_policy=FlushPolicy.every_bytes(1 << 30))
    m.update_region(PS, b"collected")
    del m
    gc.collect()
    data, dirty = file_state(path)
    assert data[PS : PS + 9] == b"collected" and dirty == 0


# -- crash durability ----------------------------------------------------------------

CASES = [
    "always",
    "every_bytes",
    "every_writes",
    "every_millis",
    "flush",
    "flush_range",
    "close",
]


@pytest.mark.parametrize("how", [*CASES, "unflushed"])
def test_bytes_survive_sigkill_once_flushed(tmp_path: Path, how: str) -> None:
    path = tmp_path / "crash.bin"
    path.write_bytes(bytes(64 * PS))
    os.sync()  # start from a clean page cache for this file
    payload = os.urandom(3 * PS + 7)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child_write, args=(str(path), how, payload, child))
    proc.start()
    child.close()
    try:
        assert parent.poll(20), f"child exited with {proc.exitcode} before writing"
        said = parent.recv()
        os.kill(proc.pid, signal.SIGKILL)  # right after the library said so
        proc.join(10)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
    assert proc.exitcode == -signal.SIGKILL
    data, dirty = file_state(path)
    assert data[PAYLOAD_OFFSET : PAYLOAD_OFFSET + len(payload)] == payload
    if how == "unflushed":
        assert said == "written"
        assert dirty > 0  # the control: in the page cache, not yet on disk
    else:
        assert said == "flushed"
        assert dirty == 0  # on disk: nothing of it is left to write back


# -- the every_millis thread -------------------------------------------------------


def test_flusher_starts_flushes_within_two_periods_and_stops_on_close(big: Path) -> None:
    period = 0.1
    m = MemoryMappedFile.create_rw(big, 8 << 20, flush_policy=FlushPolicy.every_millis(100))
    [t] = flusher_threads()
    try:
        assert t.daemon
        wait_until(lambda: m._flusher.flushes >= 1)  # it made the new file durable
        for offset in (0, FAR):
            m.update_region(offset, b"tick")
            assert dirty_kib(m.as_ptr()) == PS // 1024
            # Within two periods even when the write lands during a flush (that
            # flush writes it, the next one settles the count).
            took = wait_until(lambda: dirty_kib(m.as_ptr()) == 0 and m.pending_bytes == 0)
            assert took < 2 * period
    finally:
        m.close()  # a failure above must not leave the thread to the next tests
    assert not t.is_alive()  # close() wakes and joins it
    assert not flusher_threads()


def test_flusher_covers_writable_views(big: Path) -> None:
    with MemoryMappedFile.create_rw(big, 8 << 20, flush_policy=FlushPolicy.every_millis(10)) as m:
        view = m.as_slice_mut(FAR, 8)
        view[:] = b"uncounted"[:8]
        assert m.pending_bytes == 0  # invisible to the counters...
        wait_until(lambda: dirty_kib(m.as_ptr()) == 0)  # ...flushed anyway
        view[0] = 1  # still alive: still covered
        wait_until(lambda: dirty_kib(m.as_ptr()) == 0)
        view.release()


def test_flusher_stops_when_the_mapping_is_collected(tmp_path: Path) -> None:
    # A long period: the thread must be woken, not time out.
    m = MemoryMappedFile.create_rw(
        tmp_path / "f", PS, flush_policy=FlushPolicy.every_millis(60_000)
    )
    [t] = flusher_threads()
    ref = weakref.ref(m)
    del m  # no cycle: the thread's weak reference must not keep it alive
    assert ref() is None
    t.join(2)
    assert not t.is_alive()


def test_flusher_only_for_read_write_every_millis(tmp_path: Path, data_file: Path) -> None:
    for policy in (FlushPolicy.NEVER, FlushPolicy.ALWAYS, FlushPolicy.every_bytes(1)):
        with MemoryMappedFile.create_rw(tmp_path / "f", PS, flush_policy=policy):
            assert not flusher_threads()
    ms = FlushPolicy.every_millis(10)
    with MemoryMappedFile.open_cow(data_file, flush_policy=ms):
        assert not flusher_threads()
    with MemoryMappedFile.open_rw(data_file, flush_policy=ms) as m:
        assert len(flusher_threads()) == 1
        with pytest.raises(BufferError):
            view = m.as_slice(0, 1)
            m.resize(2 * PS)  # BusyError: stays open, and so does its flusher
        assert len(flusher_threads()) == 1
        m.close()  # deferred by the view, but the flusher stops now
        assert not flusher_threads()
        view.release()
    assert not flusher_threads()


def test_flusher_and_explicit_flushes_interleave(big: Path) -> None:
    m = MemoryMappedFile.create_rw(big, 8 << 20, flush_policy=FlushPolicy.every_millis(1))
    errors: list[BaseException] = []

    def hammer(base: int) -> None:
        try:
            for i in range(40):
                m.update_region(base + i * PS, b"w")
                m.flush() if i % 2 else m.flush_range(base, 40 * PS)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(k * FAR,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    m.flush()
    assert m.pending_bytes == 0 and dirty_kib(m.as_ptr()) == 0
    m.close()


# -- failing flushes (a real msync failure: part of the range unmapped) --------------

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.mmap.restype = ctypes.c_void_p


def punch_hole(m: MemoryMappedFile, page: int) -> None:
    """Unmap one page of ``m`` behind its back: msync over it fails (ENOMEM)."""
    assert _libc.munmap(m.as_ptr() + page * PS, PS) == 0


def mend_hole(m: MemoryMappedFile, page: int) -> None:
    addr = m.as_ptr() + page * PS
    got = _libc.mmap(
        addr,
        PS,
        mmap.PROT_READ | mmap.PROT_WRITE,
        mmap.MAP_SHARED | 0x10,  # MAP_FIXED
        m.fileno(),
        page * PS,
    )
    assert got == addr


def test_flush_failure_raises_flush_failed(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f", 4 * PS)
    m.flush()
    punch_hole(m, 3)
    m.update_region(0, b"x")
    with pytest.raises(FlushFailedError) as info:
        m.flush()
    assert info.value.errno == errno.ENOMEM
    assert info.value.filename == str(tmp_path / "f")
    assert m.pending_bytes == 1  # nothing settled
    with pytest.raises(FlushFailedError):
        m.flush_range(3 * PS, 1)
    m.flush_range(0, 1)  # outside the hole
    assert m.pending_bytes == 0
    mend_hole(m, 3)
    m.flush()
    m.close()


def test_close_reports_a_failing_flush(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f", 4 * PS, flush_policy=FlushPolicy.ALWAYS)
    punch_hole(m, 2)
    with pytest.raises(FlushFailedError):
        m.update_region(0, b"x")  # ALWAYS: the write's flush fails
    with pytest.raises(FlushFailedError):
        m.close()
    assert m.closed  # closed all the same


def test_background_failure_is_logged_and_raised_by_next_flush(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mmap_io")
    m = MemoryMappedFile.create_rw(tmp_path / "f", 4 * PS, flush_policy=FlushPolicy.every_millis(5))
    wait_until(lambda: m._flusher.flushes >= 1)
    punch_hole(m, 3)
    m.update_region(0, b"lost?")
    wait_until(lambda: any(r.levelno == logging.ERROR for r in caplog.records))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "background flush" in errors[0].getMessage()
    assert "Cannot allocate memory" in errors[0].getMessage()
    time.sleep(0.03)  # it keeps retrying, without repeating the error
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    mend_hole(m, 3)
    # The background flush recovers on its own...
    wait_until(lambda: m.pending_bytes == 0)
    assert dirty_kib(m.as_ptr()) == 0
    wait_until(lambda: any("works again" in r.getMessage() for r in caplog.records))
    # ...but the failure is not swallowed: the next flush() raises it.
    with pytest.raises(FlushFailedError) as info:
        m.flush()
    assert info.value.errno == errno.ENOMEM
    m.flush()  # reported once
    m.close()
    assert not flusher_threads()


def test_close_reports_an_unseen_background_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f", 4 * PS, flush_policy=FlushPolicy.every_millis(5))
    wait_until(lambda: m._flusher.flushes >= 1)
    punch_hole(m, 3)
    m.update_region(0, b"x")
    wait_until(lambda: any(r.levelno == logging.ERROR for r in caplog.records))
    mend_hole(m, 3)
    with pytest.raises(FlushFailedError):
        m.close()
    assert m.closed and not flusher_threads()
