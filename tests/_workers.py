"""Functions run in spawned child processes by the tests.

They live in an importable module so multiprocessing's spawn start method
can find them; each reports back through its exit code or a queue.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from mmap_io import FileTruncatedError, MemoryMappedFile, MmapIoError

PAGE = os.sysconf("SC_PAGESIZE")


def truncated_copies(path: str, result: Any) -> None:
    """Map ``path`` (at least 17 pages), truncate it to one page through another
    descriptor, then try every library copy past the new end.

    Puts a list of (call, exception class name, is FileTruncatedError, message)
    on ``result``; dying of SIGBUS instead is what the parent checks for.
    """
    out: list[tuple[str, str, bool, str]] = []
    with MemoryMappedFile.open_rw(path) as m:
        m.update_region(0, b"\xab" * len(m))
        os.truncate(path, PAGE)
        big = 64 * 1024  # at the size where copies release the GIL
        calls = {
            "read_bytes": lambda: m.read_bytes(2 * PAGE, 16),
            "read_bytes_big": lambda: m.read_bytes(PAGE, big),
            "read_into": lambda: m.read_into(3 * PAGE, bytearray(100)),
            "read_into_big": lambda: m.read_into(PAGE, bytearray(big)),
            "update_region": lambda: m.update_region(4 * PAGE, b"x" * 10),
            "update_region_big": lambda: m.update_region(PAGE, b"x" * big),
            "straddling": lambda: m.read_bytes(PAGE - 8, 16),
            "chunks_owned": lambda: list(m.chunks_owned(PAGE)),
            "reader": lambda: m.reader().read(),
            "segment_write": lambda: m.segment_mut(5 * PAGE, 8).write(b"y" * 8),
        }
        for name, call in calls.items():
            try:
                call()
            except MmapIoError as exc:
                out.append(
                    (name, type(exc).__name__, isinstance(exc, FileTruncatedError), str(exc))
                )
            else:
                out.append((name, "", False, "no error"))
        # the surviving page is still fine
        ok = m.read_bytes(0, 4) == b"\xab" * 4
        out.append(("first_page", "", ok, ""))
    result.put(out)


def flush_then_die(path: str, payload: bytes, ready: Any) -> None:
    """Write ``payload`` at offset 0, flush, say so, and die by SIGKILL."""
    m = MemoryMappedFile.open_rw(path)
    m.update_region(0, payload)
    m.flush()
    ready.send(m.pending_bytes)  # a pipe: sent before we die, unlike a queue
    os.kill(os.getpid(), signal.SIGKILL)


def flush_range_then_die(path: str, offset: int, payload: bytes, ready: Any) -> None:
    """Write ``payload`` at ``offset``, flush that range, die by SIGKILL."""
    m = MemoryMappedFile.open_rw(path)
    m.update_region(offset, payload)
    m.flush_range(offset, len(payload))
    ready.send(True)
    os.kill(os.getpid(), signal.SIGKILL)


def unguarded_fault(path: str, enable_faulthandler_between: bool) -> None:
    """Fault on a truncated page through a plain memoryview (not a library
    copy): the process must die of SIGBUS, also when faulthandler was
    enabled between two mappings (the two handlers then chain to each
    other)."""
    import faulthandler

    with open(path, "wb") as f:
        f.write(bytes(3 * PAGE))
    first = MemoryMappedFile.open_ro(path)
    if enable_faulthandler_between:
        faulthandler.enable()
    second = MemoryMappedFile.open_ro(path)
    os.truncate(path, 0)
    try:
        second.read_bytes(PAGE, 1)
    except FileTruncatedError:
        print("guarded copy ok", flush=True)
    view = memoryview(second)
    print(view[2 * PAGE], first)  # dies here
