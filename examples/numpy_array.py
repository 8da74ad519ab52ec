"""numpy arrays over a mapping with ``as_array``: no copies.

Writes a float64 time series through a writable array on a read-write
mapping, flushes, then reads it back as a read-only array. Needs numpy
(``pip install 'mmap-io[numpy]'``).

Run: python examples/numpy_array.py
"""

from __future__ import annotations

import os
import tempfile

from mmap_io import MemoryMappedFile

try:
    import numpy as np
except ImportError:
    np = None


def main() -> None:
    if np is None:
        print("numpy is not installed; skipping (pip install 'mmap-io[numpy]')")
        return
    rows, cols = 1000, 4
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "series.f64")
        with MemoryMappedFile.create_rw(path, rows * cols * 8) as m:
            a = m.as_array(np.float64, shape=(rows, cols))
            a[:] = np.arange(rows * cols, dtype=np.float64).reshape(rows, cols)
            a[:, 3] *= 2  # in place, straight into the mapped pages
            del a  # the array holds an export: it must go before close()
            m.flush()

        with MemoryMappedFile.open_ro(path) as m:
            b = m.as_array("<f8").reshape(rows, cols)
            print(f"shape {b.shape}, column means {b.mean(axis=0).round(1).tolist()}")
            print(f"read-only: {not b.flags.writeable}")
            try:
                b[0, 0] = 1.0
            except ValueError as exc:
                print(f"writing into a read-only mapping's array fails: {exc}")
            row = m.as_array(np.float64, offset=10 * cols * 8, shape=cols)  # a window
            print(f"row 10 via as_array(float64, offset=320, shape=4) -> {row.tolist()}")
            assert row.tolist() == [40.0, 41.0, 42.0, 86.0]
            del b, row


if __name__ == "__main__":
    main()
