"""The ``mmapio`` command line (also ``python -m mmap_io``).

Subcommands: ``demo``, ``info``, ``dump``, ``warm``, ``evict``, ``watch`` and
``bench``;
``mmapio <command> --help`` describes each. Output uses ``rich`` when it is
installed (the ``cli`` extra) and plain text otherwise or with ``--plain``.

Exit status: 0 on success, 1 when the library or the operating system
reports an error (the message goes to stderr), 2 for usage errors (bad
arguments, a dump range outside the file).

>>> from mmap_io.cli import main
>>> main(["info", "--json", "data.bin"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import mmap
import os
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from . import __version__
from ._core import page_size
from .errors import (
    BusyError,
    InvalidModeError,
    MmapIoError,
    OutOfBoundsError,
    from_oserror,
)
from .file import MemoryMappedFile
from .flush import FlushPolicy

__all__ = ["main"]

PROG = "mmapio"


class UsageError(Exception):
    """A request the command line cannot carry out as asked (exit status 2)."""


# -- output -------------------------------------------------------------------


class Output:
    """Plain-text or rich output, chosen once per run.

    ``rich`` is imported lazily and only when present; everything this class
    prints reads the same without it.
    """

    def __init__(self, plain: bool, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._console: Any = None
        if not plain:
            try:
                console_mod = importlib.import_module("rich.console")
            except ImportError:
                pass
            else:
                self._console = console_mod.Console(file=self.stream, highlight=False)

    @property
    def rich(self) -> bool:
        return self._console is not None

    def line(self, text: str = "") -> None:
        if self._console is not None:
            self._console.print(text, markup=False, soft_wrap=True)
        else:
            print(text, file=self.stream)

    def step(self, title: str) -> None:
        if self._console is not None:
            self._console.print(f"[bold cyan]==>[/] [bold]{_escape(title)}[/]")
        else:
            print(f"==> {title}", file=self.stream)

    def ok(self, text: str) -> None:
        if self._console is not None:
            self._console.print(f"    [green]ok[/]  {_escape(text)}", soft_wrap=True)
        else:
            print(f"    ok  {text}", file=self.stream)

    def table(
        self,
        title: str,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        numeric: bool = True,
    ) -> None:
        """Print rows under ``header``; ``numeric`` right-aligns all but column 0."""

        def right(i: int) -> bool:
            return numeric and i > 0

        if self._console is not None:
            table_mod = importlib.import_module("rich.table")
            t = table_mod.Table(title=_escape(title) or None, title_justify="left")
            for i, h in enumerate(header):
                t.add_column(_escape(h), justify="right" if right(i) else "left")
            for r in rows:
                t.add_row(*(_escape(c) for c in r))
            self._console.print(t)
            return
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        if title:
            print(title, file=self.stream)
        for n, r in enumerate([header, *rows]):
            cells = [
                f"{c:>{widths[i]}}" if right(i) else f"{c:<{widths[i]}}" for i, c in enumerate(r)
            ]
            print("  ".join(cells).rstrip(), file=self.stream)
            if n == 0:
                print("  ".join("-" * w for w in widths), file=self.stream)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def _fmt_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# -- helpers --------------------------------------------------------------------


def _int_arg(text: str) -> int:
    """An argparse type: a non-negative int, decimal or 0x/0o/0b prefixed."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _residency(m: MemoryMappedFile) -> tuple[int, int] | None:
    """``(resident, total)`` pages via ``m.residency()`` when the library has it."""
    fn = getattr(m, "residency", None)
    if fn is None or len(m) == 0:
        return None
    r = fn()
    return int(r.resident), int(r.total)


