"""Cold and larger-than-memory reads against read/pread, numpy and pyarrow.

Every timed run starts from a file evicted from the page cache (``fsync``
then ``posix_fadvise(DONTNEED)``), so these tables measure the disk and the
kernel's read-ahead as much as the library. Candidates run round-robin,
medians of 3 (each run opens the file afresh, so page tables start empty):

- a cold sequential scan, ``zlib.crc32`` of each 1 MiB (512 MiB file);
- random 4 KiB and 64 KiB reads of a 4 GiB file by a process held to
  512 MiB by a memory cgroup (v2 ``memory.max`` or v1
  ``memory.limit_in_bytes``; needs root, skipped with the reason
  otherwise), so the file is 8x the memory; there the candidates with
  random-access advice take turns read by read;
- ``numpy`` sum over the whole of a cold 1 GiB file;
- big cold ``read_bytes`` against ``os.pread`` of the same sizes;
- a warm scan: iteration over a warm mapping against raw memoryview
  slicing, to show the read-ahead costs nothing once the file is cached.

``--quick`` divides the sizes by 4 (the cgroup limit too, keeping 8x).
Files live in the temporary directory (``TMPDIR``), which must be on a
real disk: on tmpfs nothing can be evicted (the tables say so).
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import statistics
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from benchmarks._harness import Table, Timing, interleaved, ratio_row, temp_file
from mmap_io import MemoryMappedFile, MmapAdvice, page_size

MiB = 1 << 20
CHUNK = MiB
ROUNDS = 3
# The two mappings do the same work in the kernel: their ratio is 1.0 give or
# take the disk, which drifts by 20% from one run to the next: 7 runs each.
NUMPY_ROUNDS = 7
# Rounds of the pairs behind the scan and numpy ratios (_paired_runs): one
# run in three or four meets a disk 2-3x slower than the run beside it, so
# it takes some 30 rounds before the interval of the median ratio is
# narrower than +-10%.
TURN_ROUNDS = 30
QUICK_TURN_ROUNDS = 10
SEQ_CHUNKS = "m.chunks(1 MiB), advice=SEQUENTIAL"
# Two 64 MiB reads each per round in a 512 MiB file: 5 rounds.
BIG_READ_ROUNDS = 5


def evict(path: str) -> None:
    """Drop ``path``'s pages from the page cache (written back first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _evictable(path: str, table: Table) -> bool:
    """Whether eviction empties the cache for ``path``; says so in ``table`` if not."""
    evict(path)
    with MemoryMappedFile.open_ro(path) as m:
        left = m.residency().fraction
    if left > 0.1:
        table.add("(warning)", "-", f"{left:.0%} of the file stays cached after eviction")
        return False
    return True


def _ms(t: Timing) -> str:
    return f"{t.median_ns / 1e6:,.0f} (min {t.min_ns / 1e6:,.0f})"


def _mbps(t: Timing, size: int) -> str:
    return f"{size / t.median_ns * 1e3:,.0f}"


def _peers() -> tuple[object, object]:
    try:
        import numpy as np
    except ImportError:
        np = None
    try:
        import pyarrow as pa
    except ImportError:
        pa = None
    return np, pa


# -- (a) cold sequential scan ------------------------------------------------


