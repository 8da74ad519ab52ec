"""FlushPolicy values, the pending-bytes accounting, and each policy's trigger point.

"Flushed" is judged by the page cache's dirty state of the mapping under
test (``/proc/self/smaps``, see ``_durability_workers``): the tests only
write through that mapping, so exactly the written pages are mapped in it,
and they are dirty until a flush has written them to the file.
"""

from __future__ import annotations

import copy
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _durability_workers import dirty_kib
from mmap_io import FlushPolicy, MemoryMappedFile, MmapMode, page_size

PS = page_size()


# -- the value type ---------------------------------------------------------------


def test_equality_hash_and_repr() -> None:
    assert FlushPolicy.MANUAL == FlushPolicy.NEVER
    assert FlushPolicy.MANUAL is FlushPolicy.NEVER
    assert FlushPolicy.every_bytes(10) == FlushPolicy.every_bytes(10)
    assert FlushPolicy.every_bytes(10) != FlushPolicy.every_bytes(11)
    assert FlushPolicy.every_bytes(10) != FlushPolicy.every_writes(10)
    assert FlushPolicy.every_millis(10) != FlushPolicy.every_writes(10)
    assert FlushPolicy.ALWAYS != FlushPolicy.NEVER
    assert FlushPolicy.NEVER != 0
    values = {
        FlushPolicy.NEVER,
        FlushPolicy.MANUAL,
        FlushPolicy.ALWAYS,
        FlushPolicy.every_bytes(1),
        FlushPolicy.every_bytes(1),
        FlushPolicy.every_writes(1),
        FlushPolicy.every_millis(1),
    }
    assert len(values) == 5
    assert repr(FlushPolicy.NEVER) == "FlushPolicy.NEVER"
    assert repr(FlushPolicy.MANUAL) == "FlushPolicy.NEVER"
    assert repr(FlushPolicy.ALWAYS) == "FlushPolicy.ALWAYS"
    assert repr(FlushPolicy.every_bytes(65536)) == "FlushPolicy.every_bytes(65536)"
    assert repr(FlushPolicy.every_writes(3)) == "FlushPolicy.every_writes(3)"
    assert repr(FlushPolicy.every_millis(50)) == "FlushPolicy.every_millis(50)"
    for p in values:
        assert eval(repr(p), {"FlushPolicy": FlushPolicy}) == p


def test_kind_and_threshold() -> None:
    assert (FlushPolicy.NEVER.kind, FlushPolicy.NEVER.threshold) == ("never", None)
    assert (FlushPolicy.ALWAYS.kind, FlushPolicy.ALWAYS.threshold) == ("always", None)
    assert FlushPolicy.every_bytes(7).kind == "every_bytes"
    assert FlushPolicy.every_writes(7).threshold == 7
    assert FlushPolicy.every_millis(7).kind == "every_millis"


@pytest.mark.parametrize(
    "make", [FlushPolicy.every_bytes, FlushPolicy.every_writes, FlushPolicy.every_millis]
)
def test_thresholds_must_be_positive_ints(make: Callable[[int], FlushPolicy]) -> None:
    for bad in (0, -1, -(2**70), 2**63):
        with pytest.raises(ValueError, match=str(bad)):
            make(bad)
    for bad_type in (1.0, "1", None, True, b"1"):
        with pytest.raises(TypeError, match=type(bad_type).__name__):
            make(bad_type)  # type: ignore[arg-type]
    assert make(2**63 - 1).threshold == 2**63 - 1

    class Index:
        def __index__(self) -> int:
            return 5

    assert make(Index()) == make(5)  # type: ignore[arg-type]


def test_immutable_copyable_picklable() -> None:
    p = FlushPolicy.every_bytes(4096)
    with pytest.raises(AttributeError):
        p._n = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p._n
    with pytest.raises(AttributeError):
        p.extra = 1  # type: ignore[attr-defined]
    for q in (FlushPolicy.NEVER, FlushPolicy.ALWAYS, p, FlushPolicy.every_millis(9)):
        assert pickle.loads(pickle.dumps(q)) == q
        assert copy.deepcopy(q) == q


def test_raw_constructor_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        FlushPolicy(99)
    with pytest.raises(ValueError):
        FlushPolicy(0, 5)
    with pytest.raises(ValueError):
        FlushPolicy(2, 0)


# -- accepted everywhere -------------------------------------------------------------


