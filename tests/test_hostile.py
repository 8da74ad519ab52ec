"""Hostile callers: Python code that runs in the middle of a native method
(``__index__``, ``__buffer__``, GC finalizers, other threads while the GIL
is released) and changes the mapping under it.  Each case must end in a
precise error from the library's hierarchy or a correct result, never a view of
memory that is no longer mapped, a leak, or a crash."""

from __future__ import annotations

import contextlib
import gc
import os
import random
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mmap_io import (
    AnonymousMmap,
    BusyError,
    FlushPolicy,
    LockFailedError,
    MappingClosedError,
    MemoryMappedFile,
    MmapAdvice,
    MmapIoError,
    OutOfBoundsError,
    ResizeFailedError,
    _core,
)

MIB = 1 << 20
PS = _core.page_size()


@pytest.fixture(autouse=True)
def _fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)


# ---- close() releases the GIL while it flushes ------------------------------


def _grab_views(
    m: Any,
    make_view: Callable[[Any], Any],
    go: threading.Event,
    stop: threading.Event,
    views: list[Any],
) -> None:
    go.wait()
    while not stop.is_set() and len(views) < 5000:
        try:
            views.append(make_view(m))
        except MappingClosedError:
            return


def _export_while_closing(
    tmp_path: Path, make_view: Callable[[Any], Any], read: Callable[[Any], bytes]
) -> None:
    """A thread exports views while close() flushes with the GIL released.

    close() then defers the unmapping to the last of the new views: each
    must still read the mapped bytes after close() returned, and once they
    are released the memory is gone."""
    for attempt in range(3):
        path = tmp_path / f"f{attempt}.bin"
        m = MemoryMappedFile.create_rw(path, 4 * MIB, flush_policy=FlushPolicy.every_bytes(1 << 40))
        data = os.urandom(4 * MIB)
        m.update_region(0, data)  # dirty: close() must msync
        addr = m.as_ptr()
        go, stop = threading.Event(), threading.Event()
        views: list[Any] = []
        t = threading.Thread(target=_grab_views, args=(m, make_view, go, stop, views))
        t.start()
        go.set()
        try:
            m.close()
        finally:
            stop.set()
            t.join()
        assert m.closed
        assert all(read(v) == data[:8] for v in views)  # still mapped: deferred
        views.clear()
        gc.collect()
        with open("/proc/self/maps") as f:
            assert str(path) not in f.read(), hex(addr)


def test_close_defers_for_views_exported_while_it_flushes(tmp_path: Path) -> None:
    _export_while_closing(tmp_path, lambda m: m.as_slice(0, 8), bytes)


def test_close_defers_for_atomics_made_while_it_flushes(tmp_path: Path) -> None:
    _export_while_closing(
        tmp_path, lambda m: m.atomic_u64(0), lambda c: c.load().to_bytes(8, sys.byteorder)
    )


# ---- GC finalizers during allocation ----------------------------------------


