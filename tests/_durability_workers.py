"""Helpers of the durability tests: observing the page cache, and child workers.

How "flushed" is observed
-------------------------
Reading the file back proves nothing: ``os.pread``, a fresh mapping and even
an ``O_DIRECT`` read (which writes dirty pages back first) all see the page
cache. What tells "on disk" from "only in memory" is whether the cached page
is still *dirty*. ``/proc/self/smaps`` reports, per mapping (VMA), how many
KiB of its mapped pages are dirty (``Shared_Dirty`` + ``Private_Dirty``:
the page-table dirty bit or the page's own dirty flag). A page written
through a shared mapping is dirty until writeback has written it to the
file; ``msync(MS_SYNC)`` waits for exactly that and write-protects the page
again, so after a flush its mapped pages count as clean. Kernel writeback
on its own only starts after ``vm.dirty_expire_centisecs`` (30 s here), far
beyond a test, so a page dirty in a test is really unflushed.

Other probes were tried on this kernel and rejected: ``/proc/self/io``'s
``write_bytes`` grows when a page is *dirtied*, not when it is written back;
``posix_fadvise(POSIX_FADV_DONTNEED)`` itself starts writeback of dirty pages
(so it destroys the state it is meant to observe) and never drops pages
that are mapped; ``mincore`` reports residency, not cleanliness.
``/proc/kpageflags`` (root only) agrees with smaps.

Two ways to look:

* :func:`dirty_kib` of the mapping under test, when the test has only
  *written* through it (write faults map exactly the written pages; a read
  fault would also map up to 64 KiB of cached neighbours);
* :func:`file_state`, for a file as a whole (e.g. after its writer was
  killed): a fresh read-only mapping reads every page and reports the bytes
  and how many KiB of them are still dirty.

The ``child_*`` functions run in spawned processes (they must be importable).
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection

from mmap_io import FlushPolicy, MemoryMappedFile


def dirty_kib(addr: int) -> int:
    """KiB of dirty pages in this process's mapping that starts at ``addr``."""
    found = False
    total = 0
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(maxsplit=1)[0]
            if "-" in head and not head.endswith(":"):
                if found:
                    break
                found = int(head.split("-")[0], 16) == addr
            elif found and head in ("Shared_Dirty:", "Private_Dirty:"):
                total += int(line.split()[1])
    if not found:
        raise LookupError(f"no mapping starts at {addr:#x}")
    return total


def file_state(path: str | os.PathLike[str]) -> tuple[bytes, int]:
    """(contents, KiB still dirty in the page cache) of the whole file."""
    with MemoryMappedFile.open_ro(path) as o:
        data = o.read_bytes(0, len(o))  # faults every page in
        return data, dirty_kib(o.as_ptr())


# -- child processes ----------------------------------------------------------

PAYLOAD_OFFSET = 3 * 4096 + 100


def child_write(path: str, how: str, payload: bytes, conn: Connection) -> None:
    """Write ``payload`` as ``how`` says, report "flushed" when the library
    says the bytes are durable, then wait to be killed."""
    policy = {
        "always": FlushPolicy.ALWAYS,
        "every_bytes": FlushPolicy.every_bytes(len(payload)),
        "every_writes": FlushPolicy.every_writes(3),
        "every_millis": FlushPolicy.every_millis(20),
        "close": FlushPolicy.every_bytes(1 << 40),
    }.get(how, FlushPolicy.NEVER)
    m = MemoryMappedFile.open_rw(path, flush_policy=policy)
    off = PAYLOAD_OFFSET
    if how == "every_writes":
        third = len(payload) // 3
        m.update_region(off, payload[:third])
        m.update_region(off + third, payload[third : 2 * third])
        assert m.pending_bytes == 2 * third
        m.update_region(off + 2 * third, payload[2 * third :])
    elif how == "every_bytes":
        m.update_region(off, payload[:-1])
        assert m.pending_bytes == len(payload) - 1
        m.update_region(off + len(payload) - 1, payload[-1:])
    else:
        m.update_region(off, payload)
    if how == "every_millis":
        deadline = time.monotonic() + 5
        while m._needs_flush and time.monotonic() < deadline:
            time.sleep(0.002)
    elif how == "flush":
        m.flush()
    elif how == "flush_range":
        m.flush_range(off, len(payload))
    elif how == "close":
        m.close()
    if how == "unflushed":
        conn.send("written")
    else:
        assert m.closed or m.pending_bytes == 0, m.pending_bytes
        conn.send("flushed")
    time.sleep(60)  # the parent kills us before this ends
