"""m.watch(): changes to the backing file, by this or another process."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("watchfiles")

import _watch_workers
from mmap_io import (
    AnonymousMmap,
    ChangeEvent,
    ChangeKind,
    MappingClosedError,
    MemoryMappedFile,
    MmapMode,
    WatchFailedError,
    WatchHandle,
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[ChangeEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: ChangeEvent) -> None:
        with self.lock:
            self.events.append(event)

    def wait_for(self, pred: Callable[[ChangeEvent], bool], timeout: float = 3.0) -> ChangeEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for e in self.events:
                    if pred(e):
                        return e
            time.sleep(0.01)
        raise AssertionError(f"no matching event within {timeout}s; got {self.events}")

    def clear(self) -> None:
        with self.lock:
            self.events.clear()


def _watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mmap_io-watch"]


@pytest.fixture
def mapped(tmp_path: Path):  # type: ignore[no-untyped-def]
    m = MemoryMappedFile.create_rw(tmp_path / "w.bin", 8192)
    yield m
    m.close()


def run_in_child(fn: Callable[[str], None], path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=fn, args=(str(path),))
    p.start()
    p.join(30)
    assert p.exitcode == 0


def test_write_by_another_process_is_reported(mapped: MemoryMappedFile) -> None:
    rec = Recorder()
    with mapped.watch(rec, poll_ms=20):
        run_in_child(_watch_workers.write_with_pwrite, mapped.path)  # type: ignore[arg-type]
        assert rec.wait_for(lambda e: e.kind is ChangeKind.MODIFIED)
    assert mapped.read_bytes(0, 6) == b"pwrite"


def test_mapped_write_by_another_process_is_reported(mapped: MemoryMappedFile) -> None:
    # Shared-mapping writes raise no inotify event; the mtime poll finds them.
    rec = Recorder()
    time.sleep(0.02)  # let the file's mtime tick past its creation
    with mapped.watch(rec, poll_ms=20):
        run_in_child(_watch_workers.write_through_mapping, mapped.path)  # type: ignore[arg-type]
        assert rec.wait_for(lambda e: e.kind is ChangeKind.MODIFIED)


def test_truncate_reports_the_region(mapped: MemoryMappedFile) -> None:
    rec = Recorder()
    with mapped.watch(rec):
        os.truncate(mapped.path, 4096)  # type: ignore[arg-type]
        event = rec.wait_for(lambda e: e.offset is not None)
    assert (event.offset, event.length, event.kind) == (4096, 4096, ChangeKind.MODIFIED)


def test_chmod_is_metadata(mapped: MemoryMappedFile) -> None:
    rec = Recorder()
    with mapped.watch(rec):
        os.chmod(mapped.path, 0o600)  # type: ignore[arg-type]
        rec.wait_for(lambda e: e.kind is ChangeKind.METADATA)


def test_removed_keeps_being_reported_while_mapped(mapped: MemoryMappedFile) -> None:
    rec = Recorder()
    fd = os.open(mapped.path, os.O_RDWR)  # type: ignore[arg-type]
    try:
        with mapped.watch(rec):
            os.unlink(mapped.path)  # type: ignore[arg-type]
            rec.wait_for(lambda e: e.kind is ChangeKind.REMOVED)
            rec.clear()
            os.pwrite(fd, b"late", 0)
            rec.wait_for(lambda e: e.kind is ChangeKind.REMOVED)
        assert mapped.read_bytes(0, 4) == b"late"  # the mapping is still usable
    finally:
        os.close(fd)


def test_stop_and_context_manager(mapped: MemoryMappedFile) -> None:
    before = len(_watch_threads())
    handle = mapped.watch(lambda e: None)
    assert isinstance(handle, WatchHandle) and handle.active
    assert len(_watch_threads()) == before + 1
    handle.stop()
    handle.stop()  # idempotent
    assert not handle.active
    assert len(_watch_threads()) == before
    with mapped.watch(lambda e: None) as h2:
        assert h2.active
    assert not h2.active


def test_close_stops_watches(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "c.bin", 4096)
    handles = [m.watch(lambda e: None) for _ in range(2)]
    m.close()
    assert not any(h.active for h in handles)
    assert _watch_threads() == []


def test_garbage_collected_mapping_stops_watches(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "g.bin", 4096)
    handle = m.watch(lambda e: None)
    del m
    gc.collect()
    assert not handle.active
    assert _watch_threads() == []


def test_callback_errors_are_logged_and_watching_goes_on(
    mapped: MemoryMappedFile, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    calls = []

    def flaky(event: ChangeEvent) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("boom")
        rec(event)

    with caplog.at_level(logging.ERROR, logger="mmap_io"), mapped.watch(flaky):
        os.chmod(mapped.path, 0o600)  # type: ignore[arg-type]
        deadline = time.monotonic() + 3
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        os.chmod(mapped.path, 0o644)  # type: ignore[arg-type]
        rec.wait_for(lambda e: True)
    assert "boom" in caplog.text


def test_bad_arguments(mapped: MemoryMappedFile) -> None:
    with pytest.raises(TypeError, match="callable"):
        mapped.watch(42)  # type: ignore[arg-type]
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="poll_ms"):
            mapped.watch(lambda e: None, poll_ms=bad)  # type: ignore[arg-type]


def test_closed_mapping_and_missing_path(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "x.bin", 4096)
    m.close()
    with pytest.raises(MappingClosedError):
        m.watch(lambda e: None)
    fd = os.open(tmp_path / "x.bin", os.O_RDONLY)
    try:
        with MemoryMappedFile.from_file(fd, MmapMode.READ_ONLY) as m2:
            with pytest.raises(WatchFailedError) as info:
                m2.watch(lambda e: None)
            assert isinstance(info.value, OSError)
    finally:
        os.close(fd)


def test_anonymous_has_no_watch() -> None:
    with AnonymousMmap(4096) as a:
        assert not hasattr(a, "watch")