class _Finalizer:
    """Cyclic garbage whose __del__ runs ``action`` when the GC collects it."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.me = self
        self.action = action

    def __del__(self) -> None:
        with contextlib.suppress(MmapIoError):
            self.action()


def _during_next_gc_alloc(action: Callable[[], None], call: Callable[[], Any]) -> tuple[bool, Any]:
    """Run ``call()`` with a collection due at its first GC allocation; the
    collection runs ``action``.  Returns (action ran, and succeeded, inside
    call; call's result or the exception it raised).  Python >= 3.12 runs
    collections only between bytecodes, so there it never acts inside."""
    state = {"inside": False, "ran_inside": False}

    def act() -> None:
        action()  # raises (BusyError, ...) when it cannot act
        state["ran_inside"] = state["inside"]

    gc.collect()
    old = gc.get_threshold()
    _Finalizer(act)
    try:
        gc.set_threshold(1)
        state["inside"] = True
        try:
            result: Any = call()
        except Exception as exc:
            result = exc
        state["inside"] = False
    finally:
        gc.set_threshold(*old)
    gc.collect()
    return state["ran_inside"], result


@pytest.mark.parametrize("writable", [False, True])
def test_gc_finalizer_shrinking_mapping_inside_as_slice(tmp_path: Path, writable: bool) -> None:
    """The memoryview allocation in as_slice can run a finalizer that shrinks
    the mapping after the bounds check: the view must not cover bytes that
    are no longer mapped."""
    with MemoryMappedFile.create_rw(tmp_path / "f.bin", 2 * PS) as m:
        make = m.as_slice_mut if writable else m.as_slice
        for _ in range(20):
            m.resize(2 * PS)
            ran_inside, result = _during_next_gc_alloc(lambda: m.resize(PS), lambda: make(PS, PS))
            if isinstance(result, memoryview):
                ok = len(m) >= 2 * PS
                result.release()
                assert ok, "as_slice returned a view past the end of the mapping"
            if ran_inside:
                assert isinstance(result, OutOfBoundsError), result
                return
        pytest.skip("the collection never ran inside as_slice")


def test_gc_finalizer_closing_mapping_inside_as_slice(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f.bin", PS)
    m.update_region(0, b"mapped")
    ran_inside, result = _during_next_gc_alloc(m.close, lambda: m.as_slice(0, PS))
    if isinstance(result, memoryview):
        # The collection ran once the view existed (Python >= 3.12 collects
        # between bytecodes): close() then leaves the memory to the view.
        assert bytes(result[:6]) == b"mapped"
        result.release()
    elif not ran_inside:
        pytest.skip("the collection never ran inside as_slice")
    else:
        assert isinstance(result, MappingClosedError), result
    assert m.closed and m._exports == 0


@pytest.mark.parametrize("width", [8, 4])
@pytest.mark.parametrize("kind", ["view", "slice"])
def test_gc_finalizer_inside_atomic_view_creation(tmp_path: Path, width: int, kind: str) -> None:
    """Atomic views take part in the GC; a collection while one is made must
    not leave it pointing at a mapping that was shrunk or closed."""
    for action in ("resize", "close"):
        m = MemoryMappedFile.create_rw(tmp_path / f"{action}.bin", 2 * PS)

        def act(m: Any = m, action: str = action) -> None:
            m.resize(PS) if action == "resize" else m.close()

        # Direct method calls: no bound-method object (a GC allocation)
        # is made before the native call.
        def make(m: Any = m) -> Any:
            if kind == "view":
                return m.atomic_u64(2 * PS - 8) if width == 8 else m.atomic_u32(2 * PS - 4)
            if width == 8:
                return m.atomic_u64_slice(PS, PS // 8)
            return m.atomic_u32_slice(PS, PS // 4)

        ran_inside, result = _during_next_gc_alloc(act, make)
        if not isinstance(result, Exception):
            # resize() must have been refused; close() may have run once the
            # view existed, and then leaves the memory to it.
            ok = m.closed if action == "close" else not m.closed and len(m) == 2 * PS
            item = result if kind == "view" else result[-1]
            item.store(7)  # the memory is still there
            ok = ok and item.load() == 7
            del item
            result.release()
            assert ok, f"{kind} made over a mapping that was {action}d meanwhile"
        elif ran_inside:
            expected = OutOfBoundsError if action == "resize" else MappingClosedError
            assert isinstance(result, expected), result
        m.close()


# ---- reference cycles through atomic views ----------------------------------


class _Anon(AnonymousMmap):
    """A user subclass: it has a __dict__, so it can hold its own views."""


@pytest.mark.parametrize("make", ["atomic_u64", "atomic_u64_slice"])
def test_cycle_through_atomic_view_is_collected(make: str) -> None:
    m = _Anon(PS)
    m.counter = m.atomic_u64(0) if make == "atomic_u64" else m.atomic_u64_slice(0, 4)
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None, "a mapping holding its own atomic view is never freed"


def test_gc_clears_view_cycle_before_the_mapping() -> None:
    """After the collector broke a cycle the view is released, not left
    pointing at an unmapped mapping."""
    m = _Anon(PS)
    c = m.atomic_u32(0)
    c.store(5)
    holder = [c, m]
    holder.append(holder)
    m.holder = holder
    wm = weakref.ref(m)
    del m, c, holder
    gc.collect()
    assert wm() is None


# ---- wrong error classes from hostile arguments -----------------------------


@pytest.mark.parametrize("sign", [1, -1])
def test_resize_to_int_too_long_to_print(rw: MemoryMappedFile, sign: int) -> None:
    size = sign * 10**5000
    with pytest.raises(ResizeFailedError, match="-bit int"):
        rw.resize(size)
    assert len(rw) == 64 * 1024


class _Index:
    """An int-like whose __index__ runs ``action`` first."""

    def __init__(self, value: int, action: Callable[[], None]) -> None:
        self.value, self.action = value, action

    def __index__(self) -> int:
        self.action()
        return self.value


_OFFSET_CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "as_slice": lambda m, o: m.as_slice(o, 8),
    "as_slice_mut": lambda m, o: m.as_slice_mut(o, 8),
    "read_bytes": lambda m, o: m.read_bytes(o, 8),
    "read_into": lambda m, o: m.read_into(o, bytearray(8)),
    "update_region": lambda m, o: m.update_region(o, b"12345678"),
    "flush_range": lambda m, o: m.flush_range(o, 8),
    "start_flush": lambda m, o: m.start_flush(o, 8),
    "advise": lambda m, o: m.advise(o, 8, MmapAdvice.RANDOM),
    "prefetch_range": lambda m, o: m.prefetch_range(o, 8),
    "touch_pages_range": lambda m, o: m.touch_pages_range(o, 8),
    "residency": lambda m, o: m.residency(o, 8),
    "lock": lambda m, o: m.lock(o, 8),
    "unlock": lambda m, o: m.unlock(o, 8),
    "atomic_u64": lambda m, o: m.atomic_u64(o),
    "atomic_u32_slice": lambda m, o: m.atomic_u32_slice(o, 2),
    "resize": lambda m, o: m.resize(o),
}


@pytest.mark.parametrize("name", sorted(_OFFSET_CALLS))
def test_index_closing_the_mapping(tmp_path: Path, name: str) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f.bin", 2 * PS)
    with pytest.raises(MappingClosedError):
        _OFFSET_CALLS[name](m, _Index(PS, m.close))


@pytest.mark.parametrize("name", sorted(set(_OFFSET_CALLS) - {"resize"}))
def test_index_shrinking_the_mapping(tmp_path: Path, name: str) -> None:
    with (
        MemoryMappedFile.create_rw(tmp_path / "f.bin", 2 * PS) as m,
        pytest.raises(OutOfBoundsError),
    ):
        _OFFSET_CALLS[name](m, _Index(PS + 8, lambda: m.resize(PS)))


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ needs Python 3.12")
def test_buffer_export_closing_the_mapping(tmp_path: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f.bin", PS)

    class Closer:
        def __init__(self, data: bytes) -> None:
            self.data = bytearray(data)

        def __buffer__(self, flags: int) -> memoryview:
            m.close()
            return memoryview(self.data)

    for data in (b"x" * 16, b""):
        with pytest.raises(MappingClosedError):
            m.update_region(0, Closer(data))
        with pytest.raises(MappingClosedError):
            m.read_into(0, Closer(data))
    assert m.pending_bytes == 0


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ needs Python 3.12")
def test_buffer_export_shrinking_the_mapping(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f.bin", 2 * PS) as m:

        class Shrinker:
            def __init__(self) -> None:
                self.data = bytearray(PS)

            def __buffer__(self, flags: int) -> memoryview:
                m.resize(PS)
                return memoryview(self.data)

        with pytest.raises(OutOfBoundsError):
            m.update_region(PS, Shrinker())
        m.resize(2 * PS)
        with pytest.raises(OutOfBoundsError):
            m.read_into(PS, Shrinker())


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ needs Python 3.12")
def test_subclass_buffer_hook_shrinking_the_mapping(tmp_path: Path) -> None:
    """A Mapping subclass may define __buffer__ and resize before handing
    over to the native export: as_slice must not return a view past the end.
    (as_slice exports through a request of its own, so the hook is not
    involved; the mapping's own buffer goes through it.)"""

    class Sneaky(_core.Mapping):
        def __buffer__(self, flags: int) -> memoryview:
            self.resize(PS)
            return super().__buffer__(flags)

    path = tmp_path / "f.bin"
    path.write_bytes(bytes(2 * PS))
    with open(path, "r+b") as f:
        m = Sneaky(f.fileno(), 2 * PS, 1)
    try:
        v = m.as_slice(PS, PS)
        assert len(m) == 2 * PS and v.nbytes == PS and bytes(v) == bytes(PS)
        if sys.version_info >= (3, 12):  # the hook runs for memoryview(m)
            with pytest.raises(BusyError):
                memoryview(m)  # its resize() meets the live view
        v.release()
        with memoryview(m) as whole:
            assert whole.nbytes == (PS if sys.version_info >= (3, 12) else 2 * PS)
        assert m._exports == 0
    finally:
        m.close()


# ---- a SIGBUS that is not a fault -------------------------------------------

_KILLED_MID_COPY = """
import signal, threading, time
from mmap_io import AnonymousMmap

m = AnonymousMmap(64 << 20)
m.read_bytes(0, 64 << 20)
busy = threading.Event()

def copy_forever():
    busy.set()
    while True:
        m.read_bytes(0, 64 << 20)

t = threading.Thread(target=copy_forever, daemon=True)
t.start()
busy.wait()
time.sleep(0.05)
signal.pthread_kill(t.ident, signal.SIGBUS)
time.sleep(1)
print("survived")
"""


@pytest.mark.not_under_asan(
    "ASan's own SIGBUS handler, which ours passes a sent signal on to, does not "
    "always end the process for a SIGBUS sent with pthread_kill"
)
def test_sigbus_sent_by_kill_is_not_a_truncated_file(tmp_path: Path) -> None:
    """Only a memory fault inside a copy is turned into FileTruncatedError:
    a SIGBUS sent with kill()/pthread_kill() while a copy runs keeps its
    meaning (the default action kills the process), instead of being
    swallowed as a bogus FileTruncatedError."""
    import mmap_io

    src = str(Path(mmap_io.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_COPY],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "FileTruncatedError" not in proc.stderr
    assert "survived" not in proc.stdout
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        # under MMAPIO_SANITIZE the handler we pass it on to is ASan's
        assert "AddressSanitizer" in proc.stderr or proc.returncode == -signal.SIGBUS
        return
    assert proc.returncode == -signal.SIGBUS, proc.stderr


# ---- threads hammering one mapping -------------------------------------------

_ALLOWED = (OutOfBoundsError, BusyError, MappingClosedError, LockFailedError)
_SIZES = (1, 8, 64, 4096, 64 * 1024, 200 * 1024)


def _random_op(m: Any, rng: random.Random) -> None:
    n = rng.choice(_SIZES)
    total = m._size_hint
    off = rng.randrange(0, max(1, total - n)) if rng.random() < 0.9 else total - n // 2
    op = rng.randrange(17)
    if op == 0:
        m.read_bytes(off, n)
    elif op == 1:
        m.read_into(off, bytearray(n))
    elif op == 2:
        m.update_region(off, bytes([rng.randrange(256)]) * n)
    elif op == 3:
        with m.as_slice(off, n) as v:
            bytes(v[:1])
    elif op == 4:
        with m.as_slice_mut(off, n) as v:
            v[:1] = b"x"
    elif op == 5:
        new = rng.choice((256, 512, 1024, 2048)) * 1024
        m.resize(new)
        m._size_hint = new
    elif op == 6:
        m.flush()
    elif op == 7:
        m.flush_range(off, n)
    elif op == 8:
        m.start_flush(off, n)
    elif op == 9:
        with m.atomic_u64(off - off % 8) as c:
            c.fetch_add(1)
    elif op == 10:
        with m.atomic_u32_slice(off - off % 4, max(1, n // 4)) as arr:
            arr[-1].fetch_xor(5)
    elif op == 11:
        m.touch_pages_range(off, n)
    elif op == 12:
        m.touch_pages()
    elif op == 13:
        m.advise(off, n, rng.choice([MmapAdvice.RANDOM, MmapAdvice.WILL_NEED]))
    elif op == 14:
        m.prefetch_range(off, n)
    elif op == 15:
        m.residency(off, n)
    else:
        m.lock(off, min(n, 8192))
        m.unlock(off, min(n, 8192))


class _Stressed(MemoryMappedFile):
    """Remembers a recent length, so workers pick mostly valid offsets."""

    _size_hint: int


def test_threads_hammering_one_mapping(tmp_path: Path) -> None:
    """4 threads run random operations (copies from 1 byte to 200 KiB,
    views, atomics, resize, flushes, syscalls) on one mapping, and one of
    them closes it near the end: only the library's errors may escape, and the
    process must not crash."""
    m = _Stressed.create_rw(
        tmp_path / "s.bin", 1 << 20, flush_policy=FlushPolicy.every_bytes(1 << 18)
    )
    m._size_hint = 1 << 20
    deadline = time.monotonic() + 1.5
    unexpected: list[BaseException] = []
    counts = [0] * 4

    def worker(idx: int) -> None:
        rng = random.Random(idx)
        closer = idx == 0
        try:
            while time.monotonic() < deadline:
                if closer and time.monotonic() > deadline - 0.4 and not m.closed:
                    with contextlib.suppress(BusyError):
                        m.close()
                    continue
                try:
                    _random_op(m, rng)
                    counts[idx] += 1
                except _ALLOWED:
                    pass
            while closer and not m.closed:
                with contextlib.suppress(BusyError):
                    m.close()
        except BaseException as exc:
            unexpected.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a worker hangs (deadlock?)"
    assert not unexpected, unexpected
    assert m.closed
    assert min(counts) > 50, counts
    with pytest.raises(MappingClosedError):
        m.read_bytes(0, 1)


@pytest.mark.not_under_asan("a latency bound: ASan makes the copies several times slower")
def test_writers_are_not_starved_by_big_readers(tmp_path: Path) -> None:
    """Big copies hold map_lock and copy_lock shared with the GIL released;
    with readers in several threads their holds overlap without end, and a
    resize(), close() or big update_region() waiting for a lock exclusive
    must still get it promptly."""
    m = MemoryMappedFile.create_rw(tmp_path / "r.bin", 32 * MIB)
    m.touch_pages()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            with contextlib.suppress(MappingClosedError):
                m.read_bytes(0, 16 * MIB)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.05)
        worst = 0.0
        data = b"w" * (16 * MIB)
        for i in range(6):
            t0 = time.monotonic()
            m.resize(32 * MIB + (i % 2) * PS)
            m.update_region(i * PS, data)
            worst = max(worst, time.monotonic() - t0)
        t0 = time.monotonic()
        m.close()
        worst = max(worst, time.monotonic() - t0)
    finally:
        stop.set()
        for t in threads:
            t.join()
        m.close()
    assert worst < 0.5, f"a writer waited {worst:.2f} s for the mapping's locks"
