"""Between two processes: wake-up latency and a message queue.

* Ping-pong: a round trip between two spawned processes through one
  ``AtomicU32`` of ``AnonymousMmap(shared=True)`` (``store`` + ``notify``,
  ``wait`` for the answer) against a ``multiprocessing.Pipe`` round trip
  (``send_bytes``/``recv_bytes`` of 1 byte).
* Queue: 64-byte messages/s from this process to a spawned consumer through
  the single-producer single-consumer queue of ``examples/ipc_queue.py``,
  against ``multiprocessing.Queue`` and ``faster_fifo.Queue`` (``put``/``get``
  of one message, pickled as faster-fifo does by default, and passed as
  they are; its batched calls are shown for reference).

Candidates are timed round-robin (medians of several rounds), each against a
consumer process that stays up for the whole run, so start-up is not timed.
"""

from __future__ import annotations

import functools
import multiprocessing
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._harness import Table, Timing, interleaved, ratio_row
from mmap_io import AnonymousMmap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import ipc_queue

STOP = 0xFFFFFFFF  # ping-pong word value that ends the answering process
MSG = b"m" * 64


# -- ping-pong -----------------------------------------------------------------


def atomic_ponger(m: AnonymousMmap) -> None:
    """Answer every odd value of the word with the next even one."""
    with m.atomic_u32(0) as word:
        seen = 0
        while True:
            while (v := word.load()) == seen:
                word.wait(seen)
            if v == STOP:
                return
            seen = v + 1
            word.store(seen)
            word.notify()


def pipe_ponger(conn: Any) -> None:
    """Echo every 1-byte message until an empty one."""
    while msg := conn.recv_bytes():
        conn.send_bytes(msg)


def ping_pong(quick: bool) -> Table:
    n = 500 if quick else 3000
    table = Table("ipc: ping-pong between two processes", "us/round trip (median, min)")
    ctx = multiprocessing.get_context("spawn")
    m = AnonymousMmap(4096, shared=True)
    word = m.atomic_u32(0)
    here, there = ctx.Pipe()
    procs = [
        ctx.Process(target=atomic_ponger, args=(m,)),
        ctx.Process(target=pipe_ponger, args=(there,)),
    ]
    for p in procs:
        p.start()
    state = {"v": 0}

    def atomic_rounds() -> None:
        v = state["v"]
        store, notify, load, wait = word.store, word.notify, word.load, word.wait
        for _ in range(n):
            store(v + 1)
            notify()
            while load() == v + 1:
                wait(v + 1)
            v += 2
        state["v"] = v

    def pipe_rounds() -> None:
        send, recv = here.send_bytes, here.recv_bytes
        for _ in range(n):
            send(b"x")
            recv()

    try:
        t = interleaved({"atomic": atomic_rounds, "pipe": pipe_rounds}, n, rounds=7)
    finally:
        word.store(STOP)
        word.notify()
        here.send_bytes(b"")
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        word.release()
        m.close()
    us = {k: Timing(v.min_ns / 1e3, v.median_ns / 1e3) for k, v in t.items()}
    table.add("AtomicU32 store+notify / wait", str(us["atomic"]))
    table.add("multiprocessing.Pipe send_bytes/recv_bytes (1 byte)", str(us["pipe"]))
    ratio_row(table, "AtomicU32 round trip / Pipe round trip", t["atomic"], t["pipe"], "<= 0.5")
    return table


# -- queues ---------------------------------------------------------------------


def spsc_consumer(q: ipc_queue.SPSCQueue, done: Any, batches: int, n: int) -> None:
    get = q.get
    for _ in range(batches):
        for _ in range(n):
            get()
        done.put(n)
    q.release()


def mp_consumer(q: Any, done: Any, batches: int, n: int) -> None:
    get = q.get
    for _ in range(batches):
        for _ in range(n):
            get()
        done.put(n)


def as_is(data: bytes) -> bytes:
    """faster-fifo serializer that sends bytes unpickled (as our queue does)."""
    return data


# faster-fifo's calls give up after 10 s by default; while the other
# candidates are timed, its consumers wait longer than that.
FF_TIMEOUT = 3600.0


def ff_consumer(q: Any, done: Any, batches: int, n: int, many: bool) -> None:
    for _ in range(batches):
        if many:
            got = 0
            while got < n:
                got += len(q.get_many(max_messages_to_get=1000, timeout=FF_TIMEOUT))
        else:
            get = functools.partial(q.get, timeout=FF_TIMEOUT)
            for _ in range(n):
                get()
        done.put(n)


def queues(quick: bool) -> Table:
    n = 20_000 if quick else 100_000
    rounds = 3 if quick else 5
    batches = rounds + 1  # and the warm-up
    table = Table("ipc: 64-byte messages to another process", "messages/s (median, best)")
    ctx = multiprocessing.get_context("spawn")
    done = ctx.SimpleQueue()
    procs = []
    candidates: dict[str, Callable[[], None]] = {}
    cleanup: list[Callable[[], None]] = []

    def candidate(
        name: str, target: Callable[..., None], q: Any, *extra: object, **put_options: float
    ) -> None:
        p = ctx.Process(target=target, args=(q, done, batches, n, *extra))
        p.start()
        procs.append(p)

        def run() -> None:
            put = functools.partial(q.put, **put_options) if put_options else q.put
            for _ in range(n):
                put(MSG)
            done.get()

        candidates[name] = run

    spsc = ipc_queue.SPSCQueue(1 << 20)
    cleanup.append(spsc.release)
    candidate("mmap_io SPSCQueue (examples/ipc_queue.py)", spsc_consumer, spsc)
    candidate("multiprocessing.Queue", mp_consumer, ctx.Queue())
    try:
        import faster_fifo  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        faster_fifo = None
    if faster_fifo is not None:
        ffq1 = faster_fifo.Queue(1 << 20)
        candidate("faster_fifo.Queue put/get", ff_consumer, ffq1, False, timeout=FF_TIMEOUT)
        raw = faster_fifo.Queue(1 << 20, loads=bytes, dumps=as_is)
        name = "faster_fifo.Queue put/get, bytes as they are (no pickle)"
        candidate(name, ff_consumer, raw, False, timeout=FF_TIMEOUT)
        ffq = faster_fifo.Queue(1 << 20)
        p = ctx.Process(target=ff_consumer, args=(ffq, done, batches, n, True))
        p.start()
        procs.append(p)

        def ff_many() -> None:
            for i in range(0, n, 1000):
                ffq.put_many([MSG] * min(1000, n - i), timeout=FF_TIMEOUT)
            done.get()

        candidates["faster_fifo.Queue put_many/get_many (batched)"] = ff_many
    try:  # the warm-up round waits for every consumer to start
        t = interleaved(candidates, n, rounds=rounds)
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
        for fn in cleanup:
            fn()
    names = list(candidates)
    for name in names:
        table.add(name, f"{1e9 / t[name].median_ns:,.0f} (best {1e9 / t[name].min_ns:,.0f})")
    ours = t[names[0]]
    ratio_row(table, "speedup vs multiprocessing.Queue", t[names[1]], ours, ">= 5")
    if faster_fifo is None:
        table.add("faster_fifo", "not installed")
    else:
        ratio_row(table, "speedup vs faster_fifo.Queue put/get", t[names[2]], ours, ">= 1")
        ratio_row(table, "speedup vs faster_fifo.Queue, no pickle", t[names[3]], ours, ">= 1")
    return table


def run(quick: bool) -> list[Table]:
    if sys.platform != "linux":
        return [Table("ipc: needs futex(2) (Linux)", "-")]
    return [ping_pong(quick), queues(quick)]