def _scan_fns(
    path: str,
) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """The candidates, and apart the scans of RANDOM mappings, each timed on
    its own after the others: whatever ran next to them in the rotation ran
    slow (chunks() 0.4-0.5 s after a readinto() scan, 0.5-1.3 s after the
    RANDOM read-ahead scan of the same evicted file, 8 pairs)."""
    np, pa = _peers()

    def readinto() -> None:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        crc = 0
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                crc = zlib.crc32(view[:n], crc)

    def pread() -> None:
        fd = os.open(path, os.O_RDONLY)
        crc = off = 0
        try:
            while data := os.pread(fd, CHUNK, off):
                crc = zlib.crc32(data, crc)
                off += len(data)
        finally:
            os.close(fd)

    def chunks(advice: MmapAdvice | None) -> Callable[[], object]:
        def run() -> None:
            crc = 0
            with MemoryMappedFile.open_ro(path, advice=advice) as m:
                for view in m.chunks(CHUNK):
                    crc = zlib.crc32(view, crc)

        return run

    def random_no_read_ahead() -> None:
        # What chunks() would cost on a RANDOM mapping without its read-ahead.
        crc = 0
        with MemoryMappedFile.open_ro(path, advice=MmapAdvice.RANDOM) as m:
            for off in range(0, len(m), CHUNK):
                view = m.as_slice(off, min(CHUNK, len(m) - off))
                crc = zlib.crc32(view, crc)
                view.release()

    def chunks_owned() -> None:
        crc = 0
        with MemoryMappedFile.open_ro(path) as m:
            for data in m.chunks_owned(CHUNK):
                crc = zlib.crc32(data, crc)

    def reader() -> None:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        crc = 0
        with MemoryMappedFile.open_ro(path) as m:
            r = m.reader()
            while n := r.readinto(buf):
                crc = zlib.crc32(view[:n], crc)

    fns: dict[str, Callable[[], object]] = {
        "f.readinto(1 MiB)": readinto,
        "os.pread(fd, 1 MiB, off)": pread,
        "m.chunks(1 MiB)": chunks(None),
        SEQ_CHUNKS: chunks(MmapAdvice.SEQUENTIAL),
        "m.chunks_owned(1 MiB)": chunks_owned,
        "m.reader().readinto(1 MiB)": reader,
    }
    if np is not None:

        def np_memmap() -> None:
            a = np.memmap(path, dtype=np.uint8, mode="r")  # type: ignore[attr-defined]
            crc = 0
            for off in range(0, len(a), CHUNK):
                crc = zlib.crc32(a[off : off + CHUNK], crc)
            del a

        fns["numpy.memmap slices"] = np_memmap
    if pa is not None:

        def arrow() -> None:
            crc = 0
            with pa.memory_map(path, "r") as f:  # type: ignore[attr-defined]
                size = f.size()
                for off in range(0, size, CHUNK):
                    crc = zlib.crc32(f.read_at(min(CHUNK, size - off), off), crc)

        fns["pyarrow.memory_map().read_at"] = arrow
    random_fns: dict[str, Callable[[], object]] = {
        "m.chunks(1 MiB), advice=RANDOM (read-ahead)": chunks(MmapAdvice.RANDOM),
        "as_slice loop, advice=RANDOM, no read-ahead": random_no_read_ahead,
    }
    return fns, random_fns


def _scan_table(size: int, rounds: int) -> Table:
    table = Table(
        f"Cold sequential scan of {size >> 20} MiB, zlib.crc32 of each 1 MiB",
        "ms (median of 3)",
    )
    with temp_file(size) as path:
        _evictable(path, table)
        fns, random_fns = _scan_fns(path)
        t = interleaved(fns, 1, ROUNDS, before=lambda: evict(path), warm_up=False, rotate=True)
        two = {name: fns[name] for name in ("m.chunks(1 MiB)", "f.readinto(1 MiB)")}
        pair = _paired_runs(two, rounds, lambda: evict(path))
        seq = {name: fns[name] for name in (SEQ_CHUNKS, "f.readinto(1 MiB)")}
        seq_pair = _paired_runs(seq, rounds, lambda: evict(path))
        _cache(path)
        cached = _paired_runs(two, rounds, lambda: None)
        for name, fn in random_fns.items():
            t |= interleaved({name: fn}, 1, ROUNDS, before=lambda: evict(path), warm_up=False)
        evict(path)
    for name, timing in t.items():
        table.add(name, _ms(timing), f"{_mbps(timing, size)} MB/s")
    _pair_rows(table, pair, size, "chunks / readinto")
    _pair_rows(table, seq_pair, size, "chunks SEQUENTIAL / readinto")
    _pair_rows(table, cached, size, "chunks / readinto", "cached file (no disk)")
    return table


