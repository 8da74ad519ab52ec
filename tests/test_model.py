"""Random reads, writes, resizes and flushes against a bytearray model."""

from __future__ import annotations

import os
import shutil
import tempfile

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mmap_io import MemoryMappedFile, OutOfBoundsError, ResizeFailedError, page_size

PS = page_size()
MAX = 5 * PS

offsets = st.one_of(
    st.integers(0, MAX + 10),
    st.sampled_from([-1, -(2**63), 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**80]),
)
lengths = st.one_of(st.integers(0, 3 * PS), st.sampled_from([-1, 2**63, 2**64 + 3]))


class MappingModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "model.bin")
        self.model = bytearray(PS)
        self.m = MemoryMappedFile.create_rw(self.path, PS)
        self.pending = 0

    def teardown(self) -> None:
        self.m.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _fits(self, off: int, n: int) -> bool:
        return off >= 0 and n >= 0 and off + n <= len(self.model)

    @rule(off=offsets, data=st.binary(max_size=2 * PS))
    def write(self, off: int, data: bytes) -> None:
        if self._fits(off, len(data)):
            self.m.update_region(off, data)
            self.model[off : off + len(data)] = data
            self.pending += len(data)
        else:
            try:
                self.m.update_region(off, data)
            except OutOfBoundsError as exc:
                assert (exc.offset, exc.length, exc.total) == (off, len(data), len(self.model))
            else:
                raise AssertionError("write out of bounds accepted")

    @rule(off=offsets, n=lengths)
    def read(self, off: int, n: int) -> None:
        if self._fits(off, n):
            assert self.m.read_bytes(off, n) == self.model[off : off + n]
        else:
            try:
                self.m.read_bytes(off, n)
            except OutOfBoundsError as exc:
                assert (exc.offset, exc.length, exc.total) == (off, n, len(self.model))
            else:
                raise AssertionError("read out of bounds accepted")

    @rule(off=offsets, n=st.integers(0, 2 * PS))
    def read_into(self, off: int, n: int) -> None:
        buf = bytearray(n)
        if self._fits(off, n):
            assert self.m.read_into(off, buf) == n
            assert buf == self.model[off : off + n]
        else:
            try:
                self.m.read_into(off, buf)
            except OutOfBoundsError:
                pass
            else:
                raise AssertionError("read_into out of bounds accepted")

    @rule(off=st.integers(0, MAX), data=st.binary(min_size=1, max_size=PS))
    def view_write(self, off: int, data: bytes) -> None:
        if not self._fits(off, len(data)):
            return
        with self.m.as_slice_mut(off, len(data)) as v:
            v[:] = data  # not counted in pending_bytes
        self.model[off : off + len(data)] = data

    @rule(off=st.integers(0, MAX), n=st.integers(0, PS), data=st.binary(max_size=PS))
    def segment_write(self, off: int, n: int, data: bytes) -> None:
        if not self._fits(off, n):
            return
        seg = self.m.segment_mut(off, n)
        if len(data) <= n:
            seg.write(data)
            self.model[off : off + len(data)] = data
            self.pending += len(data)
        else:
            try:
                seg.write(data)
            except OutOfBoundsError:
                pass
            else:
                raise AssertionError("oversized segment write accepted")

    @rule(size=st.one_of(st.integers(1, MAX), st.sampled_from([0, -1, (1 << 47) + 1, 2**64])))
    def resize(self, size: int) -> None:
        if 1 <= size <= MAX:
            self.m.resize(size)
            if size < len(self.model):
                del self.model[size:]
            else:
                self.model.extend(bytes(size - len(self.model)))
        else:
            try:
                self.m.resize(size)
            except ResizeFailedError:
                pass
            else:
                raise AssertionError(f"resize({size}) accepted")

    @rule()
    def flush(self) -> None:
        self.m.flush()
        self.pending = 0

    @rule(off=st.integers(0, MAX), n=st.integers(0, 2 * PS))
    def flush_range(self, off: int, n: int) -> None:
        if not self._fits(off, n):
            try:
                self.m.flush_range(off, n)
            except OutOfBoundsError:
                return
            raise AssertionError("flush_range out of bounds accepted")
        self.m.flush_range(off, n)
        if n:
            start = off - off % PS
            end = min(-(-(off + n) // PS) * PS, len(self.model))
            self.pending = max(0, self.pending - (end - start))

    @precondition(lambda self: len(self.model) > 0)
    @rule()
    def whole(self) -> None:
        assert self.m.read_bytes(0, len(self.model)) == self.model
        assert bytes(memoryview(self.m)) == self.model

    @invariant()
    def sizes_and_pending(self) -> None:
        assert len(self.m) == len(self.model)
        assert os.path.getsize(self.path) == len(self.model)
        assert self.m.pending_bytes == self.pending
        assert self.m._exports == 0


MappingModel.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMappingModel = MappingModel.TestCase


class ReopenCheck(MappingModel):
    """The same model, checked at the end against a fresh read-only mapping."""

    def teardown(self) -> None:
        self.m.flush()
        with MemoryMappedFile.open_ro(self.path) as ro:
            assert ro.read_bytes(0, len(ro)) == self.model
        super().teardown()


ReopenCheck.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestReopen = ReopenCheck.TestCase
