"""examples/ipc_queue.py: a byte queue between two processes over shared memory."""

from __future__ import annotations

import multiprocessing
import pickle
import random
import sys
import threading
import time
import zlib

import pytest

import _ipc_workers as workers

SPSCQueue, Empty, Full = (
    workers.ipc_queue.SPSCQueue,
    workers.ipc_queue.Empty,
    workers.ipc_queue.Full,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="wait/notify is Linux-only")


def transfer(
    n: int, capacity: int, pause_every: int = 0
) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """Move n messages from one spawned process to another; both reports."""
    ctx = multiprocessing.get_context("spawn")
    q = SPSCQueue(capacity)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=workers.consume, args=(q, results, pause_every)),
        ctx.Process(target=workers.produce, args=(q, n, results)),
    ]
    try:
        for p in procs:
            p.start()
        reports = {r[0]: r for r in [results.get(timeout=120) for _ in range(3)]}
        for p in procs:
            p.join(30)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        q.release()
    assert [p.exitcode for p in procs] == [0, 0]
    return reports["produced"], reports["consumed"]


def test_a_million_messages_between_two_processes() -> None:
    n = 1_000_000
    (_, sent_crc, _), (_, got_crc, count, bad, _) = transfer(n, 1 << 20)
    assert bad is None  # every message came in order: no loss, no duplicate
    assert count == n
    assert got_crc == sent_crc


def test_a_slow_consumer_makes_the_producer_sleep() -> None:
    n = 20_000
    produced, consumed = transfer(n, 4096, pause_every=500)
    _, sent_crc, producer_sleeps = produced
    _, got_crc, count, bad, _ = consumed
    assert (bad, count, got_crc) == (None, n, sent_crc)
    assert producer_sleeps > 0  # the ring was full, and it waited for room


def test_an_idle_producer_makes_the_consumer_sleep() -> None:
    ctx = multiprocessing.get_context("spawn")
    q = SPSCQueue(4096)
    results = ctx.Queue()
    p = ctx.Process(target=workers.consume, args=(q, results))
    p.start()
    try:
        assert results.get(timeout=60) == ("ready",)
        for i in range(20):
            time.sleep(0.005)  # the consumer runs dry each time
            q.put(workers.SEQ.pack(i))
        q.close()
        _, crc, count, bad, consumer_sleeps = results.get(timeout=60)
        p.join(30)
    finally:
        if p.is_alive():
            p.kill()
            p.join()
        q.release()
    assert (count, bad) == (20, None)
    assert crc == zlib.crc32(b"".join(workers.SEQ.pack(i) for i in range(20)))
    assert consumer_sleeps > 0
    assert p.exitcode == 0


def test_messages_of_every_size_wrap_around_the_ring() -> None:
    rng = random.Random(7)
    q = SPSCQueue(1024)
    sent = [rng.randbytes(rng.randrange(0, 300)) for _ in range(2000)]
    got: list[bytes] = []
    for msg in sent:  # one at a time: every offset of the ring gets its turn
        q.put(msg)
        got.append(q.get())
    assert got == sent
    for msg in sent[:10]:  # bytes-likes other than bytes
        q.put(bytearray(msg))
        q.put(memoryview(msg))
        assert q.get() == msg == q.get()
    q.release()


def test_threads_on_both_ends() -> None:
    q = SPSCQueue(256, spin=0)
    sent = [bytes([i % 256]) * (i % 40) for i in range(5000)]

    def produce() -> None:
        for msg in sent:
            q.put(msg)
        q.close()

    t = threading.Thread(target=produce)
    t.start()
    got = list(q)
    t.join()
    assert got == sent
    assert q.sleeps > 0
    q.release()


def test_timeouts_and_limits() -> None:
    q = SPSCQueue(64)
    with pytest.raises(Empty):
        q.get(timeout=0.01)
    with pytest.raises(ValueError):
        q.put(bytes(61))  # 4 + 61 rounded up is more than the ring
    q.put(bytes(60))
    with pytest.raises(Full):
        q.put(b"", timeout=0.01)
    assert q.get() == bytes(60)
    q.put(b"")
    assert q.get(timeout=0) == b""
    q.close()
    with pytest.raises(EOFError):
        q.get()
    q.release()
    with pytest.raises(ValueError):
        SPSCQueue(100)


def test_pickling_outside_multiprocessing_raises() -> None:
    q = SPSCQueue(64)
    with pytest.raises(TypeError):
        pickle.dumps(q)
    q.release()
