"""MmapReader and MmapWriter: file-like streams over a mapping."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mmap_io import (
    AnonymousMmap,
    InvalidModeError,
    MemoryMappedFile,
    MmapReader,
    MmapWriter,
    OutOfBoundsError,
)


def test_reader_basics(make_file: Callable[..., Path]) -> None:
    path = make_file(b"line one\nline two\nlast")
    with MemoryMappedFile.open_ro(path) as m:
        r = m.reader()
        assert isinstance(r, MmapReader) and isinstance(r, io.RawIOBase)
        assert r.readable() and r.seekable() and not r.writable()
        assert r.read(4) == b"line"
        assert r.tell() == 4 == r.position
        assert r.readline() == b" one\n"
        assert r.readlines() == [b"line two\n", b"last"]
        assert r.read() == b""
        assert r.seek(-4, os.SEEK_END) == len(m) - 4
        assert r.read() == b"last"
        r.set_position(5)
        assert r.read(3) == b"one"
        assert r.seek(2, os.SEEK_CUR) == 10
        buf = bytearray(4)
        assert r.readinto(buf) == 4 and buf == b"ine "
        r.seek(1000)
        assert r.read(10) == b"" and r.readinto(bytearray(3)) == 0
        with pytest.raises(ValueError):
            r.seek(-1)
        with pytest.raises(ValueError):
            r.seek(0, 7)
        with pytest.raises(TypeError):
            r.seek(1.5)
        with pytest.raises(TypeError):
            r.set_position("3")
        assert r.tell() == 1000
        r.seek(0)
        assert r.readline(3) == b"lin"
        assert list(m.reader()) == [b"line one\n", b"line two\n", b"last"]
        r.close()
        with pytest.raises(ValueError):
            r.read()


def test_reader_with_stdlib(tmp_path: Path) -> None:
    payload = {"numbers": list(range(100)), "text": "héllo"}
    # gzip
    gz = tmp_path / "d.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(payload).encode()))
    with MemoryMappedFile.open_ro(gz) as m, gzip.GzipFile(fileobj=m.reader()) as g:
        assert json.loads(g.read()) == payload
    # json through a text wrapper
    js = tmp_path / "d.json"
    js.write_text(json.dumps(payload), encoding="utf-8")
    with MemoryMappedFile.open_ro(js) as m:
        assert json.load(io.TextIOWrapper(m.reader(), encoding="utf-8")) == payload
        assert json.load(io.TextIOWrapper(io.BufferedReader(m.reader()))) == payload
    # tarfile
    tp = tmp_path / "a.tar"
    with tarfile.open(tp, "w") as tf:
        tf.add(js, arcname="d.json")
    with MemoryMappedFile.open_ro(tp) as m, tarfile.open(fileobj=m.reader()) as tf:
        member = tf.extractfile("d.json")
        assert member is not None
        assert json.load(member) == payload
    # zipfile (seeks to the end for the central directory)
    zp = tmp_path / "a.zip"
    with zipfile.ZipFile(zp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("d.json", json.dumps(payload))
    with MemoryMappedFile.open_ro(zp) as m, zipfile.ZipFile(m.reader()) as zf:
        assert json.loads(zf.read("d.json")) == payload


def test_writer(rw: MemoryMappedFile) -> None:
    w = rw.writer()
    assert isinstance(w, MmapWriter) and isinstance(w, io.RawIOBase)
    assert w.writable() and w.seekable()
    assert w.write(b"hello ") == 6
    assert w.write(memoryview(b"world")) == 5
    assert w.tell() == 11
    assert rw.read_bytes(0, 11) == b"hello world"
    assert rw.pending_bytes == 11
    w.seek(-3, os.SEEK_END)
    assert w.write(b"end") == 3
    with pytest.raises(OutOfBoundsError):
        w.write(b"x")
    w.seek(len(rw) + 10)
    with pytest.raises(OutOfBoundsError):
        w.write(b"x")
    w.flush()
    assert rw.pending_bytes == 0
    with io.BufferedWriter(rw.writer()) as bw:
        bw.write(b"buffered")
    assert rw.read_bytes(0, 8) == b"buffered"


def test_writer_modes(data_file: Path) -> None:
    with MemoryMappedFile.open_ro(data_file) as m, pytest.raises(InvalidModeError):
        m.writer()
    with MemoryMappedFile.open_cow(data_file) as m:
        m.writer().write(b"cow")
        assert m.read_bytes(0, 3) == b"cow"
    with AnonymousMmap(16) as a:
        w = a.writer()
        w.write(b"anon")
        w.flush()  # no file: nothing to flush, no error
        assert a.read_bytes(0, 4) == b"anon"


def test_reader_sees_resize(data_file: Path) -> None:
    with MemoryMappedFile.open_rw(data_file) as m:
        r = m.reader()
        r.seek(0, os.SEEK_END)
        m.resize(len(m) + 3)
        m.update_region(len(m) - 3, b"new")
        assert r.read() == b"new"
        m.resize(10)
        assert r.read() == b""
        r.seek(5)
        assert r.read() == m.read_bytes(5, 5)
        assert "MmapReader" in repr(r) and r.mapping is m


def test_streams_do_not_block_close(data_file: Path) -> None:
    m = MemoryMappedFile.open_rw(data_file)
    r, w = m.reader(), m.writer()
    r.read(10)
    w.write(b"x")
    m.close()
    assert m.closed


def test_big_reads(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with MemoryMappedFile.open_ro(path) as m:
        r = io.BufferedReader(m.reader(), buffer_size=1 << 16)
        assert r.read(1 << 20) == data[: 1 << 20]
        assert r.read() == data[1 << 20 :]
        r2 = m.reader()
        buf = bytearray(len(data) + 10)
        assert r2.readinto(buf) == len(data)
        assert buf[: len(data)] == data
        assert m.reader().readline() == data[: data.index(b"\n") + 1]
