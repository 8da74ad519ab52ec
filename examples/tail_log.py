"""Follow a log that another process is writing, like ``tail -f``.

A writer process appends lines to a log file. This process maps the file
read-only once, while it is still empty, and follows it with
``refresh()``: each call re-reads the file's size and grows the mapping to
match (with ``mremap`` on Linux), so there is no close and reopen per
poll. New bytes are copied out with ``read_bytes``, so no view is alive
when ``refresh()`` runs; a live view would make it raise ``BusyError``
(the mapping may move), as the end of the example shows.

Run: python examples/tail_log.py
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time

from mmap_io import BusyError, MemoryMappedFile

LINES = 40


def write_log(path: str, lines: int) -> None:
    """The other process: append ``lines`` lines, a few at a time, then END."""
    with open(path, "ab", buffering=0) as f:
        for i in range(lines):
            f.write(b"request %03d served in %d ms\n" % (i, 3 + i % 7))
            if i % 4 == 3:
                time.sleep(0.005)
        f.write(b"END\n")


def follow(log: MemoryMappedFile, timeout: float = 30.0) -> tuple[list[bytes], int]:
    """Collect complete lines as they appear, until the END line.

    Returns the lines and how many polls found the file grown."""
    lines: list[bytes] = []
    pos, partial, growths = 0, b"", 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        size = log.refresh()  # the file's size now; the mapping follows it
        if size == pos:
            time.sleep(0.001)
            continue
        growths += 1
        partial += log.read_bytes(pos, size - pos)  # a copy: no view stays alive
        pos = size
        *complete, partial = partial.split(b"\n")
        for line in complete:
            if line == b"END":
                return lines, growths
            lines.append(line)
    raise TimeoutError("the writer did not finish")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "app.log")
        open(path, "wb").close()  # an empty log: mapped read-only as an empty mapping
        with MemoryMappedFile.open_ro(path) as log:
            print(f"mapped {path!r}: {len(log)} bytes")
            writer = multiprocessing.get_context("spawn").Process(
                target=write_log, args=(path, LINES)
            )
            writer.start()
            lines, growths = follow(log)
            writer.join()
            print(f"followed {len(lines)} lines from process {writer.pid} in {growths} refreshes")
            print(f"first {lines[0]!r}")
            print(f"last  {lines[-1]!r}")
            print(f"mapping now {len(log)} bytes, the file {os.path.getsize(path)} bytes")

            view = log.as_slice(0, len(log))  # zero-copy scan of everything so far
            print(f"slow requests (9 ms): {bytes(view).count(b' in 9 ms')}")
            try:
                log.refresh()
            except BusyError as exc:
                print(f"refresh() while a view is alive: BusyError ({exc})")
            view.release()
            print(f"after release: refresh() -> {log.refresh()}")


if __name__ == "__main__":
    main()
