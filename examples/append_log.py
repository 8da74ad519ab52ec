"""An append-only log: a header holding the write offset, then records.

Layout: ``MAGIC`` (8 bytes), the end offset of the log (u64), then records
of ``[u32 length][payload]``. Appending writes the record first and the
new end offset second, flushing in that order, so a crash can lose the
last record but never expose half of one. When the file is full it grows
with ``resize()``. Readers replay the log from a read-only mapping.

Run: python examples/append_log.py
"""

from __future__ import annotations

import os
import struct
import tempfile

from mmap_io import MemoryMappedFile, OutOfBoundsError

MAGIC = b"MMAPLOG1"
HEADER = struct.Struct("<8sQ")  # magic, end offset
LENGTH = struct.Struct("<I")


class AppendLog:
    def __init__(self, path: str, initial_size: int = 4096) -> None:
        self.m = MemoryMappedFile.open_or_create(path, initial_size)
        if self.m.read_bytes(0, len(MAGIC)) != MAGIC:  # a new file: write the header
            self.m.update_region(0, HEADER.pack(MAGIC, HEADER.size))
            self.m.flush()

    @property
    def end(self) -> int:
        return HEADER.unpack(self.m.read_bytes(0, HEADER.size))[1]

    def append(self, payload: bytes) -> int:
        start = self.end
        record = LENGTH.pack(len(payload)) + payload
        if len(self.m) - start < len(record):
            self.m.resize(max(2 * len(self.m), start + len(record)))
        self.m.update_region(start, record)
        self.m.flush_range(start, len(record))  # the record is durable first...
        self.m.update_region(8, struct.pack("<Q", start + len(record)))
        self.m.flush_range(0, HEADER.size)  # ...then the header points past it
        return start

    def close(self) -> None:
        self.m.close()


def replay(path: str) -> list[bytes]:
    """Read every committed record through a read-only mapping."""
    out = []
    with MemoryMappedFile.open_ro(path) as m:
        magic, end = HEADER.unpack(m.read_bytes(0, HEADER.size))
        assert magic == MAGIC, "not a log file"
        pos = HEADER.size
        while pos < end:
            (n,) = LENGTH.unpack(m.read_bytes(pos, LENGTH.size))
            out.append(m.read_bytes(pos + LENGTH.size, n))
            pos += LENGTH.size + n
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "events.log")
        log = AppendLog(path, initial_size=256)
        for i in range(20):
            log.append(f"event {i}: user logged in".encode())
        print(f"appended 20 records; log end at byte {log.end}, file grew to {len(log.m)} bytes")
        log.close()

        log = AppendLog(path)  # reopen: the header says where to continue
        log.append(b"event 20: after reopen")
        log.close()

        records = replay(path)
        print(f"replayed {len(records)} records; first {records[0]!r}, last {records[-1]!r}")
        assert records[-1] == b"event 20: after reopen"

        with MemoryMappedFile.open_ro(path) as m:
            try:
                m.read_bytes(len(m) - 2, 8)  # a corrupt length could point anywhere
            except OutOfBoundsError as exc:
                print(f"reading past the end is refused: OutOfBoundsError(total={exc.total})")


if __name__ == "__main__":
    main()
