"""AtomicU32.wait / notify / notify_all: futex wake-ups between threads and processes."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import _ipc_workers as workers
from mmap_io import (
    AnonymousMmap,
    FileTruncatedError,
    MappingClosedError,
    MemoryMappedFile,
    _core,
)

# The fork start method is tested on purpose: Python 3.12+ warns that the
# test process has threads (multiprocessing's own, from earlier tests).
FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"
pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="futex(2) is Linux-only"),
    pytest.mark.filterwarnings(FORK_WARNING),
]

PS = 4096


@pytest.fixture(params=["file", "shared", "private", "cow"])
def mem(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[AnonymousMmap | MemoryMappedFile]:
    """Every kind of writable memory: futexes are shared on the first two."""
    if request.param in ("file", "cow"):
        path = tmp_path / "words.bin"
        path.write_bytes(bytes(PS))
        opener = MemoryMappedFile.open_rw if request.param == "file" else MemoryMappedFile.open_cow
        m: AnonymousMmap | MemoryMappedFile = opener(path)
    else:
        m = AnonymousMmap(PS, shared=request.param == "shared")
    yield m
    m.close()


def wake_until(notify: Callable[[], int], want: int = 1) -> int:
    """Call ``notify`` until it reports ``want`` woken in all (the waiters
    may not be asleep yet); the total."""
    woken, deadline = 0, time.monotonic() + 10
    while woken < want and time.monotonic() < deadline:
        woken += notify()
        time.sleep(0.001)
    return woken


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    return t, out


# -- waiting and waking ---------------------------------------------------------


def test_returns_at_once_when_the_value_differs(mem: AnonymousMmap) -> None:
    with mem.atomic_u32(0) as c:
        c.store(7)
        start = time.monotonic()
        assert c.wait(6) is True
        assert c.wait(0, timeout=None) is True
        assert time.monotonic() - start < 1


def test_timeout_returns_false(mem: AnonymousMmap) -> None:
    with mem.atomic_u32(4) as c:
        start = time.monotonic()
        assert c.wait(0, timeout=0.05) is False
        assert time.monotonic() - start >= 0.05
        assert c.wait(0, 0) is False  # timeout as a positional argument, zero
        assert c.wait(expected=0, timeout=0.001) is False


def test_notify_wakes_a_thread(mem: AnonymousMmap) -> None:
    with mem.atomic_u32(8) as c:
        t, out = in_thread(lambda: c.wait(0, timeout=30))
        assert wake_until(c.notify) == 1  # woken without the value changing
        t.join(10)
        assert out == [True]
        assert c.notify() == 0  # nobody is waiting any more


def test_store_then_notify_wakes_the_waiter(mem: AnonymousMmap) -> None:
    with mem.atomic_u32(8) as c:
        seen: list[int] = []

        def waiter() -> None:
            while c.load() == 0:
                c.wait(0, timeout=30)
            seen.append(c.load())

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.02)
        c.store(3)
        c.notify()
        t.join(10)
        assert seen == [3]


def test_notify_n_and_notify_all(mem: AnonymousMmap) -> None:
    with mem.atomic_u32_slice(0, 4) as arr:
        c = arr[2]  # items of an AtomicSlice are AtomicU32 views too
        threads = [in_thread(lambda: c.wait(0, timeout=30)) for _ in range(4)]
        assert wake_until(lambda: c.notify(2), 2) == 2
        assert wake_until(c.notify_all, 2) == 2
        for t, out in threads:
            t.join(10)
            assert out == [True]
        assert c.notify(0) == 0
        assert c.notify(2**100) == 0  # any count is fine
        c.release()


def test_waiting_releases_the_gil() -> None:
    with AnonymousMmap(PS) as m, m.atomic_u32(0) as c:
        t, out = in_thread(lambda: c.wait(0, timeout=0.3))
        spins = 0
        while t.is_alive():
            spins += 1
        t.join()
        assert out == [False]
        assert spins > 1000  # this thread ran Python code all along


def test_only_atomic_u32_has_it(mem: AnonymousMmap) -> None:
    with mem.atomic_u64(0) as c:
        for name in ("wait", "notify", "notify_all"):
            assert not hasattr(c, name)
    with mem.atomic_u32(0) as c32:
        assert c32.wait.__text_signature__ == "($self, /, expected, timeout=None)"
        assert c32.notify.__text_signature__ == "($self, /, n=1)"


# -- read-only mappings and shared keys ---------------------------------------------


def test_read_only_mapping_waits_and_notifies(tmp_path: Path) -> None:
    """A read-only and a read-write mapping of one file are different
    addresses of the same page: the futex is shared between them."""
    path = tmp_path / "ro.bin"
    path.write_bytes(bytes(PS))
    with MemoryMappedFile.open_ro(path) as ro, MemoryMappedFile.open_rw(path) as rw:
        r, w = ro.atomic_u32(12), rw.atomic_u32(12)
        assert r.wait(0, timeout=0.01) is False
        assert r.notify() == 0  # needs no write access
        t, out = in_thread(lambda: r.wait(0, timeout=30))
        assert wake_until(w.notify) == 1
        t.join(10)
        assert out == [True]
        t, out = in_thread(lambda: w.wait(0, timeout=30))
        assert wake_until(r.notify_all) == 1
        t.join(10)
        assert out == [True]
        r.release()
        w.release()


def test_private_memory_is_not_shared_with_other_mappings(tmp_path: Path) -> None:
    """Copy-on-write memory is private: its futex does not meet the file's."""
    path = tmp_path / "cow.bin"
    path.write_bytes(bytes(PS))
    with MemoryMappedFile.open_cow(path) as cow, MemoryMappedFile.open_rw(path) as rw:
        c, w = cow.atomic_u32(0), rw.atomic_u32(0)
        c.store(0)  # the copy-on-write page is now this process's own
        t, out = in_thread(lambda: c.wait(0, timeout=0.3))
        time.sleep(0.05)
        assert w.notify() == 0
        t.join(10)
        assert out == [False]
        c.release()
        w.release()


