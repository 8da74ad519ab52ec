"""Worker functions for spawned processes in test_watch.py (importable)."""

from __future__ import annotations

import os

from mmap_io import MemoryMappedFile


def write_through_mapping(path: str) -> None:
    """Another process writes through its own shared mapping and flushes."""
    with MemoryMappedFile.open_rw(path) as m:
        m.update_region(100, b"from another process")
        m.flush()


def write_with_pwrite(path: str) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, b"pwrite", 0)
    finally:
        os.close(fd)
