"""Atomic views: ``fetch_add(1)`` against the ``atomics`` package and ctypes libatomic.

Single-thread cost per operation on one file-backed counter, measured side by
side in one run, then how throughput changes with 2 workers (threads, and
spawned processes) instead of 1.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks._harness import Table, per_op, ratio_row, temp_file
from mmap_io import MemoryMappedFile

READY = 0  # u32 start line for the process workers
RESULTS = 64  # u64 per worker: elapsed ns
COUNTERS = 256  # counters, one per 64-byte cache line


def _libatomic_fetch_add() -> Any | None:
    name = ctypes.util.find_library("atomic") or "libatomic.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    fn = lib.__atomic_fetch_add_8
    fn.restype = ctypes.c_uint64
    return fn


def single_thread(quick: bool) -> Table:
    n = 100_000 if quick else 1_000_000
    n_slow = n // 50  # the atomics package is ~100x slower
    table = Table("atomics: one counter, single thread", "ns/op (median, min)")
    with temp_file(4096, random_data=False) as path:
        m = MemoryMappedFile.open_rw(path)
        c = m.atomic_u64(COUNTERS)
        c32 = m.atomic_u32(COUNTERS + 64)
        add, load, cas, add32 = c.fetch_add, c.load, c.compare_exchange, c32.fetch_add
        rng = range(n)

        def ours_add() -> None:
            for _ in rng:
                add(1)

        def ours_add32() -> None:
            for _ in rng:
                add32(1)

        def ours_load() -> None:
            for _ in rng:
                load()

        def ours_cas() -> None:
            for _ in rng:
                cas(0, 0)

        ours = per_op(ours_add, n)
        table.add("mmap_io AtomicU64.fetch_add(1)", str(ours))
        table.add("mmap_io AtomicU32.fetch_add(1)", str(per_op(ours_add32, n)))
        table.add("mmap_io AtomicU64.load()", str(per_op(ours_load, n)))
        table.add("mmap_io AtomicU64.compare_exchange(0, 0)", str(per_op(ours_cas, n)))

        with open(path, "r+b") as f:
            mm = mmap.mmap(f.fileno(), 4096)
        base_atomics = base_ctypes = None
        try:
            import atomics  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError:
            table.add("atomics package", "not installed")
        else:
            buf = memoryview(mm)[COUNTERS + 128 : COUNTERS + 136]
            with atomics.atomicview(buffer=buf, atype=atomics.UINT) as av:
                inc = av.fetch_inc
                rng_slow = range(n_slow)

                def pkg_inc() -> None:
                    for _ in rng_slow:
                        inc()

                base_atomics = per_op(pkg_inc, n_slow)
            buf.release()
            table.add("atomics.atomicview(UINT).fetch_inc()", str(base_atomics))

        fn = _libatomic_fetch_add()
        if fn is None:
            table.add("ctypes libatomic", "libatomic not found")
        else:
            anchor = ctypes.c_char.from_buffer(mm, COUNTERS + 192)
            ptr = ctypes.c_void_p(ctypes.addressof(anchor))
            one, order = ctypes.c_uint64(1), ctypes.c_int(5)  # __ATOMIC_SEQ_CST

            def ctypes_add() -> None:
                for _ in rng:
                    fn(ptr, one, order)

            base_ctypes = per_op(ctypes_add, n)
            table.add("ctypes __atomic_fetch_add_8 (prebuilt args)", str(base_ctypes))
            del anchor

        if base_atomics is not None:
            ratio_row(table, "speedup vs atomics package", base_atomics, ours, ">= 50")
        if base_ctypes is not None:
            ratio_row(table, "speedup vs ctypes libatomic", base_ctypes, ours, ">= 5")
        mm.close()
        c.release()
        c32.release()
        m.close()
    return table


# -- scaling ---------------------------------------------------------------


def _thread_run(c: Any, workers: int, n: int) -> float:
    """Total fetch_add/s of ``workers`` threads doing ``n`` each."""
    barrier = threading.Barrier(workers + 1)

    def work() -> None:
        add = c.fetch_add
        barrier.wait()
        for _ in range(n):
            add(1)

    ts = [threading.Thread(target=work) for _ in range(workers)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter_ns()
    for t in ts:
        t.join()
    return workers * n / ((time.perf_counter_ns() - t0) / 1e9)


def process_worker(path: str, workers: int, slot: int, offset: int, n: int) -> None:
    """Spawned worker: wait at the start line, time ``n`` fetch_add(1)."""
    with MemoryMappedFile.open_rw(path) as m:
        ready = m.atomic_u32(READY)
        c = m.atomic_u64(offset)
        out = m.atomic_u64(RESULTS + 8 * slot)
        ready.fetch_add(1)
        while ready.load() < workers:
            os.sched_yield()
        add = c.fetch_add
        t0 = time.perf_counter_ns()
        for _ in range(n):
            add(1)
        out.store(time.perf_counter_ns() - t0)
        for v in (ready, c, out):
            v.release()


def _process_run(path: str, workers: int, n: int, shared: bool) -> float:
    """Total fetch_add/s of ``workers`` processes (slowest worker's time)."""
    with MemoryMappedFile.open_rw(path) as m:
        m.update_region(0, bytes(len(m)))
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=process_worker,
            args=(path, workers, i, COUNTERS + (0 if shared else 64 * i), n),
        )
        for i in range(workers)
    ]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
    finally:
        for p in procs:  # a worker that died early leaves the others spinning
            if p.is_alive():
                p.kill()
                p.join()
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError(f"benchmark workers failed: {[p.exitcode for p in procs]}")
    with MemoryMappedFile.open_ro(path) as m:
        elapsed = [
            int.from_bytes(m.read_bytes(RESULTS + 8 * i, 8), sys.byteorder) for i in range(workers)
        ]
        total = sum(
            int.from_bytes(m.read_bytes(COUNTERS + (0 if shared else 64 * i), 8), sys.byteorder)
            for i in range(1 if shared else workers)
        )
    if total != workers * n:
        raise RuntimeError(f"lost updates: {total} != {workers * n}")
    return workers * n / (max(elapsed) / 1e9)


