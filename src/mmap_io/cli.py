"""The ``mmapio`` command line (also ``python -m mmap_io``).

Subcommands: ``demo``, ``info``, ``dump``, ``warm``, ``evict``, ``watch`` and
``bench``; ``mmapio <command> --help`` describes each. Output uses ``rich``
when it is installed (the ``cli`` extra) and plain text otherwise or with
``--plain``.

Every failure is one line on stderr, never a traceback. Exit status: 0 on
success, 1 when the library or the operating system reports an error or a
path is not a regular file, 2 for usage errors (bad arguments, a dump range
outside the file), 130 on Ctrl-C.

>>> from mmap_io.cli import main
>>> main(["info", "--json", "data.bin"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import binascii
import contextlib
import functools
import importlib
import json
import math
import mmap
import os
import platform
import shutil
import stat
import sys
import tempfile
import time
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from . import __version__
from ._core import page_size
from .enums import MmapMode
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
# Smaller files are warmed or evicted before a progress bar is worth drawing.
PROGRESS_MIN_BYTES = 64 << 20
_PROGRESS_STEP = 16 << 20


class UsageError(Exception):
    """A request the command line cannot carry out as asked (exit status 2)."""


class InputError(Exception):
    """A path the command cannot work on, such as a FIFO (exit status 1)."""


# -- output -------------------------------------------------------------------


class Output:
    """Plain-text or rich output, chosen once per run.

    ``rich`` is imported lazily and only when present; everything this class
    prints reads the same without it.
    """

    def __init__(self, plain: bool, stream: TextIO | None = None) -> None:
        self.plain = plain
        self.stream = stream if stream is not None else sys.stdout

    @functools.cached_property
    def _console(self) -> Any:
        """A rich console, made on first use: ``dump`` never pays for rich."""
        if self.plain:
            return None
        try:
            console_mod = importlib.import_module("rich.console")
        except ImportError:
            return None
        return console_mod.Console(file=self.stream, highlight=False)

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

    def binary_writer(self) -> Callable[[bytes], None]:
        """A ``write`` for ASCII bytes: the stream's byte buffer when it has one."""
        self.stream.flush()
        buffer = getattr(self.stream, "buffer", None)
        if buffer is None:

            def write_text(data: bytes) -> None:
                self.stream.write(data.decode("ascii"))

            return write_text

        def write_all(data: bytes) -> None:
            # A big write into a pipe whose reader went away can return a
            # short count instead of raising; the next write raises EPIPE.
            view = memoryview(data)
            while view:
                view = view[buffer.write(view) :]

        return write_all

    @contextlib.contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], object]]:
        """Yield ``advance(nbytes)``. It drives a transient rich progress bar on
        stderr when stderr is a terminal, rich is here, output is not plain
        and ``total`` is at least :data:`PROGRESS_MIN_BYTES`; else it does
        nothing, so piped output carries nothing extra."""
        if self.plain or total < PROGRESS_MIN_BYTES or not _isatty(sys.stderr):
            yield lambda n: None
            return
        try:
            console_mod = importlib.import_module("rich.console")
            progress_mod = importlib.import_module("rich.progress")
        except ImportError:
            yield lambda n: None
            return
        bar = progress_mod.Progress(
            progress_mod.TextColumn("{task.description}"),
            progress_mod.BarColumn(),
            progress_mod.DownloadColumn(binary_units=True),
            progress_mod.TimeRemainingColumn(),
            console=console_mod.Console(file=sys.stderr),
            transient=True,
        )
        with bar:
            task = bar.add_task(_escape(description), total=total)
            yield lambda n: bar.advance(task, n)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def _fmt_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# -- argument types -------------------------------------------------------------


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short when it is long."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _int_arg(text: str) -> int:
    """An argparse type: a non-negative int, decimal or 0x/0o/0b prefixed."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {_shown(text)}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {_shown(text)}")
    return value


def _positive(text: str) -> int:
    value = _int_arg(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _poll_ms(text: str) -> int:
    value = _positive(text)
    if value > 3_600_000:
        raise argparse.ArgumentTypeError(f"must be at most 3600000 (an hour), got {value}")
    return value


def _seconds(text: str) -> float:
    """An argparse type: a finite, non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {_shown(text)}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {_shown(text)}")
    return value