def test_every_constructor_and_the_builder_take_a_policy(tmp_path: Path) -> None:
    p = FlushPolicy.every_writes(3)
    f = tmp_path / "f.bin"
    made = [
        MemoryMappedFile.create_rw(f, PS, flush_policy=p),
        MemoryMappedFile.open_rw(f, flush_policy=p),
        MemoryMappedFile.open_ro(f, flush_policy=p),
        MemoryMappedFile.open_cow(f, flush_policy=p),
        MemoryMappedFile.open_or_create(f, PS, flush_policy=p),
        MemoryMappedFile.open_or_create(tmp_path / "new.bin", PS, flush_policy=p),
        MemoryMappedFile.builder(tmp_path / "b.bin").size(PS).flush_policy(p).create(),
        MemoryMappedFile.builder(f).flush_policy(p).open(),
        MemoryMappedFile.builder(f).mode(MmapMode.READ_ONLY).flush_policy(p).open(),
        MemoryMappedFile.builder(f).size(PS).flush_policy(p).open_or_create(),
    ]
    with open(f, "r+b") as fh:
        made.append(MemoryMappedFile.from_file(fh, MmapMode.READ_WRITE, flush_policy=p))
    for m in made:
        assert m.flush_policy == p
        m.close()
    with MemoryMappedFile.create_rw(f, PS) as m:
        assert m.flush_policy is FlushPolicy.NEVER
    with MemoryMappedFile.open_rw(f, flush_policy=p) as m:
        assert pickle.loads(pickle.dumps(m)).flush_policy == p


