"""The ``mmapio`` command against the tools it stands beside.

``mmapio dump`` of a 16 MiB random file against ``xxd`` on the same file,
both as whole commands (process start included) writing to /dev/null, timed
in alternating rounds. Wall time is what a user waits for; the CPU time
(user + system of the child) is steadier on a loaded machine. The start-up
alone (``dump -l 0``) is shown too: it is a fixed cost that small dumps pay
in full.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import mmap_io
from benchmarks._harness import Table, Timing, ratio_row, temp_file

SIZE = 16 << 20


def _child_cpu_ns() -> int:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((r.ru_utime + r.ru_stime) * 1e9)


def _time_commands(
    commands: dict[str, list[str]], env: dict[str, str], rounds: int
) -> dict[str, tuple[Timing, Timing]]:
    """``(wall, cpu)`` per command, run round-robin so load hits all alike."""
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    with open(os.devnull, "wb") as sink:
        for n in range(rounds + 1):
            for name, argv in commands.items():
                c0, t0 = _child_cpu_ns(), time.perf_counter_ns()
                subprocess.run(argv, stdout=sink, env=env, check=True)
                if n:  # round 0 warms the page cache and the interpreter's files
                    wall[name].append(time.perf_counter_ns() - t0)
                    cpu[name].append(_child_cpu_ns() - c0)

    def timing(samples: list[float]) -> Timing:
        return Timing(min(samples), statistics.median(samples))

    return {name: (timing(wall[name]), timing(cpu[name])) for name in commands}


def _ms(t: Timing) -> str:
    return f"{t.median_ns / 1e6:,.1f} (min {t.min_ns / 1e6:,.1f})"


def run(quick: bool) -> list[Table]:
    table = Table(f"mmapio dump vs xxd, {SIZE >> 20} MiB random file to /dev/null", "ms/run")
    xxd = shutil.which("xxd")
    if xxd is None:
        table.add("xxd", "-", "not installed: comparison skipped")
        return [table]
    src = str(Path(mmap_io.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    mmapio = [sys.executable, "-m", "mmap_io", "dump"]
    with temp_file(SIZE) as path:
        times = _time_commands(
            {
                "ours": [*mmapio, path],
                "xxd": [xxd, path],
                "start": [*mmapio, "-l", "0", path],
            },
            env,
            rounds=3 if quick else 7,
        )
    for name, label in (
        ("ours", "mmapio dump FILE (whole command)"),
        ("xxd", "xxd FILE"),
        ("start", "mmapio dump -l 0 FILE (start-up only)"),
    ):
        wall, cpu = times[name]
        table.add(f"{label}, wall", _ms(wall))
        table.add(f"{label}, CPU", _ms(cpu))
    ratio_row(table, "mmapio dump / xxd, wall", times["ours"][0], times["xxd"][0], "<= 3.0")
    ratio_row(table, "mmapio dump / xxd, CPU", times["ours"][1], times["xxd"][1], "<= 3.0")
    return [table]
