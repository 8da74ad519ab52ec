"""Worker functions for the cross-process atomic tests (spawn needs them importable).

Each worker maps the shared file itself, waits at a start line built from an
atomic counter (so the workers really overlap), then does its part.
"""

from __future__ import annotations

import os

from mmap_io import MemoryMappedFile

READY = 16  # u32 start-line counter
LOCK = 0  # u64 spin lock word
PLAIN = 8  # u64 counter guarded by the lock, updated non-atomically
COUNTER = 24  # u64 fetch_add target


def _start_line(m: MemoryMappedFile, workers: int) -> None:
    with m.atomic_u32(READY) as ready:
        ready.fetch_add(1)
        while ready.load() < workers:
            os.sched_yield()


def add_worker(path: str, workers: int, n: int) -> None:
    """``n`` times ``fetch_add(1)`` on the counter at ``COUNTER``."""
    with MemoryMappedFile.open_rw(path) as m:
        _start_line(m, workers)
        with m.atomic_u64(COUNTER) as c:
            add = c.fetch_add
            for _ in range(n):
                add(1)


def spinlock_worker(path: str, workers: int, n: int) -> None:
    """``n`` increments of a plain 8-byte counter under a CAS spin lock."""
    with MemoryMappedFile.open_rw(path) as m:
        _start_line(m, workers)
        with m.atomic_u64(LOCK) as lock:
            for _ in range(n):
                while not lock.compare_exchange(0, 1)[0]:
                    os.sched_yield()
                value = int.from_bytes(m.read_bytes(PLAIN, 8), "little")
                m.update_region(PLAIN, (value + 1).to_bytes(8, "little"))
                lock.store(0)
