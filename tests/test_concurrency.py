"""Threads on one mapping: copies never tear, and resize/close racing with
readers and writers never crash (errors only from the library's hierarchy)."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mmap_io import AnonymousMmap, MemoryMappedFile, MmapIoError

MIB = 1 << 20


@pytest.fixture(autouse=True)
def _fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def run_threads(
    targets: list[Callable[[threading.Event], None]], seconds: float
) -> list[BaseException]:
    """Run each target(stop) in a thread for ``seconds``; return their errors."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def wrap(fn: Callable[[threading.Event], None]) -> None:
        try:
            fn(stop)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a thread hung"
    return errors


def _uniform(data: bytes | bytearray) -> bool:
    return data == data[:1] * len(data)


@pytest.fixture(params=["file", "anonymous"])
def mapping(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "file":
        m: Any = MemoryMappedFile.create_rw(tmp_path / "c.bin", 2 * MIB)
    else:
        m = AnonymousMmap(2 * MIB)
    with m:
        yield m


def test_copies_never_tear(mapping: Any) -> None:
    m = mapping
    m.update_region(0, b"\0" * MIB)
    checked = [0]

    def writer(value: int) -> Callable[[threading.Event], None]:
        pattern = bytes([value]) * MIB

        def run(stop: threading.Event) -> None:
            while not stop.is_set():
                m.update_region(0, pattern)

        return run

    def item_writer(stop: threading.Event) -> None:
        # slice assignment takes the same path, contiguous and strided
        pattern = bytes([4]) * MIB
        while not stop.is_set():
            m[0:MIB] = pattern
            m[MIB - 1 :: -1] = pattern

    def reader_bytes(stop: threading.Event) -> None:
        while not stop.is_set():
            data = m.read_bytes(0, MIB)
            assert _uniform(data), f"torn read: {data[0]} .. {data[-1]}"
            checked[0] += 1

    def reader_into(stop: threading.Event) -> None:
        buf = bytearray(MIB)
        while not stop.is_set():
            assert m.read_into(0, buf) == MIB
            assert _uniform(buf), "torn read_into"
            checked[0] += 1

    def reader_items(stop: threading.Event) -> None:
        while not stop.is_set():
            assert _uniform(m[0:MIB]), "torn slice"
            assert _uniform(m[MIB - 1 :: -3]), "torn strided slice"
            checked[0] += 1

    def reader_small(stop: threading.Event) -> None:
        # small copies run with the GIL held; they must still not interleave
        # with a big copy running without it
        buf = bytearray(4096)
        rnd = random.Random(1)
        while not stop.is_set():
            off = rnd.randrange(0, MIB - 4096)
            m.read_into(off, buf)
            assert _uniform(buf), "torn small read"
            assert _uniform(m.read_bytes(off, 100))

    errors = run_threads(
        [
            writer(1),
            writer(2),
            writer(3),
            item_writer,
            reader_bytes,
            reader_into,
            reader_items,
            reader_small,
        ],
        0.6,
    )
    assert not errors, errors
    assert checked[0] > 10
    assert _uniform(m.read_bytes(0, MIB))


ALLOWED = MmapIoError


def test_resize_races_readers_and_writers(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "r.bin", MIB)
    sizes = [4096, 5000, 64 * 1024, 300 * 1024, MIB, 2 * MIB]
    counts = {"ok": 0, "lib_errors": 0}

    def guarded(body: Callable[[random.Random], object]) -> Callable[[threading.Event], None]:
        def run(stop: threading.Event) -> None:
            rnd = random.Random(threading.get_ident())
            while not stop.is_set():
                try:
                    body(rnd)
                    counts["ok"] += 1
                except ALLOWED:
                    counts["lib_errors"] += 1

        return run

    def off_len(rnd: random.Random) -> tuple[int, int]:
        n = 2 * MIB
        off = rnd.randrange(0, n)
        return off, rnd.choice([1, 100, 4096, 70_000, 300_000])

    def resizer(rnd: random.Random) -> None:
        m.resize(rnd.choice(sizes))

    def reads(rnd: random.Random) -> None:
        off, n = off_len(rnd)
        m.read_bytes(off, n)
        m.read_into(off, bytearray(n))

    def writes(rnd: random.Random) -> None:
        off, n = off_len(rnd)
        m.update_region(off, b"w" * n)

    def items(rnd: random.Random) -> None:
        off, n = off_len(rnd)
        step = rnd.choice([1, 3, -1])
        m[off : off + n : step]
        m[off : off + n : step] = b"i" * len(range(off, min(off + n, len(m)), step))
        m[off] = m[-off]

    def views(rnd: random.Random) -> None:
        off, n = off_len(rnd)
        with m.as_slice(off, n) as v:
            bytes(v[:10])
        with m.as_slice_mut(off, n) as v:
            v[0] = 1

    def iterate(rnd: random.Random) -> None:
        for v in m.chunks(256 * 1024):
            bytes(v[:1])
        seg = m.segment_mut(*off_len(rnd))
        seg.write(b"s")
        seg.read_bytes()
        r = m.reader()
        r.seek(rnd.randrange(0, 2 * MIB))
        r.read(5000)

    def flushes(rnd: random.Random) -> None:
        m.flush()
        m.flush_range(*off_len(rnd))
        len(m)

    errors = run_threads(
        [guarded(f) for f in (resizer, reads, writes, items, views, iterate, flushes)], 1.0
    )
    assert not errors, errors
    assert counts["ok"] > 50, counts
    m.resize(MIB)
    m.update_region(0, b"end")
    assert m.read_bytes(0, 3) == b"end"
    m.close()


def test_close_races_users(tmp_path: Path) -> None:
    for _ in range(3):
        m = MemoryMappedFile.create_rw(tmp_path / "x.bin", MIB)
        started = threading.Barrier(4)

        def user(stop: threading.Event, m: Any = m, started: Any = started) -> None:
            started.wait()
            rnd = random.Random()
            while not stop.is_set():
                try:
                    off = rnd.randrange(0, MIB - 70_000)
                    m.read_bytes(off, rnd.choice([10, 70_000]))
                    m.update_region(off, b"x" * rnd.choice([10, 70_000]))
                    with m.as_slice(off, 10) as v:
                        bytes(v)
                except ALLOWED:
                    if m.closed:
                        return

        def closer(stop: threading.Event, m: Any = m, started: Any = started) -> None:
            started.wait()
            time.sleep(0.02)
            while True:
                try:
                    m.close()
                    return
                except ALLOWED:  # BusyError while a view is alive
                    time.sleep(0.001)

        errors = run_threads([user, user, user, closer], 0.25)
        assert not errors, errors
        assert m.closed