# -- opening files --------------------------------------------------------------

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _require_regular(st: os.stat_result, path: str) -> None:
    for test, kind in _NOT_REGULAR:
        if test(st.st_mode):
            raise InputError(f"{path!r} is {kind}, not a regular file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path!r} is not a regular file")


def _open_regular(path: str) -> int:
    """A read-only descriptor for the regular file at ``path``.

    Anything else (FIFO, device, directory, socket) is refused before it is
    opened, because opening one can block or have side effects, and checked
    again on the descriptor in case the path changed in between.
    """
    try:
        _require_regular(os.stat(path), path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise from_oserror(exc, path, "cannot open") from None
    try:
        _require_regular(os.fstat(fd), path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_mapping(path: str) -> MemoryMappedFile:
    """Map the regular file at ``path`` read-only."""
    fd = _open_regular(path)
    try:
        return MemoryMappedFile.from_file(fd, MmapMode.READ_ONLY, path)
    finally:
        os.close(fd)


def _writable(path: str) -> bool:
    """Whether this process could open ``path`` for writing, asked without
    opening it (an open for writing is a modification to file watchers)."""
    effective = os.access in os.supports_effective_ids
    return os.access(path, os.W_OK, effective_ids=effective)


def _residency(m: MemoryMappedFile) -> tuple[int, int] | None:
    """``(resident, total)`` pages, or None for an empty mapping."""
    if len(m) == 0:
        return None
    r = m.residency()
    return int(r.resident), int(r.total)


def _pages(size: int) -> int:
    return -(-size // page_size())


def _possible_modes(path: str, size: int) -> list[str]:
    """The modes the file can be mapped in by this process (it is readable)."""
    modes = ["READ_ONLY"]
    if size > 0:  # an empty file cannot be mapped read-write or copy-on-write
        if _writable(path):
            modes.append("READ_WRITE")
        modes.append("COPY_ON_WRITE")
    return modes


# -- info -----------------------------------------------------------------------


def cmd_info(args: argparse.Namespace, out: Output) -> int:
    with _open_mapping(args.path) as m:
        path = str(m.path)
        size = len(m)
        info: dict[str, Any] = {
            "path": path,
            "size": size,
            "page_size": page_size(),
            "pages": _pages(size),
            "modes": _possible_modes(path, size),
        }
        res = _residency(m)
    if res is not None:
        info["resident_pages"], _total = res
        info["resident_fraction"] = res[0] / res[1] if res[1] else 0.0
    if args.json:
        print(json.dumps(info, indent=2), file=out.stream)
        return 0
    rows = [
        ["path", path],
        ["size", f"{size} bytes" + (f" ({_fmt_bytes(size)})" if size >= 1024 else "")],
        ["page size", f"{info['page_size']} bytes"],
        ["pages", str(info["pages"])],
        ["modes", ", ".join(x.lower().replace("_", "-") for x in info["modes"])],
    ]
    if res is not None:
        pct = 100.0 * info["resident_fraction"]
        rows.append(["resident", f"{res[0]} of {res[1]} pages ({pct:.1f}%)"])
    out.table("", ["field", "value"], rows, numeric=False)
    return 0


# -- dump -----------------------------------------------------------------------


_PRINTABLE = bytes(c if 0x20 <= c < 0x7F else 0x2E for c in range(256))
_DUMP_STEP = 1 << 20  # bytes formatted per batch: a multiple of 16, so lines stay whole


def hexdump_lines(data: bytes, start: int) -> Iterator[str]:
    """``xxd``-style lines for ``data`` whose first byte is at offset ``start``.

    >>> next(hexdump_lines(b"hello", 0))
    '00000000: 6865 6c6c 6f                             hello'
    """
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        hexpart = " ".join(row[j : j + 2].hex() for j in range(0, len(row), 2))
        yield f"{start + i:08x}: {hexpart:<39}  {row.translate(_PRINTABLE).decode('ascii')}"


def hexdump(data: bytes, start: int) -> bytes:
    """The text of :func:`hexdump_lines` (each line ending in a newline) as
    ASCII bytes, built in bulk for speed.

    >>> hexdump(b"hello world, hi!", 0x20)
    b'00000020: 6865 6c6c 6f20 776f 726c 642c 2068 6921  hello world, hi!\\n'
    """
    full = len(data) - len(data) % 16
    parts: list[bytes | bytearray] = []
    pos = 0
    while pos < full:
        offset = start + pos
        width = max(8, len(f"{offset:x}"))
        # Rows up to the first offset printed with one more digit.
        rows = min((full - pos) // 16, -(-(16**width - offset) // 16))
        parts.append(_hexdump_rows(data[pos : pos + 16 * rows], offset, width))
        pos += 16 * rows
    if full < len(data):
        (last,) = hexdump_lines(data[full:], start + full)
        parts.append(last.encode("ascii") + b"\n")
    return b"".join(parts)


def _hexdump_rows(data: bytes, start: int, width: int) -> bytearray:
    """Whole 16-byte rows whose offsets all print with ``width`` digits.

    Python-level work per line would cost ~1 us; instead each output column
    is filled for every line at once with a strided slice assignment from
    bulk-converted text (``binascii.hexlify``, ``bytes.translate``).
    """
    rows = len(data) // 16
    size = width + 60  # offset, ": ", 39 hex, "  ", 16 text, "\n"
    out = bytearray((b" " * width + b":" + b" " * 58 + b"\n") * rows)
    offsets = array("Q", range(start, start + 16 * rows, 16))
    if sys.byteorder == "little":
        offsets.byteswap()
    digits = binascii.hexlify(offsets)  # 16 digits a line
    for c in range(width):
        out[c::size] = digits[16 - width + c :: 16]
    hexed = binascii.hexlify(data)  # 32 digits a line, in groups of 4 at 5-column steps
    for i in range(32):
        out[width + 2 + i + i // 4 :: size] = hexed[i::32]
    text = data.translate(_PRINTABLE)
    for j in range(16):
        out[width + 43 + j :: size] = text[j::16]
    return out


def cmd_dump(args: argparse.Namespace, out: Output) -> int:
    with _open_mapping(args.path) as m:
        size = len(m)
        offset = args.offset
        length = args.length if args.length is not None else max(0, size - offset)
        if offset > size or length > size - offset:
            raise UsageError(
                f"range offset={offset} length={length} is outside {str(m.path)!r} "
                f"(size {size} bytes)"
            )
        write = out.binary_writer()
        for pos in range(offset, offset + length, _DUMP_STEP):
            n = min(_DUMP_STEP, offset + length - pos)
            write(hexdump(m.read_bytes(pos, n), pos))
    return 0


# -- warm / evict ---------------------------------------------------------------


def _fadvise(fd: int, offset: int, length: int, advice_name: str, path: str) -> None:
    advise = getattr(os, "posix_fadvise", None)
    advice = getattr(os, advice_name, None)
    if advise is None or advice is None:
        raise InputError(f"posix_fadvise is not available on this platform ({path!r})")
    try:
        advise(fd, offset, length, advice)
    except OSError as exc:
        raise from_oserror(exc, path, "posix_fadvise failed") from None


def _steps(size: int) -> Iterator[tuple[int, int]]:
    for offset in range(0, size, _PROGRESS_STEP):
        yield offset, min(_PROGRESS_STEP, size - offset)


def cmd_warm(args: argparse.Namespace, out: Output) -> int:
    with _open_mapping(args.path) as m:
        path = str(m.path)
        size = len(m)
        if size == 0:
            out.line(f"{path}: empty file, nothing to warm")
            return 0
        t0 = time.perf_counter()
        with out.progress(f"warm {path}", size) as advance:
            m.prefetch_range(0, min(_PROGRESS_STEP, size))
            for offset, length in _steps(size):
                # The next step is read ahead while this one is faulted in.
                end = offset + length
                m.prefetch_range(end, min(_PROGRESS_STEP, size - end))
                m.touch_pages_range(offset, length)
                advance(length)
        elapsed = time.perf_counter() - t0
        res = _residency(m)
    msg = f"{path}: warmed {_pages(size)} pages ({_fmt_bytes(size)}) in {elapsed * 1e3:.1f} ms"
    if res is not None:
        msg += f"; {res[0]} of {res[1]} pages resident"
    out.line(msg)
    return 0


# cachestat(2), Linux 6.5+: the same number on every architecture but alpha.
_SYS_CACHESTAT = 451


def _dirty_pages(fd: int) -> int | None:
    """Pages of the file that are dirty or being written back (cachestat(2)),
    or None where the kernel cannot tell."""
    if not sys.platform.startswith("linux") or platform.machine().startswith("alpha"):
        return None
    import ctypes  # here: only evict needs it

    class CacheStat(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_uint64)
            for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
        ]

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    whole_file = (ctypes.c_uint64 * 2)(0, 0)  # struct cachestat_range {off, len = to end}
    st = CacheStat()
    if libc.syscall(_SYS_CACHESTAT, fd, ctypes.byref(whole_file), ctypes.byref(st), 0) != 0:
        return None  # ENOSYS on older kernels
    return int(st.dirty + st.writeback)


def cmd_evict(args: argparse.Namespace, out: Output) -> int:
    path = os.fsdecode(args.path)
    fd = _open_regular(path)
    try:
        size = os.fstat(fd).st_size
        dirty = _dirty_pages(fd)
        with out.progress(f"evict {path}", size) as advance:
            for offset, length in _steps(size):
                _fadvise(fd, offset, length, "POSIX_FADV_DONTNEED", path)
                advance(length)
        msg = f"{path}: asked the kernel to drop its clean cached pages"
        left = 0
        if size:
            with MemoryMappedFile.from_file(fd, MmapMode.READ_ONLY, path) as m:
                residency = m.residency()
            left = residency.resident
            msg += f"; {left} of {residency.total} pages still resident"
    finally:
        os.close(fd)
    out.line(msg)
    note = _evict_note(dirty, left)
    if note:
        _error("evict", f"note: {note}")
    return 0


def _evict_note(dirty: int | None, left: int) -> str | None:
    """Why pages stayed cached: dirty pages (counted before the eviction,
    which starts their writeback) or, with none dirty, mappings."""
    if dirty:
        return (
            f"{dirty} pages were dirty (written, not yet synced) and stay cached: "
            "flush the mapping that wrote them or run sync, then evict again"
        )
    if not left:
        return None
    if dirty is None:  # the kernel cannot count dirty pages
        return (
            f"{left} pages stay cached: they are dirty (written, not yet synced) "
            "or mapped by a process; flush or run sync, then evict again"
        )
    return f"{left} pages stay cached: a process has them mapped or locked"


# -- watch ----------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace, out: Output) -> int:
    import queue

    from .watch import ChangeEvent

    try:
        MemoryMappedFile.watch  # noqa: B018 (absent without the watch extra)
    except AttributeError as exc:
        raise InputError(str(exc)) from None
    events: queue.Queue[ChangeEvent] = queue.Queue()
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    seen = 0
    with _open_mapping(args.path) as m, m.watch(events.put, poll_ms=args.poll_ms):
        out.line(f"watching {m.path} (Ctrl-C to stop)")
        out.stream.flush()
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
            out.stream.flush()
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

        out.step("a live view blocks resize() with BusyError")
        try:
            m.resize(2 * size)
        except BusyError as exc:
            out.ok(f"BusyError: {exc}")
        else:
            _expect(False, "resize() with a live view raises BusyError")
        _expect(not m.closed and len(m) == size, "the mapping stays intact and usable")
        view.release()
        out.ok("after view.release() the mapping can resize (close() never waits)")

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

_COMMANDS: list[tuple[str, str, str]] = [
    (
        "demo",
        "a short self-demonstration in a temp dir",
        "Create, write, read, flush and remap a 1 MiB file in a temporary "
        "directory, checking every step; exit 1 if any check fails.",
    ),
    (
        "info",
        "size, modes, pages and page-cache residency of a file",
        "Print a file's size, the system page size, its page count, the modes "
        "this process can map it in and how many of its pages are cached. The "
        "file is only opened for reading.",
    ),
    (
        "dump",
        "xxd-style hexdump of a range of a file",
        "Hexdump a range of a file in xxd's format (the same output as "
        "xxd -s OFFSET -l LENGTH). Numbers may be decimal or 0x-prefixed.",
    ),
    (
        "warm",
        "prefetch and fault in every page of a file",
        "Bring a whole file into memory: read-ahead, then fault every page in. "
        "Shows a progress bar for large files when stderr is a terminal.",
    ),
    (
        "evict",
        "drop a file's clean pages from the page cache",
        "Drop a file's clean pages from the page cache (posix_fadvise "
        "DONTNEED). Dirty pages stay; the command says when there were some. "
        "Shows a progress bar for large files when stderr is a terminal.",
    ),
    (
        "watch",
        "print changes to a file as they happen",
        "Print each change made to a file, by any process, until Ctrl-C, "
        "--count events or --seconds. Needs the watch extra "
        "(pip install 'mmap-io[watch]').",
    ),
    (
        "bench",
        "mmap_io vs stdlib mmap on a temp file",
        "Time 64-byte reads, zero-copy slices and writes against the stdlib "
        "mmap module on a temporary 1 MiB file.",
    ),
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mmapio`` (exposed for documentation tools)."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, warm, evict, dump and watch memory-mapped files; demo and "
        "benchmark mmap_io.",
        epilog="Exit status: 0 ok, 1 library/OS error, 2 usage error, 130 interrupted.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--plain", action="store_true", help="plain text output even if rich is here")
    # --plain is also accepted after the command; SUPPRESS keeps the value
    # given before the command when it is not repeated after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plain",
        action="store_true",
        default=argparse.SUPPRESS,
        help="plain text output even if rich is here",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parsers = {
        name: sub.add_parser(name, help=short, description=long, parents=[common])
        for name, short, long in _COMMANDS
    }
    parsers["demo"].set_defaults(func=cmd_demo)

    s = parsers["info"]
    s.add_argument("path", help="file to inspect")
    s.add_argument("--json", action="store_true", help="print a JSON object")
    s.set_defaults(func=cmd_info)

    s = parsers["dump"]
    s.add_argument("path", help="file to dump")
    s.add_argument(
        "-s", "--offset", type=_int_arg, default=0, metavar="N", help="start (default 0)"
    )
    s.add_argument(
        "-l",
        "--length",
        type=_int_arg,
        default=None,
        metavar="N",
        help="bytes to dump (default: to the end)",
    )
    s.set_defaults(func=cmd_dump)

    s = parsers["warm"]
    s.add_argument("path", help="file to warm")
    s.set_defaults(func=cmd_warm)

    s = parsers["evict"]
    s.add_argument("path", help="file to evict")
    s.set_defaults(func=cmd_evict)

    s = parsers["watch"]
    s.add_argument("path", help="file to watch")
    s.add_argument("--count", type=_positive, default=None, metavar="N", help="stop after N events")
    s.add_argument(
        "--seconds", type=_seconds, default=None, metavar="S", help="stop after S seconds"
    )
    s.add_argument(
        "--poll-ms",
        type=_poll_ms,
        default=100,
        metavar="MS",
        help="mtime poll period in milliseconds (default 100)",
    )
    s.set_defaults(func=cmd_watch)

    s = parsers["bench"]
    s.add_argument("--quick", action="store_true", help="a short run (well under a second)")
    s.set_defaults(func=cmd_bench)
    return p


def _error(command: str, text: str) -> None:
    """One line on stderr (which may itself be gone: then nothing)."""
    with contextlib.suppress(OSError, ValueError):
        prefix = f"{PROG} {command}" if command else PROG
        print(f"{prefix}: {' '.join(text.split())}", file=sys.stderr)
        sys.stderr.flush()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush into a
    closed pipe cannot print a second error."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _drop_unwritable_output() -> None:
    """After an error, make sure output that cannot be written (a full disk)
    is not retried, and reported again, when the interpreter exits."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        _silence_stdout()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mmapio`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        _error("", "interrupted")
        return 130
    command = args.command
    try:
        if sys.stdout is None:
            raise InputError("standard output is closed")
        status = int(args.func(args, Output(plain=args.plain)))
        sys.stdout.flush()  # a full disk is reported here, not at exit
        return status
    except UsageError as exc:
        _error(command, f"error: {exc}")
        return 2
    except BrokenPipeError:
        _silence_stdout()
        _error(command, "error: output closed before the end (broken pipe)")
        return 1
    except (MmapIoError, OSError, InputError) as exc:
        _drop_unwritable_output()
        _error(command, f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _error(command, "interrupted")
        return 130
    except Exception as exc:  # a bug: still one line, naming the exception
        _error(command, f"internal error: {type(exc).__name__}: {exc}")
        return 1