def _pair_rows(
    table: Table, pair: dict[str, list[float]], size: int, ratio: str, how: str = "in pairs"
) -> None:
    """The rows of a _paired_runs() result (ms per run of ``size`` bytes):
    each side's median, and the median of the rounds' ratios, target 1.0."""
    for name, ms in pair.items():
        med = statistics.median(ms)
        table.add(
            f"{name}, {how}", f"{med:,.0f} (min {min(ms):,.0f})", f"{size / med / 1e3:,.0f} MB/s"
        )
    ours, base = pair.values()
    _paired_row(table, f"{ratio}, {how} (median of the rounds' ratios)", ours, base, "<= 1.0")


def _cache(path: str) -> None:
    """Read ``path`` once, so that it is all in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(16 * MiB):
            pass


def _paired_runs(
    fns: dict[str, Callable[[], object]], rounds: int, before: Callable[[], object]
) -> dict[str, list[float]]:
    """ms of two candidates run back to back, ``before`` ahead of each, the
    order swapped every round: each round's pair shares the disk's mood.
    (Two sequential scans cannot take turns chunk by chunk: the read-ahead
    of one keeps the disk busy for the other.)"""
    out: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns.items())
    for r in range(rounds):
        for name, fn in order if r % 2 == 0 else order[::-1]:
            before()
            t0 = time.perf_counter_ns()
            fn()
            out[name].append((time.perf_counter_ns() - t0) / 1e6)
    return out


# -- (b) random reads in a memory cgroup --------------------------------------


class CgroupUnavailable(Exception):
    """No memory cgroup can be made here; the message says why."""


def _v2_root() -> str | None:
    """A cgroup2 mount that offers the memory controller."""
    with open("/proc/self/mounts") as f:
        mounts = [line.split() for line in f]
    for _dev, where, kind, *_ in mounts:
        if kind != "cgroup2":
            continue
        try:
            with open(os.path.join(where, "cgroup.controllers")) as c:
                if "memory" in c.read().split():
                    return where
        except OSError:
            continue
    return None


@contextlib.contextmanager
def memory_cgroup(limit: int) -> Iterator[str]:
    """A new memory cgroup limited to ``limit`` bytes; yields its ``cgroup.procs``.

    cgroup v2 (``memory.max``) where a cgroup2 mount has the memory
    controller, else v1 (``memory.limit_in_bytes``). Removed afterwards:
    its processes must have exited by then.
    """
    name = f"mmapio-bench-{os.getpid()}"
    root = _v2_root()
    if root is not None:
        path, limit_file = os.path.join(root, name), "memory.max"
        control = os.path.join(root, "cgroup.subtree_control")
        with contextlib.suppress(OSError), open(control, "w") as f:
            f.write("+memory")
    elif os.path.isfile("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        path, limit_file = os.path.join("/sys/fs/cgroup/memory", name), "memory.limit_in_bytes"
    else:
        raise CgroupUnavailable("no cgroup v2 memory controller and no v1 memory hierarchy")
    try:
        os.mkdir(path)
    except OSError as exc:
        raise CgroupUnavailable(f"cannot create {path}: {exc.strerror} (needs root)") from None
    try:
        try:
            with open(os.path.join(path, limit_file), "w") as f:
                f.write(str(limit))
        except OSError as exc:
            raise CgroupUnavailable(f"cannot set {limit_file}: {exc.strerror}") from None
        yield os.path.join(path, "cgroup.procs")
    finally:
        _rmdir_cgroup(path)


def _rmdir_cgroup(path: str) -> None:
    # The reader process may take a moment to be reaped from the cgroup.
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(0.1)
    os.rmdir(path)


def _take_turns(fns: dict[str, Callable[[int], object]], offsets: list[int]) -> dict[str, float]:
    """Mean ns per read of each candidate. They take turns read by read,
    each at offsets nobody read before, so a disk that slows down or speeds
    up (a shared virtual disk does, by 20% from one second to the next)
    hits them alike."""
    names = list(fns)
    calls = [fns[name] for name in names]
    total = [0] * len(names)
    clock = time.perf_counter_ns
    for i, off in enumerate(offsets):
        k = i % len(calls)
        t0 = clock()
        calls[k](off)
        total[k] += clock() - t0
    per = len(offsets) // len(calls)
    return {name: total[k] / per for k, name in enumerate(names)}


def _paired_row(table: Table, name: str, ours: list[float], base: list[float], target: str) -> None:
    """The median of the rounds' ratios ours/base (each round's pair ran
    through the same seconds of disk) against ``target``, with a 95%
    bootstrap interval of that median: where it spans the target, this
    disk cannot tell the two apart."""
    ratios = [a / b for a, b in zip(ours, base, strict=True)]
    med = statistics.median(ratios)
    rng = random.Random(0)  # the same rounds print the same interval
    boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    ci = f"95% CI {boot[50]:.2f}-{boot[1949]:.2f} over {len(ratios)} rounds"
    ratio_row(table, name, Timing(min(ratios), med), Timing(1, 1), target, ci)


@contextlib.contextmanager
def _random_candidates(path: str, piece: int) -> Iterator[dict[str, Callable[[int], object]]]:
    """The ways to read ``piece`` bytes at an offset with random-access
    advice (and os.pread), each opened afresh."""
    import mmap

    np, _ = _peers()
    with contextlib.ExitStack() as stack:
        fd = os.open(path, os.O_RDONLY)
        stack.callback(os.close, fd)
        m = stack.enter_context(MemoryMappedFile.open_ro(path, advice=MmapAdvice.RANDOM))
        read = m.read_bytes
        fns: dict[str, Callable[[int], object]] = {
            f"os.pread(fd, {piece}, off)": lambda off: os.pread(fd, piece, off),
            "m.read_bytes, advice=RANDOM": lambda off: read(off, piece),
        }
        if np is not None:
            a = np.memmap(path, dtype=np.uint8, mode="r")  # type: ignore[attr-defined]
            a._mmap.madvise(mmap.MADV_RANDOM)
            stack.callback(a._mmap.close)
            fns["numpy.memmap + madvise(RANDOM)"] = lambda off: a[off : off + piece].tobytes()
        yield fns


def _thrashers(path: str) -> dict[str, Callable[[Callable[[int], object]], float]]:
    """Readers whose every fault reads a whole read-ahead window: each runs
    alone (its windows would warm the others' pages) within a time budget."""
    np, pa = _peers()
    ps = 4096

    def ours(run: Callable[[Callable[[int], object]], float]) -> float:
        with MemoryMappedFile.open_ro(path) as m:
            read = m.read_bytes
            return run(lambda a: read(a, ps))

    fns = {"m.read_bytes, default advice": ours}
    if np is not None:

        def np_memmap(run: Callable[[Callable[[int], object]], float]) -> float:
            a = np.memmap(path, dtype=np.uint8, mode="r")  # type: ignore[attr-defined]
            try:
                return run(lambda o: a[o : o + ps].tobytes())
            finally:
                a._mmap.close()

        fns["numpy.memmap, default advice"] = np_memmap
    if pa is not None:

        def arrow(run: Callable[[Callable[[int], object]], float]) -> float:
            with pa.memory_map(path, "r") as f:  # type: ignore[attr-defined]
                return run(lambda a: f.read_at(ps, a))

        fns["pyarrow.memory_map().read_at"] = arrow
    return fns


def _random_reader(
    procs: str, path: str, n: int, n_slow: int, budget: float, rounds: int
) -> dict[str, list[float]]:
    """Runs in a spawned process: join the cgroup, then time each way of
    reading 4 KiB and 64 KiB at random offsets. Returns ns per read of
    each run, keyed "4 KiB: name" and "64 KiB: name"."""
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
    size = os.path.getsize(path)
    rng = random.Random(11)
    out: dict[str, list[float]] = {}
    for piece, count in ((4096, n), (64 << 10, n // 8)):
        slots = rng.sample(range(size // piece), count * 3 * rounds)
        for r in range(rounds):
            evict(path)
            with _random_candidates(path, piece) as fns:
                mine = slots[r * count * len(fns) : (r + 1) * count * len(fns)]
                for name, ns in _take_turns(fns, [s * piece for s in mine]).items():
                    out.setdefault(f"{piece >> 10} KiB: {name}", []).append(ns)
    offs = [s * 4096 for s in rng.sample(range(size // 4096), n_slow)]

    def timed(body: Callable[[int], object]) -> float:
        t0 = time.perf_counter()
        done = 0
        for a in offs:
            body(a)
            done += 1
            if done % 16 == 0 and time.perf_counter() - t0 > budget:
                break
        return (time.perf_counter() - t0) * 1e9 / done

    for name, fn in _thrashers(path).items():
        evict(path)
        out[f"4 KiB: {name}"] = [fn(timed)]
    return out


def _random_table(size: int, limit: int, quick: bool) -> Table:
    table = Table(
        f"Random reads of a {size >> 30} GiB file, reader held to "
        f"{limit >> 20} MiB by a memory cgroup (candidates take turns read by read)",
        "µs/read (median of 3)",
    )
    n = 2_000 if quick else 10_000
    try:
        with memory_cgroup(limit) as procs, temp_file(size, random_data=False) as path:
            _evictable(path, table)
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                fut = pool.submit(_random_reader, procs, path, n, 500, 3.0, ROUNDS)
                runs = fut.result()
            evict(path)
    except CgroupUnavailable as exc:
        table.add("(skipped)", "-", f"no memory cgroup: {exc}")
        return table
    t = {name: Timing(min(v), sorted(v)[len(v) // 2]) for name, v in runs.items()}
    for name, timing in t.items():
        table.add(
            name,
            f"{timing.median_ns / 1e3:,.1f} (min {timing.min_ns / 1e3:,.1f})",
            f"{1e9 / timing.median_ns:,.0f} reads/s",
        )
    for piece in (4, 64):
        _paired_row(
            table,
            f"{piece} KiB: read_bytes RANDOM / os.pread (median of the rounds' ratios)",
            runs[f"{piece} KiB: m.read_bytes, advice=RANDOM"],
            runs[f"{piece} KiB: os.pread(fd, {piece << 10}, off)"],
            "<= 1.05",
        )
    return table


# -- (c) numpy over a cold file ----------------------------------------------


def _numpy_table(size: int, rounds: int) -> Table:
    np, pa = _peers()
    table = Table(
        f"numpy sum (uint64) over a cold {size >> 20} MiB file", f"ms (median of {NUMPY_ROUNDS})"
    )
    if np is None:
        table.add("(skipped)", "-", "numpy is not installed")
        return table
    with temp_file(size) as path:
        _evictable(path, table)

        def ours() -> None:
            with MemoryMappedFile.open_ro(path) as m:
                a = m.as_array(np.uint64)  # type: ignore[attr-defined]
                a.sum()
                del a

        def np_memmap() -> None:
            a = np.memmap(path, dtype=np.uint64, mode="r")  # type: ignore[attr-defined]
            a.sum()
            del a

        def fromfile() -> None:
            np.fromfile(path, dtype=np.uint64).sum()  # type: ignore[attr-defined]

        fns: dict[str, Callable[[], object]] = {
            "m.as_array(uint64).sum()": ours,
            "numpy.memmap(uint64).sum()": np_memmap,
            "numpy.fromfile(uint64).sum() (reads, copies)": fromfile,
        }
        if pa is not None:

            def arrow() -> None:
                with pa.memory_map(path, "r") as f:  # type: ignore[attr-defined]
                    buf = f.read_buffer()
                    np.frombuffer(buf, dtype=np.uint64).sum()  # type: ignore[attr-defined]
                    del buf

            fns["pyarrow.memory_map + frombuffer .sum()"] = arrow
        t = interleaved(
            fns, 1, NUMPY_ROUNDS, before=lambda: evict(path), warm_up=False, rotate=True
        )
        evict(path)
        two = {
            name: fns[name] for name in ("m.as_array(uint64).sum()", "numpy.memmap(uint64).sum()")
        }
        pair = _paired_runs(two, rounds, lambda: evict(path))
        _cache(path)
        cached = _paired_runs(two, rounds, lambda: None)
        evict(path)
    for name, timing in t.items():
        table.add(name, _ms(timing), f"{_mbps(timing, size)} MB/s")
    _pair_rows(table, pair, size, "as_array sum / numpy.memmap sum")
    _pair_rows(table, cached, size, "as_array sum / numpy.memmap sum", "cached file (no disk)")
    return table


# -- (d) big cold reads ------------------------------------------------------


def _big_read_table(size: int) -> Table:
    table = Table(
        f"Single cold reads of N bytes at random offsets of a {size >> 20} MiB file "
        "(candidates take turns read by read)",
        f"ms per read (median of {BIG_READ_ROUNDS})",
    )
    # Three distinct slots of each size per round (--quick: no 64 MiB).
    pieces = [p for p in (256 << 10, MiB, 4 * MiB, 16 * MiB, 64 * MiB) if size // p >= 3]
    rng = random.Random(3)
    runs: dict[str, list[float]] = {}
    with temp_file(size) as path:
        _evictable(path, table)
        for piece in pieces:
            label = f"{piece >> 10} KiB" if piece < MiB else f"{piece >> 20} MiB"
            # Distinct slots of `piece` bytes: nobody reads what another read.
            per = min(8, size // piece // 3)
            for _ in range(BIG_READ_ROUNDS):
                evict(path)
                offsets = [s * piece for s in rng.sample(range(size // piece), 3 * per)]
                with _big_readers(path, piece, label) as (fns, copy):
                    for name, ns in _take_turns(fns, offsets[: 2 * per]).items():
                        runs.setdefault(name, []).append(ns)
                    # The copy faults in read-ahead windows that go on
                    # reading after it returns: it runs on its own, last.
                    evict(path)
                    t0 = time.perf_counter_ns()
                    for off in offsets[2 * per :]:
                        copy(off)
                    name = f"bytes(m.as_slice(off, {label})) (copy)"
                    runs.setdefault(name, []).append((time.perf_counter_ns() - t0) / per)
        evict(path)
    t = {name: Timing(min(v), statistics.median(v)) for name, v in runs.items()}
    for name, timing in t.items():
        table.add(name, f"{timing.median_ns / 1e6:,.1f} (min {timing.min_ns / 1e6:,.1f})")
    for piece in pieces:
        label = f"{piece >> 10} KiB" if piece < MiB else f"{piece >> 20} MiB"
        _paired_row(
            table,
            f"read_bytes / os.pread, {label} (median of the rounds' ratios)",
            runs[f"m.read_bytes(off, {label})"],
            runs[f"os.pread(fd, {label}, off)"],
            "<= 1.1",
        )
    return table


@contextlib.contextmanager
def _big_readers(
    path: str, piece: int, label: str
) -> Iterator[tuple[dict[str, Callable[[int], object]], Callable[[int], object]]]:
    """read_bytes and os.pread of ``piece`` bytes at an offset, and a copy
    out of the mapping, opened afresh."""
    fd = os.open(path, os.O_RDONLY)
    try:
        with MemoryMappedFile.open_ro(path) as m:

            def copy(off: int) -> None:
                with m.as_slice(off, piece) as view:
                    bytes(view)

            yield (
                {
                    f"m.read_bytes(off, {label})": lambda off: m.read_bytes(off, piece),
                    f"os.pread(fd, {label}, off)": lambda off: os.pread(fd, piece, off),
                },
                copy,
            )
    finally:
        os.close(fd)


# -- (e) warm scans ----------------------------------------------------------


def _warm_table(size: int, quick: bool) -> Table:
    rounds = 7 if quick else 25
    table = Table(
        f"Warm scan of a {size >> 20} MiB mapping (read-ahead must cost nothing)",
        f"GB/s (best of {rounds})",
    )
    with temp_file(size) as path:
        m = MemoryMappedFile.open_ro(path)
        rand = MemoryMappedFile.open_ro(path, advice=MmapAdvice.RANDOM)
        try:
            m.touch_pages()  # cache the file and fault in the mappings
            rand.touch_pages()
            rows = _warm_pairs(m, rand, size, rounds)
        finally:
            rand.close()
            m.close()
    # Each pair runs on its own, back to back and in turns, the raw loop
    # slicing a memoryview of the same mapping: what differs is only the
    # library's iteration. A warm scan is CPU-bound: a busy neighbour only
    # ever slows a run down (by 15% between two runs of the same code
    # here), so the fastest run is the truest speed, as with timeit, and
    # the ratio is that of each round's pair, which shared the neighbour.
    for ours, raw, t in rows:
        table.add(ours, f"{size / min(t[ours]) / 1e6:.2f}")
        table.add(raw, f"{size / min(t[raw]) / 1e6:.2f}")
    for ours, raw, t in rows:
        # Throughput ours/raw >= 0.95  <=>  time raw/ours >= 0.95.
        _paired_row(table, f"throughput {ours} / raw", t[raw], t[ours], ">= 0.95")
    return table


def _warm_pairs(
    m: MemoryMappedFile, rand: MemoryMappedFile, size: int, rounds: int
) -> list[tuple[str, str, dict[str, list[float]]]]:
    """``rand`` is ``m`` opened with advice=RANDOM: its scans read ahead."""
    crc32 = zlib.crc32
    ps = page_size()

    def chunked(of: MemoryMappedFile, n: int) -> Callable[[], object]:
        def run() -> None:
            crc = 0
            for view in of.chunks(n):
                crc = crc32(view, crc)

        return run

    def raw(of: MemoryMappedFile, n: int) -> Callable[[], object]:
        def run() -> None:
            crc = 0
            with memoryview(of) as mv:
                for off in range(0, size, n):
                    crc = crc32(mv[off : off + n], crc)

        return run

    def owned() -> None:
        crc = 0
        for data in m.chunks_owned(CHUNK):
            crc = crc32(data, crc)

    def raw_owned() -> None:
        crc = 0
        with memoryview(m) as mv:
            for off in range(0, size, CHUNK):
                crc = crc32(bytes(mv[off : off + CHUNK]), crc)

    def reader() -> None:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        crc = 0
        r = m.reader()
        while n := r.readinto(buf):
            crc = crc32(view[:n], crc)

    def raw_copy() -> None:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        crc = 0
        with memoryview(m) as mv:
            for off in range(0, size, CHUNK):
                view[:] = mv[off : off + CHUNK]
                crc = crc32(view, crc)

    pairs: list[tuple[str, Callable[[], object], str, Callable[[], object]]] = [
        ("m.chunks(1 MiB)", chunked(m, CHUNK), "raw mv[o:o+1 MiB]", raw(m, CHUNK)),
        ("m.chunks(64 KiB)", chunked(m, 64 << 10), "raw mv[o:o+64 KiB]", raw(m, 64 << 10)),
        ("m.pages()", chunked(m, ps), "raw mv[o:o+4 KiB]", raw(m, ps)),
        ("m.chunks_owned(1 MiB)", owned, "raw bytes(mv[o:o+1 MiB])", raw_owned),
        ("m.reader().readinto(1 MiB)", reader, "raw buf[:] = mv[o:o+1 MiB]", raw_copy),
        (
            "advice=RANDOM: m.chunks(1 MiB)",
            chunked(rand, CHUNK),
            "advice=RANDOM: raw mv[o:o+1 MiB]",
            raw(rand, CHUNK),
        ),
        (
            "advice=RANDOM: m.pages()",
            chunked(rand, ps),
            "advice=RANDOM: raw mv[o:o+4 KiB]",
            raw(rand, ps),
        ),
    ]
    return [
        (ours, base, _paired_runs({ours: fn, base: base_fn}, rounds, lambda: None))
        for ours, fn, base, base_fn in pairs
    ]


def run(quick: bool) -> list[Table]:
    div = 4 if quick else 1
    rounds = QUICK_TURN_ROUNDS if quick else TURN_ROUNDS
    return [
        _scan_table((512 * MiB) // div, rounds),
        _random_table((4 << 30) // div, (512 * MiB) // div, quick),
        _numpy_table((1 << 30) // div, rounds),
        _big_read_table((512 * MiB) // div),
        _warm_table((256 * MiB) // div, quick),
    ]