# -- signals ---------------------------------------------------------------------


def send_later(sig: int, delay: float, *, process: bool = False) -> threading.Timer:
    main = threading.main_thread().ident
    assert main is not None

    def send() -> None:
        if process:
            os.kill(os.getpid(), sig)
        else:
            signal.pthread_kill(main, sig)

    timer = threading.Timer(delay, send)
    timer.start()
    return timer


@pytest.mark.parametrize("process", [False, True], ids=["pthread_kill", "kill"])
def test_ctrl_c_interrupts_a_wait_promptly(process: bool) -> None:
    with AnonymousMmap(PS) as m, m.atomic_u32(0) as c:
        timer = send_later(signal.SIGINT, 0.1, process=process)
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            c.wait(0, timeout=30)
        assert time.monotonic() - start < 5
        timer.join()
        assert m._exports == 1  # the wait gave back its hold on the memory


def test_a_handler_that_returns_lets_the_wait_go_on() -> None:
    calls: list[float] = []
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: calls.append(time.monotonic()))
    try:
        with AnonymousMmap(PS) as m, m.atomic_u32(0) as c:
            timers = [send_later(signal.SIGUSR1, d) for d in (0.05, 0.1, 0.15)]
            start = time.monotonic()
            assert c.wait(0, timeout=0.4) is False
            elapsed = time.monotonic() - start
            for t in timers:
                t.join()
            assert len(calls) == 3
            # resumed with the time left, not the whole timeout again
            assert 0.4 <= elapsed < 1.5
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_a_handler_that_changes_the_value_ends_the_wait() -> None:
    with AnonymousMmap(PS) as m, m.atomic_u32(0) as c:
        old = signal.signal(signal.SIGUSR1, lambda signum, frame: c.store(1))
        try:
            timer = send_later(signal.SIGUSR1, 0.05)
            start = time.monotonic()
            assert c.wait(0, timeout=30) is True
            assert time.monotonic() - start < 5
            timer.join()
        finally:
            signal.signal(signal.SIGUSR1, old)


# -- bad arguments and states ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "exc"),
    [
        ((-1,), {}, OverflowError),
        ((2**32,), {}, OverflowError),
        ((2**100,), {}, OverflowError),
        (("0",), {}, TypeError),
        ((1.0,), {}, TypeError),
        ((None,), {}, TypeError),
        ((), {}, TypeError),
        ((0,), {"timeout": -0.001}, ValueError),
        ((0,), {"timeout": -(10**400)}, ValueError),
        ((0,), {"timeout": math.nan}, ValueError),
        ((0,), {"timeout": "1"}, TypeError),
        ((0,), {"timeout": [1]}, TypeError),
        ((0,), {"timeout": 1, "n": 2}, TypeError),
        ((0, 1, 2), {}, TypeError),
    ],
)
def test_wait_rejects_bad_arguments(
    args: tuple[object, ...], kwargs: dict[str, object], exc: type
) -> None:
    with AnonymousMmap(PS) as m, m.atomic_u32(0) as c, pytest.raises(exc):
        c.wait(*args, **kwargs)


def test_huge_timeouts_wait_forever_until_woken() -> None:
    with AnonymousMmap(PS) as m, m.atomic_u32(0) as c:
        for timeout in (math.inf, 10**400, 1e300):
            t, out = in_thread(lambda timeout=timeout: c.wait(0, timeout=timeout))
            assert wake_until(c.notify) == 1
            t.join(10)
            assert out == [True]


@pytest.mark.parametrize(
    ("args", "exc"),
    [((-1,), ValueError), ((1.0,), TypeError), (("1",), TypeError), ((1, 2), TypeError)],
)
def test_notify_rejects_bad_arguments(args: tuple[object, ...], exc: type) -> None:
    with AnonymousMmap(PS) as m, m.atomic_u32(0) as c:
        with pytest.raises(exc):
            c.notify(*args)
        with pytest.raises(TypeError):
            c.notify_all(1)  # type: ignore[call-arg]


