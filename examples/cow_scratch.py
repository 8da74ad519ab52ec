"""Copy-on-write scratch edits: change a mapped file privately.

A copy-on-write mapping accepts every write path (``update_region``,
``as_slice_mut``, ``chunks_mut``) but its pages are private: the file and
every other mapping of it keep the original bytes, and ``flush()`` is a
no-op. Handy for "what if" edits, patching a loaded asset in memory, or
tests that must not touch their fixtures. To keep the result, write it out
explicitly.

Run: python examples/cow_scratch.py
"""

from __future__ import annotations

import os
import tempfile

from mmap_io import MemoryMappedFile

CONFIG = b"mode=prod\nworkers=4\ndebug=off\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "app.conf")
        with open(path, "wb") as f:
            f.write(CONFIG)

        with MemoryMappedFile.open_cow(path) as scratch, MemoryMappedFile.open_ro(path) as ro:
            scratch.update_region(0, b"mode=test")
            view = scratch.as_slice_mut(len(CONFIG) - 4, 3)
            view[:] = b"on!"
            view.release()

            def upper(offset: int, chunk: memoryview) -> None:
                chunk[:] = bytes(chunk).upper()

            scratch.chunks_mut(8).for_each_mut(upper)
            scratch.flush()  # a no-op: nothing reaches the file
            edited = scratch.read_bytes(0, len(scratch))
            print(f"scratch copy:   {edited!r}")
            print(f"other mapping:  {ro.read_bytes(0, len(ro))!r}")

        with open(path, "rb") as f:
            on_disk = f.read()
        print(f"file on disk:   {on_disk!r}")
        assert on_disk == CONFIG and edited == b"MODE=TEST\nWORKERS=4\nDEBUG=ON!\n"

        out = os.path.join(d, "app.conf.new")  # keep the edit: write it out yourself
        with MemoryMappedFile.create_rw(out, len(edited)) as m:
            m.update_region(0, edited)
            m.flush()
        print(f"saved the edited copy to {os.path.basename(out)}")


if __name__ == "__main__":
    main()
