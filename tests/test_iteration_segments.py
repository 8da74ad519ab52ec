"""chunks/pages (zero-copy and owned), chunks_mut, Segment and SegmentMut."""

from __future__ import annotations

import gc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from mmap_io import (
    AnonymousMmap,
    BusyError,
    ChunksMut,
    InvalidModeError,
    MappingClosedError,
    MemoryMappedFile,
    MmapMode,
    OutOfBoundsError,
    Segment,
    SegmentMut,
    page_size,
)

PS = page_size()


@pytest.fixture
def odd_file(make_file: Callable[..., Path]) -> Path:
    return make_file(bytes(range(256)) * 40 + b"tail")  # 10244 bytes


@pytest.mark.parametrize("size", [1, 7, 1000, 10244, 10245, 2**40, 2**64])
def test_chunks(odd_file: Path, size: int) -> None:
    data = odd_file.read_bytes()
    with MemoryMappedFile.open_ro(odd_file) as m:
        parts = []
        offsets = 0
        for view in m.chunks(size):
            assert isinstance(view, memoryview) and view.readonly
            assert len(view) == min(size, len(data) - offsets)
            parts.append(bytes(view))
            offsets += len(view)
        assert b"".join(parts) == data
        owned = list(m.chunks_owned(size))
        assert all(type(b) is bytes for b in owned)
        assert owned == parts
        assert m._exports == 0