def test_released_view_raises_mapping_closed() -> None:
    with AnonymousMmap(PS) as m:
        c = m.atomic_u32(0)
        c.release()
        for call in (lambda: c.wait(0), lambda: c.wait(1, timeout=0), c.notify, c.notify_all):
            with pytest.raises(MappingClosedError):
                call()


def test_an_index_that_releases_the_view_is_caught() -> None:
    with AnonymousMmap(PS) as m:
        c = m.atomic_u32(0)

        class Sneaky:
            def __index__(self) -> int:
                c.release()
                return 0

        with pytest.raises(MappingClosedError):
            c.wait(Sneaky(), timeout=0)

        d = m.atomic_u32(4)

        class SneakyTimeout:
            def __float__(self) -> float:
                d.release()
                return 0.0

        with pytest.raises(MappingClosedError):
            d.wait(0, timeout=SneakyTimeout())
        assert m._exports == 0


def test_releasing_the_view_during_a_wait_is_safe() -> None:
    with AnonymousMmap(PS) as m:
        c = m.atomic_u32(0)
        t, out = in_thread(lambda: c.wait(0, timeout=1))
        deadline = time.monotonic() + 10
        while m._exports < 2 and time.monotonic() < deadline:
            time.sleep(0.001)  # until the wait holds an export of its own
        c.release()
        assert m._exports == 1  # the wait still holds the memory
        t.join(10)
        assert out == [False]
        assert m._exports == 0


def test_truncated_file_raises_file_truncated(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(bytes(2 * PS))
    with MemoryMappedFile.open_rw(path) as m, m.atomic_u32(PS + 8) as c:
        os.truncate(path, PS)
        with pytest.raises(FileTruncatedError):
            c.wait(0, timeout=0)
        with pytest.raises(FileTruncatedError):
            c.notify()
        with pytest.raises(FileTruncatedError):
            c.notify_all()


# -- between processes ----------------------------------------------------------------


@contextlib.contextmanager
def running(p: multiprocessing.process.BaseProcess) -> Iterator[None]:
    """Start ``p``; afterwards it must exit cleanly (it is killed if it hangs)."""
    p.start()
    try:
        yield
        p.join(30)
    finally:
        if p.is_alive():
            p.kill()
            p.join()
    assert p.exitcode == 0


def wake_child(m: AnonymousMmap | MemoryMappedFile, p: multiprocessing.process.BaseProcess) -> None:
    """Child ``p`` sleeps on FLAG: store 41 there, notify, and wait for its ACK."""
    with running(p):
        with m.atomic_u32(workers.SLEEPERS) as sleepers, m.atomic_u32(workers.FLAG) as flag:
            while sleepers.load() == 0 and p.is_alive():
                time.sleep(0.001)
            time.sleep(0.02)  # let it go to sleep, most likely
            flag.store(41)
            flag.notify()
        with m.atomic_u32(workers.ACK) as ack:
            deadline = time.monotonic() + 30
            while ack.load() == 0 and time.monotonic() < deadline:
                ack.wait(0, timeout=1)
            assert ack.load() == 42


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_wake_a_child_through_shared_anonymous_memory(method: str) -> None:
    ctx = multiprocessing.get_context(method)
    with AnonymousMmap(PS, shared=True) as m:
        wake_child(m, ctx.Process(target=workers.wait_for_flag, args=(m,)))


@pytest.mark.parametrize("read_only", [False, True], ids=["rw", "ro"])
def test_wake_a_child_through_a_file(tmp_path: Path, read_only: bool) -> None:
    """Also when the child sleeps on a read-only mapping of the file."""
    path = tmp_path / "flag.bin"
    path.write_bytes(bytes(PS))
    ctx = multiprocessing.get_context("spawn")
    with MemoryMappedFile.open_rw(path) as m:
        args = (str(path), read_only)
        wake_child(m, ctx.Process(target=workers.wait_for_flag_in_file, args=args))


def test_ping_pong_between_processes() -> None:
    ctx = multiprocessing.get_context("spawn")
    rounds = 500
    with AnonymousMmap(PS, shared=True) as m:
        p = ctx.Process(target=workers.ping_pong, args=(m, rounds))
        with running(p), m.atomic_u32(workers.FLAG) as word:
            for k in range(rounds):
                word.store(2 * k + 1)
                word.notify()
                while word.load() != 2 * k + 2 and p.is_alive():
                    word.wait(2 * k + 1, timeout=1)
            assert word.load() == 2 * rounds


@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "map_shared"])
def test_wake_a_forked_child(memfd: bool) -> None:
    """Also shared memory made without a memfd (MAP_SHARED | MAP_ANONYMOUS),
    which forked children inherit."""
    old = _core._set_memfd(memfd)
    try:
        m = AnonymousMmap(PS, shared=True, huge_pages=True)
    finally:
        _core._set_memfd(old)
    with m:
        ctx = multiprocessing.get_context("fork")
        wake_child(m, ctx.Process(target=workers.wait_for_flag, args=(m,)))
