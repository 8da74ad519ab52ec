"""A fixed-record database file, one Segment/SegmentMut per record.

Each record is 32 bytes: id (u32), balance in cents (i64), name (20 bytes,
NUL-padded). A record's window is a ``SegmentMut``, so writes can never
spill into the neighbouring record: more bytes than the segment holds
raise ``OutOfBoundsError``.

Run: python examples/record_db.py
"""

from __future__ import annotations

import os
import struct
import tempfile

from mmap_io import MemoryMappedFile, OutOfBoundsError, Segment, SegmentMut

RECORD = struct.Struct("<Iq20s")  # 32 bytes


class RecordFile:
    def __init__(self, path: str, capacity: int) -> None:
        self.m = MemoryMappedFile.open_or_create(path, capacity * RECORD.size)
        self.capacity = len(self.m) // RECORD.size

    def slot(self, index: int) -> SegmentMut:
        return SegmentMut(self.m, index * RECORD.size, RECORD.size)

    def put(self, index: int, rid: int, balance: int, name: str) -> None:
        self.slot(index).write(RECORD.pack(rid, balance, name.encode()))

    def get(self, index: int) -> tuple[int, int, str]:
        rid, balance, name = RECORD.unpack(
            Segment(self.m, index * RECORD.size, RECORD.size).read_bytes()
        )
        return rid, balance, name.rstrip(b"\0").decode()

    def add_to_balance(self, index: int, cents: int) -> None:
        # Zero-copy in-place edit of one field through the segment's view.
        view = self.slot(index).as_slice_mut()
        try:
            (balance,) = struct.unpack_from("<q", view, 4)
            struct.pack_into("<q", view, 4, balance + cents)
        finally:
            view.release()  # a live view would block close()


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "accounts.db")
        db = RecordFile(path, capacity=100)
        for i, name in enumerate(["ada", "grace", "linus", "guido"]):
            db.put(i, 1000 + i, 100_00 * (i + 1), name)
        db.add_to_balance(2, -25_50)
        db.m.flush()
        print(f"{db.capacity} slots of {RECORD.size} bytes; record 2 = {db.get(2)}")
        try:
            db.slot(3).write(b"x" * (RECORD.size + 1))
        except OutOfBoundsError as exc:
            print(f"an oversized write is refused: {exc}")
        db.m.close()

        with MemoryMappedFile.open_ro(path) as m:  # another reader, read-only
            names = [
                RECORD.unpack(m.segment(i * RECORD.size, RECORD.size).read_bytes())[2]
                .rstrip(b"\0")
                .decode()
                for i in range(4)
            ]
            print(f"read back from disk: {names}")
            assert names == ["ada", "grace", "linus", "guido"]


if __name__ == "__main__":
    main()