def test_non_policies_are_rejected(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    for bad in (None, 0, "always", FlushPolicy):
        with pytest.raises(TypeError, match="FlushPolicy"):
            MemoryMappedFile.create_rw(f, PS, flush_policy=bad)
        with pytest.raises(TypeError, match="FlushPolicy"):
            MemoryMappedFile.builder(f).flush_policy(bad)  # type: ignore[arg-type]
    f.write_bytes(b"x")
    with pytest.raises(TypeError):
        MemoryMappedFile.open_rw(f, flush_policy="never")


# -- accounting ----------------------------------------------------------------------


@pytest.fixture
def rw(tmp_path: Path) -> Callable[..., MemoryMappedFile]:
    made: list[MemoryMappedFile] = []

    def make(policy: FlushPolicy = FlushPolicy.NEVER, size: int = 8 << 20) -> MemoryMappedFile:
        m = MemoryMappedFile.create_rw(tmp_path / f"f{len(made)}.bin", size, flush_policy=policy)
        m.flush()  # settle the new file, so only our writes are dirty
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


@pytest.mark.parametrize(
    "policy", [FlushPolicy.NEVER, FlushPolicy.every_bytes(1 << 30), FlushPolicy.every_writes(1000)]
)
def test_pending_bytes_counts_every_write_path(
    rw: Callable[..., MemoryMappedFile], policy: FlushPolicy
) -> None:
    m = rw(policy)
    m.update_region(0, b"abc")
    m.segment_mut(PS, 10).write(b"12345")
    w = m.writer()
    w.seek(2 * PS)
    w.write(b"xy")
    assert m.pending_bytes == 10
    m.update_region(0, b"")  # an empty write counts nothing
    assert m.pending_bytes == 10
    view = m.as_slice_mut(3 * PS, 4)
    view[:] = b"view"  # writable views are invisible to the counters
    view.release()
    memoryview(m)[4 * PS] = 1
    assert m.pending_bytes == 10
    m.flush()
    assert m.pending_bytes == 0
    assert dirty_kib(m.as_ptr()) == 0  # the views' writes were flushed too


def test_cow_counts_and_flush_zeroes(data_file: Path) -> None:
    with MemoryMappedFile.open_cow(data_file, flush_policy=FlushPolicy.every_bytes(100)) as m:
        m.update_region(0, bytes(60))
        assert m.pending_bytes == 60
        m.update_region(0, bytes(40))
        assert m.pending_bytes == 0
        m.update_region(0, bytes(5))
        m.flush()
        assert m.pending_bytes == 0


def test_flush_range_debit_lets_every_bytes_fire_at_the_right_time(
    rw: Callable[..., MemoryMappedFile],
) -> None:
    # The scenario: 1 MiB - 16 KiB written, flush_range(0, 4096)
    # debits one page, 32 KiB more crosses 1 MiB and flushes everything.
    m = rw(FlushPolicy.every_bytes(1 << 20))
    m.update_region(0, bytes((1 << 20) - (16 << 10)))
    m.flush_range(0, 4096)
    assert m.pending_bytes == (1 << 20) - (20 << 10)
    assert dirty_kib(m.as_ptr()) > 0
    m.update_region(4 << 20, b"\x01" * (32 << 10))
    assert m.pending_bytes == 0
    assert dirty_kib(m.as_ptr()) == 0  # the 32 KiB are on disk


# -- trigger points ------------------------------------------------------------------


def test_always_flushes_after_each_write(rw: Callable[..., MemoryMappedFile]) -> None:
    m = rw(FlushPolicy.ALWAYS)
    for off in (0, 4 << 20, 5):
        m.update_region(off, b"data")
        assert m.pending_bytes == 0
        assert dirty_kib(m.as_ptr()) == 0


def test_never_flushes_only_when_asked(rw: Callable[..., MemoryMappedFile]) -> None:
    m = rw(FlushPolicy.NEVER)
    for i in range(50):
        m.update_region(i * PS, b"x" * 100)
    assert m.pending_bytes == 5000
    assert dirty_kib(m.as_ptr()) == 50 * PS // 1024
    m.flush()
    assert dirty_kib(m.as_ptr()) == 0


@pytest.mark.parametrize("n", [1, 100, PS, 3 * PS + 1])
def test_every_bytes_fires_exactly_at_n(rw: Callable[..., MemoryMappedFile], n: int) -> None:
    m = rw(FlushPolicy.every_bytes(n))
    for _ in range(2):  # the second time counts from the flush
        if n > 1:
            m.update_region(0, b"a" * (n - 1))  # one byte below
            assert m.pending_bytes == n - 1
            assert dirty_kib(m.as_ptr()) > 0
        m.update_region(4 << 20, b"b")  # reaches n
        assert m.pending_bytes == 0
        assert dirty_kib(m.as_ptr()) == 0


def test_every_bytes_fires_past_n_in_one_write(rw: Callable[..., MemoryMappedFile]) -> None:
    m = rw(FlushPolicy.every_bytes(1000))
    m.update_region(0, b"a" * 999)
    assert dirty_kib(m.as_ptr()) > 0
    m.update_region(4 << 20, b"b" * 5000)
    assert m.pending_bytes == 0
    assert dirty_kib(m.as_ptr()) == 0


@pytest.mark.parametrize("n", [1, 2, 5])
def test_every_writes_fires_at_the_nth_write(rw: Callable[..., MemoryMappedFile], n: int) -> None:
    m = rw(FlushPolicy.every_writes(n))
    for _ in range(2):
        for i in range(n - 1):  # one write below
            m.update_region(i * PS, b"w")
        if n > 1:
            assert m.pending_bytes == n - 1
            assert dirty_kib(m.as_ptr()) > 0
        m.update_region(4 << 20, b"w")
        assert m.pending_bytes == 0
        assert dirty_kib(m.as_ptr()) == 0


def test_every_writes_counts_empty_writes_and_resets_on_flush(
    rw: Callable[..., MemoryMappedFile],
) -> None:
    m = rw(FlushPolicy.every_writes(3))
    m.update_region(0, b"x")
    m.update_region(0, b"")
    assert dirty_kib(m.as_ptr()) > 0
    m.update_region(0, b"")  # third write
    assert dirty_kib(m.as_ptr()) == 0
    m.update_region(0, b"x")
    m.update_region(0, b"x")
    m.flush()  # a manual flush restarts the count
    m.update_region(0, b"x")
    m.update_region(0, b"x")
    assert dirty_kib(m.as_ptr()) > 0


def test_policies_ignore_view_writes(rw: Callable[..., MemoryMappedFile]) -> None:
    m = rw(FlushPolicy.every_bytes(1))
    with memoryview(m) as view:
        view[0:4] = b"miss"
    assert dirty_kib(m.as_ptr()) > 0  # not counted, so nothing fired
    m.update_region(4 << 20, b"!")  # the next counted write flushes it all
    assert dirty_kib(m.as_ptr()) == 0


# -- a model of the accounting ----------------------------------------------------------

SIZE = 16 * PS + 100  # not page-aligned: flush_range clamps at the end

op = st.one_of(
    st.tuples(st.just("write"), st.integers(0, SIZE), st.integers(0, 3 * PS)),
    st.tuples(st.just("flush"), st.just(0), st.just(0)),
    st.tuples(st.just("flush_range"), st.integers(0, SIZE), st.integers(0, 5 * PS)),
)


def _model_flush_range(pending: int, off: int, length: int) -> int:
    if length == 0:
        return pending
    start = off - off % PS
    end = min(-(-(off + length) // PS) * PS, SIZE)
    return max(0, pending - (end - start))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 4 * PS), ops=st.lists(op, max_size=25))
def test_pending_bytes_matches_a_model(
    tmp_path: Path, n: int, ops: list[tuple[str, int, int]]
) -> None:
    path = tmp_path / "model.bin"
    if not path.exists():
        path.write_bytes(bytes(SIZE))
    pending = 0
    with MemoryMappedFile.open_rw(path, flush_policy=FlushPolicy.every_bytes(n)) as m:
        for kind, off, length in ops:
            if kind == "write":
                length = min(length, SIZE - off)
                m.update_region(off, os.urandom(length))
                pending += length
                if pending >= n:
                    pending = 0
            elif kind == "flush":
                m.flush()
                pending = 0
            else:
                length = min(length, SIZE - off)
                m.flush_range(off, length)
                pending = _model_flush_range(pending, off, length)
            assert m.pending_bytes == pending, (kind, off, length)
