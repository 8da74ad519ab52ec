"""Shared timing and table helpers for the benchmark suites.

A suite is a module ``benchmarks/bench_<name>.py`` exposing
``run(quick: bool) -> list[Table]``. Time with :func:`per_op` (ns per
operation, min and median of several rounds) and build tables of
:class:`Row`; :func:`ratio_row` states a target and whether this run met it.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Timing:
    min_ns: float
    median_ns: float

    def __str__(self) -> str:
        return f"{self.median_ns:,.1f} (min {self.min_ns:,.1f})"


@dataclass
class Row:
    name: str
    value: str
    note: str = ""


@dataclass
class Table:
    title: str
    unit: str
    rows: list[Row] = field(default_factory=list)

    def add(self, name: str, value: str, note: str = "") -> None:
        self.rows.append(Row(name, value, note))

    def render(self) -> str:
        w0 = max([len(r.name) for r in self.rows] + [9])
        w1 = max([len(r.value) for r in self.rows] + [len(self.unit)])
        lines = [f"## {self.title}", "", f"| {'operation':<{w0}} | {self.unit:>{w1}} | note |"]
        lines.append(f"|{'-' * (w0 + 2)}|{'-' * (w1 + 2)}|------|")
        for r in self.rows:
            lines.append(f"| {r.name:<{w0}} | {r.value:>{w1}} | {r.note} |")
        return "\n".join(lines) + "\n"


def per_op(fn: Callable[[], object], ops: int, rounds: int = 7) -> Timing:
    """Time ``fn`` (which performs ``ops`` operations) ``rounds`` times."""
    fn()  # warm-up
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / ops)
    return Timing(min(samples), statistics.median(samples))


def interleaved(
    fns: dict[str, Callable[[], object]],
    ops: int,
    rounds: int = 7,
    *,
    before: Callable[[], object] | None = None,
    warm_up: bool = True,
    rotate: bool = False,
) -> dict[str, Timing]:
    """Time several candidates round-robin, so drift and noise hit them alike.

    ``before`` runs untimed ahead of every timed call (say, to evict a file
    from the page cache); ``warm_up=False`` skips the untimed first call;
    ``rotate=True`` starts each round one candidate later, so none always
    runs first (after the eviction of a file, say).
    """
    if warm_up:
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns.items())
    for i in range(rounds):
        shift = i % len(order) if rotate and order else 0
        for name, fn in order[shift:] + order[:shift]:
            if before is not None:
                before()
            t0 = time.perf_counter_ns()
            fn()
            samples[name].append((time.perf_counter_ns() - t0) / ops)
    return {name: Timing(min(s), statistics.median(s)) for name, s in samples.items()}


def ratio_row(
    table: Table, name: str, ours: Timing, base: Timing, target: str, extra: str = ""
) -> None:
    """Add ``ours / base`` (medians) with the target, e.g. ``"<= 1.3"``;
    ``extra`` goes after the verdict (say, the ratio's confidence interval)."""
    r = ours.median_ns / base.median_ns
    op, limit = target.split()
    ok = r <= float(limit) if op == "<=" else r >= float(limit)
    note = f"target {target}: {'met' if ok else 'MISSED'}"
    table.add(name, f"{r:.2f}x", f"{note}; {extra}" if extra else note)


@contextlib.contextmanager
def temp_file(size: int, random_data: bool = True) -> Iterator[str]:
    """A file of ``size`` bytes in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mmapio-bench-") as d:
        path = os.path.join(d, "data.bin")
        with open(path, "wb") as f:
            chunk = 1 << 20
            left = size
            while left > 0:
                n = min(chunk, left)
                f.write(os.urandom(n) if random_data else bytes(n))
                left -= n
        yield path
