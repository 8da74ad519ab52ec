"""Child processes for tests/test_lifetimes.py (spawn start method)."""

from __future__ import annotations

import time


def append_lines(path: str, count: int, pause: float) -> None:
    """Append ``count`` numbered lines to ``path``, one write each, pausing
    ``pause`` seconds between them (a growing log written by another process)."""
    with open(path, "ab", buffering=0) as f:
        for i in range(count):
            f.write(b"line %05d\n" % i)
            time.sleep(pause)
