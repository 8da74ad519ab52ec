"""The tour from the README, end to end."""

from __future__ import annotations

import zlib
from pathlib import Path

import mmap_io
from mmap_io import FlushPolicy, MemoryMappedFile


def test_readme_tour(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    policy = FlushPolicy.every_millis(100)
    with MemoryMappedFile.create_rw(path, 1 << 20, flush_policy=policy) as m:
        m.update_region(0, b"hello world")
        view = m.as_slice(0, 5)
        assert bytes(view) == b"hello"
        view.release()
        assert m.read_bytes(6, 5) == b"world"
        m.flush()
        assert m.pending_bytes == 0
    with MemoryMappedFile.open_ro(path) as m:
        crc = 0
        for chunk in m.chunks(64 << 10):
            crc = zlib.crc32(chunk, crc)
        assert crc == zlib.crc32(path.read_bytes())
    with MemoryMappedFile.open_cow(path) as m:
        m.update_region(0, b"HELLO")
        assert m.read_bytes(0, 5) == b"HELLO"
    assert path.read_bytes()[:5] == b"hello"


def test_public_names_exist() -> None:
    for name in mmap_io.__all__:
        assert hasattr(mmap_io, name), name
