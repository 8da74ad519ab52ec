"""A process killed by SIGKILL right after flush() leaves the flushed bytes
on disk, visible to a fresh read-only mapping."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import _workers
from mmap_io import MemoryMappedFile, page_size


def _run(target: object, args: tuple[object, ...]) -> object:
    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=target, args=(*args, send))
    p.start()
    send.close()
    assert recv.poll(60), "the child reported nothing"
    reported = recv.recv()
    p.join(60)
    assert p.exitcode == -signal.SIGKILL
    return reported


def test_flush_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.bin"
    path.write_bytes(bytes(3 * page_size()))
    payload = os.urandom(2 * page_size() + 17)
    pending = _run(_workers.flush_then_die, (str(path), payload))
    assert pending == 0
    with MemoryMappedFile.open_ro(path) as m:
        assert m.read_bytes(0, len(payload)) == payload
    assert path.read_bytes()[: len(payload)] == payload


def test_flush_range_survives_sigkill(tmp_path: Path) -> None:
    ps = page_size()
    path = tmp_path / "crash.bin"
    path.write_bytes(bytes(4 * ps))
    payload = b"durable" * 100
    assert _run(_workers.flush_range_then_die, (str(path), ps + 3, payload)) is True
    with MemoryMappedFile.open_ro(path) as m:
        assert m.read_bytes(ps + 3, len(payload)) == payload