def _pages(size: int) -> int:
    return -(-size // page_size())


def _possible_modes(path: str, size: int) -> list[str]:
    """The modes ``path`` can be mapped in by this process, by trying to open it."""
    modes = []
    for flags, names in ((os.O_RDONLY, ["READ_ONLY"]), (os.O_RDWR, ["READ_WRITE"])):
        try:
            fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        os.close(fd)
        modes += names
    if "READ_ONLY" in modes and size > 0:
        modes.append("COPY_ON_WRITE")
    if size == 0 and "READ_WRITE" in modes:
        modes.remove("READ_WRITE")  # an empty file cannot be mapped read-write
    return modes


# -- info -----------------------------------------------------------------------


def cmd_info(args: argparse.Namespace, out: Output) -> int:
    path = args.path
    with MemoryMappedFile.open_ro(path) as m:
        size = len(m)
        info: dict[str, Any] = {
            "path": str(m.path),
            "size": size,
            "page_size": page_size(),
            "pages": _pages(size),
            "modes": _possible_modes(str(m.path), size),
        }
        res = _residency(m)
    if res is not None:
        info["resident_pages"], _total = res
        info["resident_fraction"] = res[0] / res[1] if res[1] else 0.0
    if args.json:
        print(json.dumps(info, indent=2), file=out.stream)
        return 0
    rows = [
        ["path", info["path"]],
        ["size", f"{size} bytes" + (f" ({_fmt_bytes(size)})" if size >= 1024 else "")],
        ["page size", f"{info['page_size']} bytes"],
        ["pages", str(info["pages"])],
        ["modes", ", ".join(x.lower().replace("_", "-") for x in info["modes"]) or "none"],
    ]
    if res is not None:
        pct = 100.0 * info["resident_fraction"]
        rows.append(["resident", f"{res[0]} of {res[1]} pages ({pct:.1f}%)"])
    out.table("", ["field", "value"], rows, numeric=False)
    return 0


# -- dump -----------------------------------------------------------------------


_PRINTABLE = bytes(c if 0x20 <= c < 0x7F else 0x2E for c in range(256))


def hexdump_lines(data: bytes, start: int) -> Iterator[str]:
    """``xxd``-style lines for ``data`` whose first byte is at offset ``start``.

    >>> next(hexdump_lines(b"hello", 0))
    '00000000: 6865 6c6c 6f                             hello'
    """
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        hexpart = " ".join(row[j : j + 2].hex() for j in range(0, len(row), 2))
        yield f"{start + i:08x}: {hexpart:<39}  {row.translate(_PRINTABLE).decode('ascii')}"


def cmd_dump(args: argparse.Namespace, out: Output) -> int:
    with MemoryMappedFile.open_ro(args.path) as m:
        size = len(m)
        offset = args.offset
        length = args.length if args.length is not None else max(0, size - offset)
        if offset > size or length > size - offset:
            raise UsageError(
                f"range offset={offset} length={length} is outside {str(m.path)!r} "
                f"(size {size} bytes)"
            )
        step = 64 * 1024  # a multiple of 16, so every line stays whole
        write = out.stream.write
        for pos in range(offset, offset + length, step):
            n = min(step, offset + length - pos)
            lines = hexdump_lines(m.read_bytes(pos, n), pos)
            write("\n".join(lines) + "\n")
    return 0


# -- warm / evict ---------------------------------------------------------------


def _fadvise(fd: int, advice_name: str, path: str) -> None:
    advise = getattr(os, "posix_fadvise", None)
    advice = getattr(os, advice_name, None)
    if advise is None or advice is None:
        raise MmapIoError(f"{PROG}: posix_fadvise is not available on this platform ({path!r})")
    try:
        advise(fd, 0, 0, advice)
    except OSError as exc:
        raise from_oserror(exc, path, "posix_fadvise failed") from None


def cmd_warm(args: argparse.Namespace, out: Output) -> int:
    with MemoryMappedFile.open_ro(args.path) as m:
        path = str(m.path)
        size = len(m)
        if size == 0:
            out.line(f"{path}: empty file, nothing to warm")
            return 0
        t0 = time.perf_counter()
        prefetch = getattr(m, "prefetch_range", None)
        if prefetch is not None:
            prefetch(0, size)
        else:
            _fadvise(m.fileno(), "POSIX_FADV_WILLNEED", path)
        touch = getattr(m, "touch_pages", None)
        if touch is not None:
            touch()
        else:
            for view in m.pages():
                view[0]  # one read faults the page in
        elapsed = time.perf_counter() - t0
        res = _residency(m)
    msg = f"{path}: warmed {_pages(size)} pages ({_fmt_bytes(size)}) in {elapsed * 1e3:.1f} ms"
    if res is not None:
        msg += f"; {res[0]} of {res[1]} pages resident"
    out.line(msg)
    return 0


def cmd_evict(args: argparse.Namespace, out: Output) -> int:
    path = os.fsdecode(args.path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise from_oserror(exc, path, "cannot open") from None
    try:
        if os.path.isdir(path):
            raise from_oserror(IsADirectoryError(21, "Is a directory"), path, "cannot evict")
        _fadvise(fd, "POSIX_FADV_DONTNEED", path)
    finally:
        os.close(fd)
    msg = f"{path}: asked the kernel to drop its clean cached pages"
    size = os.stat(path).st_size
    if size:
        with MemoryMappedFile.open_ro(path) as m:
            res = _residency(m)
        if res is not None:
            msg += f"; {res[0]} of {res[1]} pages still resident"
    out.line(msg)
    return 0


def cmd_watch(args: argparse.Namespace, out: Output) -> int:
    import queue

    from .watch import ChangeEvent

    events: queue.Queue[ChangeEvent] = queue.Queue()
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    seen = 0
    with MemoryMappedFile.open_ro(args.path) as m, m.watch(events.put, poll_ms=args.poll_ms):
        out.line(f"watching {m.path} (Ctrl-C to stop)")
        sys.stdout.flush()
        while args.count is None or seen < args.count:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                break
            try:
                event = events.get(timeout=0.2 if timeout is None else min(timeout, 0.2))
            except queue.Empty:
                continue
            where = "" if event.offset is None else f" offset={event.offset} length={event.length}"
            out.line(f"{time.strftime('%H:%M:%S')} {event.kind.name}{where}")
            sys.stdout.flush()
            seen += 1
    return 0


# -- bench ----------------------------------------------------------------------


def _loop(stmt: str, names: dict[str, object]) -> Callable[[], object]:
    """A function running ``stmt`` once for each ``a`` in ``offsets``.

    Compiled from the statement the table shows, as ``timeit`` does: the
    operation stays inline in the loop, so neither side pays an extra call
    per operation, and what is shown is what was timed.
    """
    namespace: dict[str, Any] = dict(names)
    exec(f"def run():\n    for a in offsets:\n        {stmt}\n", namespace)
    run: Callable[[], object] = namespace["run"]
    return run


def _time_pair(
    ours: Callable[[], object], base: Callable[[], object], ops: int, rounds: int
) -> tuple[float, float]:
    """Median ns per operation of ``ours`` and ``base`` (each performs ``ops``
    operations), timed in alternating rounds so drift hits both alike."""
    ours()
    base()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, acc in ((ours, samples[0]), (base, samples[1])):
            t0 = time.perf_counter_ns()
            fn()
            acc.append((time.perf_counter_ns() - t0) / ops)
    a, b = sorted(samples[0]), sorted(samples[1])
    return a[len(a) // 2], b[len(b) // 2]


def cmd_bench(args: argparse.Namespace, out: Output) -> int:
    quick = args.quick
    size = 1 << 20
    ops, rounds = (2_000, 5) if quick else (20_000, 15)
    step = 4096 + 64
    offsets = [(i * step) % (size - 64) for i in range(ops)]
    data64 = os.urandom(64)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="mmapio-bench-") as d:
        path = os.path.join(d, "bench.bin")
        with open(path, "wb") as wf:
            wf.write(os.urandom(size))
        with (
            MemoryMappedFile.open_rw(path) as m,
            open(path, "r+b") as f,
            mmap.mmap(f.fileno(), 0) as mm,
        ):
            mv = memoryview(mm)
            names = {
                "offsets": offsets,
                "data64": data64,
                "read_bytes": m.read_bytes,
                "as_slice": m.as_slice,
                "update_region": m.update_region,
                "mm": mm,
                "mv": mv,
            }
            # (mmap_io statement, stdlib statement as shown, stdlib statement run)
            cases = [
                ("read_bytes(a, 64)", "mm[a:a+64]", "mm[a:a+64]"),
                ("as_slice(a, 64)", "memoryview(mm)[a:a+64]", "mv[a:a+64]"),
                ("update_region(a, data64)", "mv[a:a+64] = data64", "mv[a:a+64] = data64"),
            ]
            for name, base_name, base_stmt in cases:
                ours, base = _loop(name, names), _loop(base_stmt, names)
                t_ours, t_base = _time_pair(ours, base, ops, rounds)
                rows.append(
                    [name, f"{t_ours:.1f}", base_name, f"{t_base:.1f}", f"{t_ours / t_base:.2f}x"]
                )
            mv.release()
            m.flush()
    out.table(
        f"mmap_io vs stdlib mmap, 64-byte ops on a warm 1 MiB file "
        f"({ops} ops x {rounds} rounds, median ns/op incl. loop)",
        ["mmap_io op", "ns/op", "stdlib op", "ns/op", "ratio"],
        rows,
    )
    return 0


# -- demo -----------------------------------------------------------------------


class DemoFailed(MmapIoError):
    """A demo check did not hold: the library misbehaved."""


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise DemoFailed(f"demo check failed: {what}")


def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    t0 = time.perf_counter()
    d = tempfile.mkdtemp(prefix="mmapio-demo-")
    try:
        _demo(d, out)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    out.step("clean up")
    _expect(not os.path.exists(d), "temp dir removed")
    out.ok(f"removed {d}")
    out.line(f"demo passed in {(time.perf_counter() - t0) * 1e3:.0f} ms")
    return 0


def _demo(d: str, out: Output) -> None:
    path = os.path.join(d, "demo.bin")
    size = 1 << 20

    out.step(f"create a {size >> 20} MiB file and map it read-write")
    policy = FlushPolicy.every_bytes(64 << 10)
    m = MemoryMappedFile.create_rw(path, size, flush_policy=policy)
    with m:
        _expect(len(m) == size and m.read_bytes(0, 4) == bytes(4), "new file reads as zeros")
        out.ok(f"{m!r}, flush policy {m.flush_policy!r}")

        out.step("write with update_region")
        m.update_region(0, b"hello mmap-io")
        _expect(m.pending_bytes == 13, "pending_bytes counts the write")
        out.ok(f"wrote 13 bytes at offset 0; pending_bytes = {m.pending_bytes}")

        out.step("zero-copy read with as_slice")
        view = m.as_slice(0, 5)
        _expect(isinstance(view, memoryview) and view.readonly, "read-only memoryview")
        _expect(bytes(view) == b"hello", "view sees the written bytes")
        m.update_region(0, b"H")
        _expect(bytes(view) == b"Hello", "view is live: no copy was made")
        m.update_region(0, b"h")
        out.ok(f"as_slice(0, 5) -> memoryview {bytes(view)!r}, and it sees later writes")

        out.step("a live view blocks close() with BusyError")
        try:
            m.close()
        except BusyError as exc:
            out.ok(f"BusyError: {exc}")
        else:
            _expect(False, "close() with a live view raises BusyError")
        _expect(not m.closed, "the mapping stays open and usable")
        view.release()
        out.ok("after view.release() the mapping can close")

        out.step("every range is bounds-checked")
        for off, n in ((size - 2, 10), (2**64 - 1, 2), (-1, 1)):
            try:
                m.read_bytes(off, n)
            except OutOfBoundsError as exc:
                _expect(exc.total == size, "the error carries the mapping's length")
                out.ok(f"read_bytes({off}, {n}) -> OutOfBoundsError(offset={exc.offset})")
            else:
                _expect(False, f"read_bytes({off}, {n}) raises OutOfBoundsError")

        out.step("flush: make the writes durable (msync)")
        m.flush()
        _expect(m.pending_bytes == 0, "flush() resets pending_bytes")
        with MemoryMappedFile.open_ro(path) as ro:
            _expect(ro.read_bytes(0, 13) == b"hello mmap-io", "a new mapping sees the data")
            try:
                ro.update_region(0, b"x")
            except InvalidModeError:
                pass
            else:
                _expect(False, "a read-only mapping refuses writes")
        out.ok("pending_bytes = 0; a fresh read-only mapping sees b'hello mmap-io'")

    out.step("copy-on-write: private edits")
    with MemoryMappedFile.open_cow(path) as cow:
        cow.update_region(0, b"HELLO")
        _expect(cow.read_bytes(0, 5) == b"HELLO", "the COW mapping sees its edit")
    with open(path, "rb") as f:
        _expect(f.read(5) == b"hello", "the file is unchanged")
    out.ok("the COW mapping read b'HELLO'; the file still holds b'hello'")

    out.step("zero-copy chunks + crc32")
    with MemoryMappedFile.open_ro(path) as ro:
        crc = 0
        count = 0
        for chunk in ro.chunks(64 << 10):
            crc = zlib.crc32(chunk, crc)
            count += 1
    with open(path, "rb") as f:
        _expect(crc == zlib.crc32(f.read()), "crc32 over chunks equals crc32 of the file")
    out.ok(f"crc32 over {count} chunks of 64 KiB = {crc:#010x}, same as reading the file")


# -- main -----------------------------------------------------------------------


def _positive(text: str) -> int:
    value = _int_arg(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mmapio`` (exposed for documentation tools)."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, warm, evict, dump and watch memory-mapped files; demo and "
        "benchmark "
        "mmap_io.",
        epilog="Exit status: 0 ok, 1 library/OS error, 2 usage error.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--plain", action="store_true", help="plain text output even if rich is here")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("demo", help="a short self-demonstration in a temp dir")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("info", help="size, modes, pages and page-cache residency of a file")
    s.add_argument("path", help="file to inspect")
    s.add_argument("--json", action="store_true", help="print a JSON object")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("dump", help="xxd-style hexdump of a range of a file")
    s.add_argument("path", help="file to dump")
    s.add_argument("-s", "--offset", type=_int_arg, default=0, help="start (default 0)")
    s.add_argument(
        "-l", "--length", type=_int_arg, default=None, help="bytes to dump (default: to the end)"
    )
    s.set_defaults(func=cmd_dump)

    s = sub.add_parser("warm", help="prefetch and fault in every page of a file")
    s.add_argument("path", help="file to warm")
    s.set_defaults(func=cmd_warm)

    s = sub.add_parser("evict", help="drop a file's clean pages from the page cache")
    s.add_argument("path", help="file to evict")
    s.set_defaults(func=cmd_evict)

    s = sub.add_parser("watch", help="print changes to a file as they happen")
    s.add_argument("path", help="file to watch")
    s.add_argument("--count", type=_positive, default=None, help="stop after N events")
    s.add_argument("--seconds", type=float, default=None, help="stop after this long")
    s.add_argument("--poll-ms", type=_positive, default=100, help="mtime poll period (default 100)")
    s.set_defaults(func=cmd_watch)

    s = sub.add_parser("bench", help="mmap_io vs stdlib mmap on a temp file")
    s.add_argument("--quick", action="store_true", help="a short run (well under a second)")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mmapio`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    out = Output(plain=args.plain)
    try:
        return int(args.func(args, out))
    except UsageError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (MmapIoError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            return 1
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