def _best(fn: Callable[[], float], rounds: int) -> float:
    return max(fn() for _ in range(rounds))


def scaling(quick: bool) -> Table:
    n = 200_000 if quick else 1_000_000
    rounds = 2 if quick else 3
    table = Table(
        f"atomics: fetch_add(1) throughput, 1 vs 2 workers ({os.cpu_count()} CPUs)",
        "Mops/s (best)",
    )
    with temp_file(4096, random_data=False) as path:
        with MemoryMappedFile.open_rw(path) as m, m.atomic_u64(COUNTERS) as c:
            one = _best(lambda: _thread_run(c, 1, n), rounds)
            two = _best(lambda: _thread_run(c, 2, n), rounds)
        table.add("1 thread", f"{one / 1e6:.2f}")
        table.add("2 threads, one counter", f"{two / 1e6:.2f}", f"{two / one:.2f}x of 1 (GIL)")
        one = _best(lambda: _process_run(path, 1, n, True), rounds)
        two_shared = _best(lambda: _process_run(path, 2, n, True), rounds)
        two_apart = _best(lambda: _process_run(path, 2, n, False), rounds)
        table.add("1 process", f"{one / 1e6:.2f}")
        table.add(
            "2 processes, one shared counter",
            f"{two_shared / 1e6:.2f}",
            f"{two_shared / one:.2f}x of 1 (exact total checked)",
        )
        table.add(
            "2 processes, counters 64 B apart",
            f"{two_apart / 1e6:.2f}",
            f"{two_apart / one:.2f}x of 1",
        )
    return table


def run(quick: bool) -> list[Table]:
    return [single_thread(quick), scaling(quick)]
