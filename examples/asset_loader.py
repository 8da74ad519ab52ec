"""A game-asset loader: a zip pack read through a mapping.

``zipfile`` reads the pack through ``m.reader()`` (a seekable stream over
the mapping, no file reads). Assets stored uncompressed are also served
zero-copy: ``as_slice`` of their bytes inside the pack, no copy at all.

Run: python examples/asset_loader.py
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zipfile

from mmap_io import MemoryMappedFile

ASSETS = {
    "textures/grass.raw": os.urandom(64 * 1024),
    "levels/level1.json": b'{"name": "meadow", "enemies": 12}',
    "audio/step.pcm": bytes(range(256)) * 64,
}


def build_pack(path: str) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in ASSETS.items():
            # Big binary assets are stored raw so they can be served zero-copy.
            method = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            z.writestr(name, data, compress_type=method)


class AssetPack:
    def __init__(self, path: str) -> None:
        self.m = MemoryMappedFile.open_ro(path)
        self.zip = zipfile.ZipFile(io.BufferedReader(self.m.reader()))

    def names(self) -> list[str]:
        return self.zip.namelist()

    def load(self, name: str) -> bytes:
        """A copy of the asset (decompressed if needed)."""
        return self.zip.read(name)

    def view(self, name: str) -> memoryview:
        """Zero-copy view of a stored (uncompressed) asset."""
        info = self.zip.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{name} is compressed; use load()")
        # Local file header: 30 bytes, then the name and extra field.
        header = self.m.read_bytes(info.header_offset, 30)
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        start = info.header_offset + 30 + name_len + extra_len
        return self.m.as_slice(start, info.file_size)

    def close(self) -> None:
        self.zip.close()
        self.m.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "assets.pak")
        build_pack(path)
        pack = AssetPack(path)
        print(f"pack holds {pack.names()}")
        level = pack.load("levels/level1.json")
        print(f"level1.json (deflated) -> {level.decode()}")
        tex = pack.view("textures/grass.raw")
        assert tex == ASSETS["textures/grass.raw"]
        print(f"grass.raw served zero-copy: {tex.nbytes} bytes, readonly={tex.readonly}")
        tex.release()  # views must go before the pack closes
        pack.close()


if __name__ == "__main__":
    main()
