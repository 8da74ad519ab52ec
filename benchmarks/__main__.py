"""``python -m benchmarks [--quick] [--only NAME ...]``: run the suites."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys

import benchmarks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument("--only", action="append", default=[], help="suite name (repeatable)")
    args = ap.parse_args(argv)
    names = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )
    if args.only:
        unknown = set(args.only) - set(names)
        if unknown:
            ap.error(f"unknown suite(s) {sorted(unknown)}; have {names}")
        names = [n for n in names if n in args.only]
    print(f"# mmap_io benchmarks — Python {platform.python_version()}, {platform.machine()}\n")
    for name in names:
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        for table in mod.run(args.quick):
            print(table.render())
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
