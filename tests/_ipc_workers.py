"""Worker functions for the wait/notify, shared-memory and queue tests.

Spawned and forkserver children import them by name, so they live in a
module of their own. Word offsets used by the wake-up workers:
``FLAG`` (u32) is what the parent changes, ``ACK`` (u32) what the child
answers with, ``SLEEPERS`` (u32) counts children about to sleep.
"""

from __future__ import annotations

import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from mmap_io import AnonymousMmap, MemoryMappedFile

FLAG, ACK, SLEEPERS = 0, 4, 8
TIMEOUT = 30.0

# The queue example lives in examples/, next to tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import ipc_queue  # noqa: E402

SEQ = struct.Struct("<Q")


def wait_for_flag(
    m: AnonymousMmap | MemoryMappedFile, waiting: MemoryMappedFile | None = None
) -> None:
    """Announce, sleep until FLAG leaves 0 (watching it through ``waiting``
    when given, a read-only mapping), then store FLAG's value + 1 in ACK."""
    flag, ack = (waiting or m).atomic_u32(FLAG), m.atomic_u32(ACK)
    m.atomic_u32(SLEEPERS).fetch_add(1)
    deadline = time.monotonic() + TIMEOUT
    while flag.load() == 0 and time.monotonic() < deadline:
        flag.wait(0, timeout=TIMEOUT)
    ack.store(flag.load() + 1)
    ack.notify()
    flag.release()
    ack.release()


def wait_for_flag_in_file(path: str, read_only: bool = False) -> None:
    with MemoryMappedFile.open_rw(path) as m, MemoryMappedFile.open_ro(path) as ro:
        wait_for_flag(m, ro if read_only else None)


def touch_shared(m: AnonymousMmap, conn: Any = None) -> None:
    """Add 1 to the u32 at 0 and write b"child" at 16 (the mapping may come
    through ``conn``, a multiprocessing queue or pipe end)."""
    if conn is not None:
        m = conn.get() if hasattr(conn, "get") else conn.recv()
    with m.atomic_u32(0) as c:
        c.fetch_add(1)
        c.notify()
    m.update_region(16, b"child")
    m.close()


def ping_pong(m: AnonymousMmap, rounds: int) -> None:
    """The odd half of a ping-pong on the u32 at FLAG: answer 2k+1 with 2k+2."""
    with m.atomic_u32(FLAG) as word:
        for k in range(rounds):
            while word.load() != 2 * k + 1:
                word.wait(2 * k, timeout=TIMEOUT)
            word.store(2 * k + 2)
            word.notify()
    m.close()


# -- the queue example ---------------------------------------------------------


PAYLOADS = [bytes([k]) * k for k in range(57)]


def produce(q: ipc_queue.SPSCQueue, n: int, results: Any) -> None:
    """Put messages 0..n-1 (each its sequence number, then 0..56 bytes that
    depend on it), then close; report the checksum and how often it slept."""
    crc = 0
    put, pack = q.put, SEQ.pack
    for i in range(n):
        m = pack(i) + PAYLOADS[i % 57]
        crc = zlib.crc32(m, crc)
        put(m)
    q.close()
    results.put(("produced", crc, q.sleeps))
    q.release()


def consume(q: ipc_queue.SPSCQueue, results: Any, pause_every: int = 0) -> None:
    """Get until the producer closes, checking the sequence numbers; every
    ``pause_every`` messages, sleep a millisecond (a slow consumer)."""
    results.put(("ready",))
    crc = count = 0
    bad = None
    unpack = SEQ.unpack_from
    for m in q:
        if bad is None and unpack(m)[0] != count:
            bad = (count, unpack(m)[0])
        crc = zlib.crc32(m, crc)
        count += 1
        if pause_every and count % pause_every == 0:
            time.sleep(0.001)
    results.put(("consumed", crc, count, bad, q.sleeps))
    q.release()
