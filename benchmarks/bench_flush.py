"""Flush policies and flush costs.

1. 4 MiB written in 64 KiB ``update_region`` calls into a 64 MiB file, under
   each policy. Every round writes a fresh 4 MiB window whose pages start
   clean and cached (the file is fsynced first), so each policy pays the same
   first-write faults; the time includes the flushes the policy does inline.
   Target: ``every_millis(10)`` within 1.3x of ``NEVER`` (its flushes run on
   the background thread).
2. One dirty page made durable: ``flush_range`` vs stdlib ``mmap.flush(off,
   size)`` (a bare msync), and ``flush()`` vs ``mmap.flush()``; each op
   dirties the page first (``update_region`` vs slice assignment). The four
   are timed round-robin, as disk latency drifts between rounds.
"""

from __future__ import annotations

import mmap
import os
import statistics
import time
from collections.abc import Callable

from benchmarks._harness import Table, Timing, per_op, ratio_row, temp_file
from mmap_io import FlushPolicy, MemoryMappedFile

FILE = 64 << 20
BATCH = 4 << 20
CHUNK = 64 << 10

POLICIES = [
    ("NEVER", FlushPolicy.NEVER),
    ("every_millis(10)", FlushPolicy.every_millis(10)),
    ("ALWAYS", FlushPolicy.ALWAYS),
    ("every_bytes(64 KiB)", FlushPolicy.every_bytes(64 << 10)),
    ("every_bytes(1 MiB)", FlushPolicy.every_bytes(1 << 20)),
]


def _policy_table(path: str, rounds: int) -> Table:
    t = Table(f"4 MiB in 64 KiB update_region calls, {FILE >> 20} MiB file", "ms per 4 MiB")
    chunk = os.urandom(CHUNK)
    timings = {}
    for name, policy in POLICIES:
        m = MemoryMappedFile.open_rw(path, flush_policy=policy)
        try:
            m.flush()
            window = [0]

            def write_batch(m: MemoryMappedFile = m, window: list[int] = window) -> None:
                base = window[0] % (FILE // BATCH) * BATCH
                window[0] += 1
                for off in range(base, base + BATCH, CHUNK):
                    m.update_region(off, chunk)

            timings[name] = per_op(write_batch, 1, rounds=rounds)
            m.flush()  # leave the file clean for the next policy
        finally:
            m.close()
        tm = timings[name]
        t.add(
            name,
            f"{tm.median_ns / 1e6:.2f}",
            f"min {tm.min_ns / 1e6:.2f}; {BATCH / tm.median_ns * 1e3:,.0f} MB/s",
        )
    base = timings["NEVER"]
    ratio_row(t, "every_millis(10) / NEVER", timings["every_millis(10)"], base, "<= 1.3")
    for name in ("ALWAYS", "every_bytes(64 KiB)", "every_bytes(1 MiB)"):
        r = timings[name].median_ns / base.median_ns
        t.add(f"{name} / NEVER", f"{r:.2f}x", "for reference (flushes inline)")
    return t


def _interleaved(fns: dict[str, Callable[[], None]], ops: int, rounds: int) -> dict[str, Timing]:
    """Time each fn once per round, in rotating order, so the disk's mood
    (its latency drifts a lot on a shared VM) hits all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for fn in fns.values():
        fn()  # warm-up
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter_ns()
            fns[name]()
            samples[name].append((time.perf_counter_ns() - t0) / ops)
    return {n: Timing(min(v), statistics.median(v)) for n, v in samples.items()}


def _flush_table(path: str, ops: int, rounds: int) -> Table:
    t = Table("make one dirty page durable", "µs per op")
    fd = os.open(path, os.O_RDWR)
    std = mmap.mmap(fd, FILE)
    m = MemoryMappedFile.open_rw(path)
    off = 8 << 20
    one = b"\x01"
    try:
        m.flush()

        def ours_range() -> None:
            for _ in range(ops):
                m.update_region(off, one)
                m.flush_range(off, 4096)

        def std_range() -> None:
            for _ in range(ops):
                std[off : off + 1] = one
                std.flush(off, 4096)

        def ours_all() -> None:
            for _ in range(ops):
                m.update_region(off, one)
                m.flush()

        def std_all() -> None:
            for _ in range(ops):
                std[off : off + 1] = one
                std.flush()

        def ours_start() -> None:
            for _ in range(ops):
                m.update_region(off, one)
                m.start_flush(off, 4096)
            m.flush()

        os.sync()  # let earlier writeback settle before timing syncs
        res = _interleaved(
            {
                "flush_range(off, 4096)": ours_range,
                "stdlib mmap.flush(off, 4096)": std_range,
                "flush()": ours_all,
                "stdlib mmap.flush()": std_all,
            },
            ops,
            rounds,
        )
        for name, tm in res.items():
            t.add(name, f"{tm.median_ns / 1e3:.1f}", f"min {tm.min_ns / 1e3:.1f}")
        start = per_op(ours_start, ops, rounds=rounds)
        t.add("start_flush(off, 4096)", f"{start.median_ns / 1e3:.1f}", "no wait")
        ratio_row(
            t,
            "flush_range / stdlib msync",
            res["flush_range(off, 4096)"],
            res["stdlib mmap.flush(off, 4096)"],
            "<= 1.1",
        )
        ratio_row(
            t, "flush() / stdlib flush()", res["flush()"], res["stdlib mmap.flush()"], "<= 1.1"
        )
    finally:
        m.close()
        std.close()
        os.close(fd)
    return t


def run(quick: bool) -> list[Table]:
    rounds = 5 if quick else 11
    with temp_file(FILE, random_data=False) as path:
        fd = os.open(path, os.O_RDWR)
        os.fsync(fd)  # start with a clean page cache
        os.close(fd)
        return [_policy_table(path, rounds), _flush_table(path, 20 if quick else 100, rounds)]
