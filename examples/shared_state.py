"""Shared state between processes through one file-backed mapping.

Each worker process (started with the ``spawn`` method) maps the same file
and owns one 64-byte slot: ``[u64 progress][u64 result][u64 done]``. A slot
has exactly one writer, so no locks are needed: the parent polls progress
while the workers run, and reads the results after ``join()``. (Progress
values are advisory; for counters several processes update at once use the
atomic views, ``m.atomic_u64(offset)``.)

Run: python examples/shared_state.py
"""

from __future__ import annotations

import multiprocessing as mp
import os
import struct
import tempfile
import time

from mmap_io import MemoryMappedFile

SLOT = 64
U64 = struct.Struct("<Q")
WORKERS = 2
N = 100_000


def worker(path: str, index: int) -> None:
    """Sum the squares of this worker's share of range(N), reporting progress."""
    base = index * SLOT
    with MemoryMappedFile.open_rw(path) as m:
        total = 0
        for i, x in enumerate(range(index, N, WORKERS)):
            total += x * x
            if i % 10_000 == 0:
                m.update_region(base, U64.pack(i))  # progress
        m.update_region(base + 8, U64.pack(total % 2**64))
        m.update_region(base + 16, U64.pack(1))  # done flag, written last
        m.flush()


def main() -> None:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "state.bin")
        with MemoryMappedFile.create_rw(path, WORKERS * SLOT) as m:
            procs = [ctx.Process(target=worker, args=(path, i)) for i in range(WORKERS)]
            for p in procs:
                p.start()
            polls, progress = 0, [0] * WORKERS
            while any(p.is_alive() for p in procs):
                progress = [U64.unpack(m.read_bytes(i * SLOT, 8))[0] for i in range(WORKERS)]
                polls += 1
                time.sleep(0.01)
            for p in procs:
                p.join()
                assert p.exitcode == 0
            print(f"polled progress {polls} times while the workers ran (last {progress})")
            done = [U64.unpack(m.read_bytes(i * SLOT + 16, 8))[0] for i in range(WORKERS)]
            results = [U64.unpack(m.read_bytes(i * SLOT + 8, 8))[0] for i in range(WORKERS)]
        expected = sum(x * x for x in range(N)) % 2**64
        print(f"done flags {done}; results {results}")
        print(f"sum of squares below {N}: {sum(results)} (expected {expected})")
        assert done == [1] * WORKERS and sum(results) == expected


if __name__ == "__main__":
    main()
