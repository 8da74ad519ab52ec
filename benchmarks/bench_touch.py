"""touch_pages() against the ways Python can fault pages in, and syscall costs.

One byte per page of a warm file (1 GiB, 256 MiB with --quick), measured side
by side in one run: our native loop, a Python loop over a stdlib ``mmap``,
and numpy's strided read. Then the per-call cost of advise, prefetch_range,
residency and friends.
"""

from __future__ import annotations

import mmap
import os

from benchmarks._harness import Table, Timing, per_op, ratio_row, temp_file
from mmap_io import MemoryMappedFile, MmapAdvice, TouchHint, page_size


def _ns(t: Timing, unit: float = 1.0) -> str:
    return f"{t.median_ns / unit:,.2f} (min {t.min_ns / unit:,.2f})"


def _touch_table(path: str, size: int, rounds: int) -> Table:
    import numpy as np

    ps = page_size()
    pages = size // ps
    table = Table(f"Touch one byte per page, warm {size >> 20} MiB file ({pages} pages)", "ns/page")
    fd = os.open(path, os.O_RDONLY)
    mm = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    os.close(fd)
    m = MemoryMappedFile.open_ro(path)
    try:
        ours = per_op(m.touch_pages, pages, rounds)

        def py_loop() -> None:
            for i in range(0, size, ps):
                mm[i]

        def np_strided() -> None:
            np.frombuffer(mm, np.uint8)[::ps].sum()

        loop = per_op(py_loop, pages, rounds)
        strided = per_op(np_strided, pages, rounds)

        def eager_open() -> None:
            MemoryMappedFile.open_ro(path, touch_hint=TouchHint.EAGER).close()

        def lazy_open_touch() -> None:
            with MemoryMappedFile.open_ro(path) as f:
                f.touch_pages()

        eager = per_op(eager_open, pages, rounds)
        fresh = per_op(lazy_open_touch, pages, rounds)
    finally:
        m.close()
        mm.close()
    table.add("m.touch_pages() (mapping already faulted)", _ns(ours))
    table.add("Python loop: mm[i] per page, stdlib mmap", _ns(loop))
    table.add("numpy: frombuffer(mm, uint8)[::4096].sum()", _ns(strided))
    ratio_row(table, "touch_pages / Python loop", ours, loop, "<= 0.1")
    ratio_row(table, "touch_pages / numpy strided", ours, strided, "<= 2.0")
    table.add("open_ro(touch_hint=EAGER) + close (fresh page tables)", _ns(eager))
    table.add("open_ro + touch_pages() + close (fresh page tables)", _ns(fresh))
    return table


def _call_table(path: str, size: int, quick: bool) -> Table:
    ps = page_size()
    n = 2_000 if quick else 10_000
    table = Table("Syscall wrappers, warm file (per call)", "ns/call")
    m = MemoryMappedFile.open_ro(path)
    big = MemoryMappedFile.open_ro(path)
    try:
        m.touch_pages()

        def loop(fn: object, *args: object, count: int = n) -> Timing:
            def run() -> None:
                for _ in range(count):
                    fn(*args)  # type: ignore[operator]

            return per_op(run, count, 5)

        few = max(n // 50, 20)
        rows: list[tuple[str, Timing]] = [
            ("advise(0, 4096, NORMAL)", loop(m.advise, 0, ps, MmapAdvice.NORMAL)),
            ("advise(0, 1 MiB, WILL_NEED)", loop(m.advise, 0, 1 << 20, MmapAdvice.WILL_NEED)),
            (
                f"advise(0, {size >> 20} MiB, WILL_NEED)",
                loop(m.advise, 0, size, MmapAdvice.WILL_NEED, count=few),
            ),
            ("advise(0, 1 MiB, SEQUENTIAL)", loop(m.advise, 0, 1 << 20, MmapAdvice.SEQUENTIAL)),
            ("prefetch_range(0, 1 MiB)", loop(m.prefetch_range, 0, 1 << 20)),
            (f"prefetch_range(0, {size >> 20} MiB)", loop(m.prefetch_range, 0, size, count=few)),
            ("prefetch_range(0, 0) (no-op)", loop(m.prefetch_range, 0, 0)),
            ("residency(0, 4096)", loop(m.residency, 0, ps)),
            ("residency(0, 1 MiB)", loop(m.residency, 0, 1 << 20)),
            (f"residency() whole {size >> 20} MiB, faulted in", loop(m.residency, count=few)),
            (
                f"residency() whole {size >> 20} MiB, fresh mapping",
                loop(big.residency, count=few),
            ),
            ("touch_pages_range(0, 4096)", loop(m.touch_pages_range, 0, ps)),
            ("touch_pages_range(0, 1 MiB)", loop(m.touch_pages_range, 0, 1 << 20)),
            (
                f"is_hugepage_backed(), {size >> 20} MiB faulted in",
                loop(m.is_hugepage_backed, count=few),
            ),
        ]
        try:
            m.lock(0, ps)
            m.unlock(0, ps)

            def lock_unlock() -> None:
                m.lock(0, ps)
                m.unlock(0, ps)

            rows.append(("lock(0, 4096) + unlock(0, 4096)", loop(lock_unlock)))
        except OSError as exc:
            table.add("lock/unlock", "n/a", f"mlock refused: {exc.strerror}")
    finally:
        m.close()
        big.close()
    for name, t in rows:
        table.add(name, _ns(t))
    return table


def run(quick: bool) -> list[Table]:
    size = (256 if quick else 1024) << 20
    rounds = 5 if quick else 7
    with temp_file(size) as path:
        with open(path, "rb") as f:  # warm the page cache
            while f.read(16 << 20):
                pass
        return [_touch_table(path, size, rounds), _call_table(path, size, quick)]
