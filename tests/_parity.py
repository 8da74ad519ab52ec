"""Open a file with stdlib ``mmap`` or with mmap_io, in one spelling.

Parity tests take the ``opener`` fixture (``tests/conftest.py``) and run
once against each: ``opener(path, mode)`` with mode ``"r"``, ``"w"`` or
``"c"`` returns a ``mmap.mmap`` or a ``MemoryMappedFile``.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmap_io import MemoryMappedFile, MmapMode

Opener = Callable[[Path, str], Any]

_STDLIB_ACCESS = {"r": mmap.ACCESS_READ, "w": mmap.ACCESS_WRITE, "c": mmap.ACCESS_COPY}
_OUR_MODE = {"r": MmapMode.READ_ONLY, "w": MmapMode.READ_WRITE, "c": MmapMode.COPY_ON_WRITE}


def open_stdlib(path: Path, mode: str) -> Any:
    with open(path, "rb" if mode == "r" else "r+b") as f:
        return mmap.mmap(f.fileno(), 0, access=_STDLIB_ACCESS[mode])


def open_ours(path: Path, mode: str) -> Any:
    return MemoryMappedFile.builder(path).mode(_OUR_MODE[mode]).open()