def test_pages(odd_file: Path) -> None:
    data = odd_file.read_bytes()
    with MemoryMappedFile.open_ro(odd_file) as m:
        sizes = [len(v) for v in m.pages()]
        assert sizes == [PS] * (len(data) // PS) + [len(data) % PS]
        assert b"".join(m.pages_owned()) == data
        crc = 0
        for v in m.pages():
            crc = zlib.crc32(v, crc)
        assert crc == zlib.crc32(data)


@pytest.mark.parametrize("bad", [0, -1, -(2**64)])
def test_chunk_size_errors(odd_file: Path, bad: int) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        for fn in (m.chunks, m.chunks_owned, m.chunks_mut):
            with pytest.raises(ValueError):
                fn(bad)
        for fn in (m.chunks, m.chunks_owned, m.chunks_mut):
            with pytest.raises(TypeError):
                fn(1.5)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                fn(None)  # type: ignore[arg-type]


def test_views_released_as_iteration_advances(odd_file: Path) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        it = m.chunks(1000)
        first = next(it)
        assert m._exports == 1
        second = next(it)
        assert m._exports == 1
        with pytest.raises(ValueError):
            bytes(first)  # released
        assert bytes(second) == odd_file.read_bytes()[1000:2000]
        for _ in it:
            assert m._exports == 1
        assert m._exports == 0
        # a loop that breaks early: closing the generator releases the view
        for v in m.chunks(10):
            assert len(v) == 10
            break
        gc.collect()
        assert m._exports == 0
    # the with-block closed cleanly: no view left alive


def test_early_break_inside_with_closes(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m:
        for _v in m.chunks(100):
            break
    assert m.closed


def test_derived_buffer_keeps_export(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m:
        arrays = [np.frombuffer(v, dtype=np.uint8) for v in m.chunks(4096)]
        assert m._exports == len(arrays)
        with pytest.raises(BusyError, match=f"{len(arrays)} memoryviews still alive"):
            m.refresh()
    assert m.closed  # deferred: the arrays still hold the chunks' views
    assert bytes(arrays[0][:4]) == bytes(range(4))
    del arrays
    gc.collect()
    assert m._exports == 0


@pytest.mark.parametrize("total", [0, 1, PS - 1, PS, PS + 1, 10244])
@pytest.mark.parametrize("size", [1, 7, 1000, PS, 10244, 2**40])
def test_iterators_know_their_length(make_file: Callable[..., Path], total: int, size: int) -> None:
    path = make_file(bytes(range(256)) * (total // 256) + bytes(total % 256))
    with MemoryMappedFile.open_ro(path) as m:
        makers = {
            "chunks": lambda: m.chunks(size),
            "chunks_owned": lambda: m.chunks_owned(size),
            "pages": m.pages,
            "pages_owned": m.pages_owned,
        }
        for name, make in makers.items():
            it = make()
            expected = -(-total // (PS if name.startswith("pages") else size))
            assert len(it) == expected, name
            for left in range(expected, 0, -1):
                assert len(it) == left
                next(it)
            assert len(it) == 0
            with pytest.raises(StopIteration):
                next(it)
            assert len(it) == 0
            assert len(list(make())) == expected == len(make())
    if total:
        with MemoryMappedFile.open_cow(path) as m:
            cm = m.chunks_mut(size)
            assert len(cm) == len(list(cm)) == -(-total // size)


def test_sized_iterators_release_and_close(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m:
        it = m.chunks(1000)
        assert iter(it) is it
        first = next(it)
        assert m._exports == 1
        it.close()  # like a generator's close(): the current view goes
        assert m._exports == 0 and len(it) == 0
        with pytest.raises(ValueError):
            bytes(first)
        with pytest.raises(StopIteration):
            next(it)
        gen = m.chunks_owned(5000)
        assert next(gen) == odd_file.read_bytes()[:5000]
        gen.close()
        assert list(gen) == []


def test_sized_iterator_type() -> None:
    from mmap_io import _core

    it = _core.SizedIterator([1, 2, 3], 3)  # any iterable
    assert (len(it), next(it), len(it)) == (3, 1, 2)
    it.close()  # a list iterator has no close(): dropping it is enough
    assert len(it) == 0 and list(it) == []
    assert list(_core.SizedIterator(iter("ab"), 0)) == ["a", "b"]  # len never below 0
    with pytest.raises(ValueError):
        _core.SizedIterator([], -1)
    with pytest.raises(TypeError):
        _core.SizedIterator(5, 1)

    def failing() -> Iterator[int]:
        yield 1
        raise KeyError("inner")

    it = _core.SizedIterator(failing(), 2)
    assert next(it) == 1
    with pytest.raises(KeyError):
        next(it)
    assert _core.SizedIterator[bytes].__origin__ is _core.SizedIterator


def test_sized_iterators_on_closed_mapping(odd_file: Path) -> None:
    m = MemoryMappedFile.open_ro(odd_file)
    it = m.chunks(100)
    m.close()
    for make in (lambda: m.chunks(1), m.pages, lambda: m.chunks_owned(1), m.pages_owned):
        with pytest.raises(MappingClosedError):
            make()
    with pytest.raises(MappingClosedError):
        next(it)
    with pytest.raises(ValueError, match="chunk size must be positive"):
        m.chunks(0)  # the size is checked first


def test_chunks_mut(odd_file: Path) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        cm = m.chunks_mut(1000)
        assert isinstance(cm, ChunksMut)
        assert len(cm) == 11
        assert "ChunksMut" in repr(cm)
        for i, view in enumerate(cm):
            assert not view.readonly
            view[0] = i
        assert m._exports == 0
        assert [m.read_bytes(i * 1000, 1)[0] for i in range(11)] == list(range(11))
        seen: list[tuple[int, int]] = []

        def fill(off: int, view: memoryview) -> None:
            seen.append((off, len(view)))
            view[:] = b"z" * len(view)

        m.chunks_mut(4096).for_each_mut(fill)
        assert seen == [(0, 4096), (4096, 4096), (8192, 2052)]
        assert m.read_bytes(0, len(m)) == b"z" * len(m)
        assert m._exports == 0
        m.resize(len(m) + 1)  # no view left behind


def test_for_each_mut_exception_stops(odd_file: Path) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        calls: list[int] = []

        def fn(off: int, view: memoryview) -> None:
            calls.append(off)
            if off == 2000:
                raise KeyError("stop here")
            view[0] = 0xEE

        with pytest.raises(KeyError, match="stop here"):
            m.chunks_mut(1000).for_each_mut(fn)
        assert calls == [0, 1000, 2000]
        assert m.read_bytes(2000, 1) != b"\xee"
        assert m.read_bytes(3000, 1) == bytes([3000 % 256])
        assert m._exports == 0


def test_for_each_mut_keeping_view_is_harmless(odd_file: Path) -> None:
    kept: list[memoryview] = []
    with MemoryMappedFile.open_rw(odd_file) as m:
        m.chunks_mut(5000).for_each_mut(lambda off, v: kept.append(v))
        assert m._exports == 0
    with pytest.raises(ValueError):
        kept[0][0]


def test_chunks_mut_modes(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m, pytest.raises(InvalidModeError):
        m.chunks_mut(10)
    before = odd_file.read_bytes()
    with MemoryMappedFile.open_cow(odd_file) as m:
        m.chunks_mut(10).for_each_mut(lambda off, v: v.__setitem__(0, 0))
        assert m.read_bytes(10, 1) == b"\0"
    assert odd_file.read_bytes() == before


def test_chunks_on_anonymous() -> None:
    with AnonymousMmap(10) as a:
        assert [bytes(v) for v in a.chunks(4)] == [b"\0" * 4, b"\0" * 4, b"\0" * 2]
        a.chunks_mut(3).for_each_mut(lambda off, v: v.__setitem__(0, off))
        assert a.read_bytes(0, 10) == bytes([0, 0, 0, 3, 0, 0, 6, 0, 0, 9])


# -- segments -------------------------------------------------------------


def test_segment(odd_file: Path) -> None:
    data = odd_file.read_bytes()
    with MemoryMappedFile.open_ro(odd_file) as m:
        seg = Segment(m, 100, 50)
        assert len(seg) == 50 and seg.offset == 100 and seg.parent is m
        with seg.as_slice() as v:
            assert v.readonly and bytes(v) == data[100:150]
        assert seg.read_bytes() == data[100:150]
        assert "Segment" in repr(seg)
        seg2 = m.segment(len(m), 0)
        assert seg2.read_bytes() == b""
        assert isinstance(m.segment(0, 1), Segment)
        assert not isinstance(m.segment(0, 1), SegmentMut)


def test_segment_is_empty(odd_file: Path) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        assert m.segment(5, 0).is_empty() and m.segment_mut(10244, 0).is_empty()
        assert not m.segment(0, 1).is_empty() and not m.segment_mut(3, 4).is_empty()
        assert m.segment(0, 1).is_empty() is False


@pytest.mark.parametrize(
    ("off", "length"), [(-1, 1), (0, -1), (10244, 1), (10245, 0), (2**63, 1), (1, 2**64)]
)
def test_segment_bounds(odd_file: Path, off: int, length: int) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        for make in (Segment, SegmentMut, m.segment, m.segment_mut):
            with pytest.raises(OutOfBoundsError):
                make(m, off, length) if isinstance(make, type) else make(off, length)
        assert m._exports == 0


def test_segment_types(odd_file: Path) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        with pytest.raises(TypeError):
            m.segment(1.0, 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            m.segment_mut(0, "1")  # type: ignore[arg-type]


def test_segment_mut(odd_file: Path) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        segm = SegmentMut(m, 10, 8)
        segm.write(b"abcd")
        assert m.read_bytes(10, 4) == b"abcd"
        segm.write(b"WXYZ", 4)
        assert m.read_bytes(10, 8) == b"abcdWXYZ"
        assert m.pending_bytes == 8  # segment writes count like update_region
        with segm.as_slice_mut() as v:
            v[0] = ord("A")
        assert segm.read_bytes() == b"AbcdWXYZ"
        segm.write(b"")
        segm.write(b"12345678")
        with pytest.raises(OutOfBoundsError) as info:
            segm.write(b"123456789")
        assert info.value.length == 9 and info.value.total == 8
        with pytest.raises(OutOfBoundsError):
            segm.write(b"x", 8)
        with pytest.raises(OutOfBoundsError):
            segm.write(b"x", -1)
        with pytest.raises(OutOfBoundsError):
            segm.write(b"", 9)
        assert m.read_bytes(10, 9) == b"12345678" + bytes([18])


def test_segment_mut_modes(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m:
        with pytest.raises(InvalidModeError):
            m.segment_mut(0, 4)
        with pytest.raises(InvalidModeError):
            SegmentMut(m, 0, 4)
    with MemoryMappedFile.open_cow(odd_file) as m:
        m.segment_mut(0, 4).write(b"cow!")
        assert m.read_bytes(0, 4) == b"cow!"
    assert odd_file.read_bytes()[:4] == bytes(range(4))


def test_segments_rechecked_after_shrink(odd_file: Path) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        seg = m.segment(5000, 100)
        segm = m.segment_mut(5000, 100)
        m.resize(5050)  # segments hold no buffer: resize is allowed
        for call in (
            seg.as_slice,
            seg.read_bytes,
            segm.as_slice_mut,
            lambda: segm.write(b"x"),
            lambda: segm.write(b"x" * 100),
        ):
            with pytest.raises(OutOfBoundsError):
                call()
        m.resize(6000)
        assert len(seg.read_bytes()) == 100
        segm.write(b"back")


def test_segment_view_blocks_resize(odd_file: Path) -> None:
    with MemoryMappedFile.open_rw(odd_file) as m:
        v = m.segment(0, 10).as_slice()
        with pytest.raises(BusyError):
            m.resize(100)
        v.release()
        m.resize(100)


def test_segment_on_modes(odd_file: Path) -> None:
    for mode in MmapMode:
        with MemoryMappedFile.builder(odd_file).mode(mode).open() as m:
            assert m.segment(0, 3).read_bytes() == bytes(range(3))


# -- the native views of chunks(), pages() and chunks_mut() ---------------------


def released(view: memoryview) -> bool:
    try:
        len(view)
    except ValueError:
        return True
    return False


def test_chunk_views_refuse_bad_arguments(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m:
        with pytest.raises(ValueError, match="chunk size must be positive, got 0"):
            m._chunk_views(0, True, None)
        with pytest.raises(TypeError):
            m._chunk_views("4", True, None)
        with pytest.raises(TypeError, match="ahead must be callable"):
            m._chunk_views(4, True, 5)
        with pytest.raises(TypeError):
            m._chunk_views(4, True)  # type: ignore[call-arg]


def test_a_kept_view_is_released_when_the_iteration_moves_on_or_goes(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m:
        it = m.pages()
        kept = next(it)
        second = next(it)
        assert released(kept) and not released(second)
        del it
        gc.collect()
        assert released(second) and m._exports == 0


def test_read_ahead_errors_end_the_iteration(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m:

        def ahead(off: int) -> int:
            if off:
                raise KeyError(off)
            return 1000

        it = m._chunk_views(1000, True, ahead)
        view = next(it)
        with pytest.raises(KeyError):
            next(it)
        assert released(view) and m._exports == 0
        assert list(it) == []
        with pytest.raises(TypeError):
            next(m._chunk_views(1000, True, lambda off: "later"))


def test_read_ahead_that_closes_or_shrinks_the_mapping(odd_file: Path) -> None:
    # Python code runs between releasing one view and making the next.
    m = MemoryMappedFile.open_rw(odd_file)
    it = m._chunk_views(4096, True, lambda off: m.close() or off + 1 if off else 1)
    assert bytes(next(it))[:3] == bytes(range(3))
    with pytest.raises(MappingClosedError):
        next(it)
    with MemoryMappedFile.open_rw(odd_file) as m2:
        it = m2._chunk_views(4096, False, lambda off: m2.resize(100) or off + 1 if off else 1)
        next(it)
        with pytest.raises(OutOfBoundsError):
            next(it)
        assert m2._exports == 0 and len(m2) == 100


def test_writable_chunk_views_of_a_read_only_mapping(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m, pytest.raises(InvalidModeError):
        next(m._chunk_views(10, False, None))


def test_read_ahead_that_steps_the_iterator_itself_is_refused(odd_file: Path) -> None:
    with MemoryMappedFile.open_ro(odd_file) as m:
        it: object = None

        def ahead(off: int) -> int:
            next(it)  # type: ignore[call-overload]
            return off + 1

        it = m._chunk_views(1000, True, ahead)
        with pytest.raises(ValueError, match="already executing"):
            next(it)  # type: ignore[call-overload]
        assert list(it) == [] and m._exports == 0  # type: ignore[call-overload]
