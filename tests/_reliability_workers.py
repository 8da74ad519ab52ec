"""Scenarios of test_reliability.py that run in a child interpreter.

Each may kill the process it runs in when the library regresses (a NULL
dereference, a deadlock after fork, a SIGBUS nobody catches), so the tests
start it with ``python -c "import _reliability_workers as w; w.NAME(...)"``
and judge its exit status and output: a regression is a failed test, not a
dead pytest.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from mmap_io import (
    AnonymousMmap,
    FileTruncatedError,
    FlushPolicy,
    MemoryMappedFile,
    MmapAdvice,
    MmapIoError,
)

PAGE = os.sysconf("SC_PAGESIZE")
BIG = 256 * 1024  # above the size where copies release the GIL

# A child process forked while other threads run is what these scenarios
# are about; Python 3.12+ warns about exactly that.
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")


def _report(name: str, call: Callable[[], object]) -> None:
    """Print ``name: <exception class or 'ok'>``: the parent checks the lines."""
    try:
        call()
    except Exception as exc:
        print(f"{name}: {type(exc).__name__}", flush=True)
    else:
        print(f"{name}: ok", flush=True)


# ---- Python code run by a conversion releases or closes what is in use -------


class _Releasing:
    """An index whose ``__index__`` first runs ``action`` (once)."""

    def __init__(self, value: int, action: Callable[[], object]) -> None:
        self.value = value
        self.action: Callable[[], object] | None = action

    def __index__(self) -> int:
        action, self.action = self.action, None
        if action is not None:
            action()
        return self.value


def reentrant_atomics(path: str) -> None:
    """Atomic views and slices whose argument's ``__index__`` releases them."""
    # left open: the cases keep views alive until the process ends
    m = MemoryMappedFile.create_rw(path, 4 * PAGE)
    cases: dict[str, Callable[[], object]] = {}

    def slice_case(index: int) -> Callable[[], object]:
        arr = m.atomic_u64_slice(0, 4)
        return lambda: arr[_Releasing(index, arr.release)]

    cases["slice_item_in_range"] = slice_case(1)
    cases["slice_item_out_of_range"] = slice_case(100)
    cases["slice_item_negative_out_of_range"] = slice_case(-100)
    arr32 = m.atomic_u32_slice(0, 8)
    cases["slice_of_slice"] = lambda: arr32[_Releasing(1, arr32.release) : 3]
    arr_idx = m.atomic_u64_slice(0, 4)
    item = arr_idx[2]
    cases["slice_index_bounds"] = lambda: arr_idx.index(
        item, _Releasing(0, arr_idx.release), _Releasing(100, arr_idx.release)
    )
    arr_miss = m.atomic_u64_slice(0, 4)
    cases["slice_index_missing"] = lambda: arr_miss.index(
        m.atomic_u64(64), _Releasing(0, arr_miss.release)
    )
    c_store = m.atomic_u64(0)
    cases["store"] = lambda: c_store.store(_Releasing(1, c_store.release))
    c_add = m.atomic_u32(8)
    cases["fetch_add"] = lambda: c_add.fetch_add(_Releasing(1, c_add.release))
    c_cas = m.atomic_u64(16)
    cases["compare_exchange"] = lambda: c_cas.compare_exchange(0, _Releasing(1, c_cas.release))
    for name, call in cases.items():
        _report(name, call)


def reentrant_mapping(path: str) -> None:
    """Every method taking an int, with an ``__index__`` that closes the mapping
    (or shrinks it) before returning an offset that was valid when called."""
    calls: dict[str, Callable[[Any, Any], object]] = {
        "read_bytes": lambda m, k: m.read_bytes(k, 8),
        "read_bytes_len": lambda m, k: m.read_bytes(0, k),
        "read_into": lambda m, k: m.read_into(k, bytearray(8)),
        "update_region": lambda m, k: m.update_region(k, b"x" * 8),
        "as_slice": lambda m, k: m.as_slice(k, 8),
        "as_slice_mut": lambda m, k: m.as_slice_mut(k, 8),
        "flush_range": lambda m, k: m.flush_range(k, 8),
        "start_flush": lambda m, k: m.start_flush(k),
        "advise": lambda m, k: m.advise(k, 8, MmapAdvice.RANDOM),
        "prefetch_range": lambda m, k: m.prefetch_range(k, 8),
        "touch_pages_range": lambda m, k: m.touch_pages_range(k, 8),
        "residency": lambda m, k: m.residency(k, 8),
        "residency_to_end": lambda m, k: m.residency(k),
        "lock": lambda m, k: m.lock(k, 8),
        "atomic_u64": lambda m, k: m.atomic_u64(k),
        "atomic_u32_slice": lambda m, k: m.atomic_u32_slice(k, 2),
        "atomic_u64_slice_count": lambda m, k: m.atomic_u64_slice(0, k),
        "resize": lambda m, k: m.resize(k),
        "segment": lambda m, k: m.segment(k, 8),
    }
    for action in ("close", "shrink"):
        for name, call in calls.items():
            m = MemoryMappedFile.create_rw(path, 64 * PAGE)
            value = 32 * PAGE if name != "resize" else 48 * PAGE

            def act(m: Any = m, action: str = action) -> None:
                if action == "close":
                    m.close()
                else:
                    m.resize(PAGE)

            key = _Releasing(value, act)
            _report(f"{action}:{name}", lambda m=m, call=call, key=key: call(m, key))
            with contextlib.suppress(MmapIoError):
                m.close()


# ---- fork -----------------------------------------------------------------


def _child_uses(m: Any, deadline_s: float = 10.0) -> int:
    """What a forked child does: big and small copies, a flush, close."""
    try:
        m.read_bytes(0, BIG)
        m.update_region(PAGE, b"c" * BIG)
        m.read_bytes(3, 5)
        m.update_region(7, b"child")
        m.flush()
        m.close()
    except BaseException:
        return 1
    return 0


def _wait_child(pid: int, timeout: float) -> str:
    """'ok', 'failed', or 'hung' (then killed)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "ok" if os.waitstatus_to_exitcode(status) == 0 else "failed"
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"


def fork_while_busy(path: str, busy: str, forks: int) -> None:
    """Fork ``forks`` times while a thread keeps the mapping's locks busy:
    ``busy`` is 'flusher' (FlushPolicy.every_millis writing constantly),
    'big_copy' (a thread copying 256 KiB chunks) or 'flush' (a thread
    calling flush()). Prints the children's outcomes as one line."""
    policy = FlushPolicy.every_millis(1) if busy == "flusher" else FlushPolicy.NEVER
    m = MemoryMappedFile.create_rw(path, 4 << 20, flush_policy=policy)
    stop = threading.Event()

    def keep_busy() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            if busy == "big_copy":
                m.read_bytes(0, 2 << 20)
                m.update_region(1 << 20, bytes([i % 256]) * BIG)
            else:
                m.update_region((i * PAGE) % (2 << 20), b"d" * PAGE)
                if busy == "flush":
                    m.flush()

    worker = threading.Thread(target=keep_busy, daemon=True)
    worker.start()
    outcomes: dict[str, int] = {"ok": 0, "failed": 0, "hung": 0}
    try:
        for _ in range(forks):
            if busy == "flusher":
                # the library's own thread is the one inside a flush
                m.update_region(0, os.urandom(PAGE))
            time.sleep(0.002)
            pid = os.fork()
            if pid == 0:
                os._exit(_child_uses(m))
            outcomes[_wait_child(pid, 10.0)] += 1
            if outcomes["hung"] >= 3:
                break  # a regression: no need to wait for all of them
    finally:
        stop.set()
        worker.join()
        m.close()
    print(" ".join(f"{k}={v}" for k, v in outcomes.items()), flush=True)


def _mp_child(m: Any, q: Any) -> None:
    q.put(_child_uses(m))


def multiprocessing_fork(path: str, rounds: int) -> None:
    """multiprocessing's fork start method, no thread of our own: the
    every_millis flusher is the only other thread."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    m = MemoryMappedFile.create_rw(path, 4 << 20, flush_policy=FlushPolicy.every_millis(1))
    outcomes = {"ok": 0, "failed": 0, "hung": 0}
    for i in range(rounds):
        for k in range(20):
            m.update_region(((i * 20 + k) * PAGE) % (2 << 20), os.urandom(PAGE))
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_mp_child, args=(m, q))
        p.start()
        p.join(10)
        if p.is_alive():
            p.kill()
            p.join()
            outcomes["hung"] += 1
        else:
            outcomes["ok" if p.exitcode == 0 and q.get() == 0 else "failed"] += 1
        if outcomes["hung"] >= 3:
            break  # a regression: no need to wait for all of them
    m.close()
    print(" ".join(f"{k}={v}" for k, v in outcomes.items()), flush=True)


def flusher_in_child(path: str) -> None:
    """A forked child's every_millis mapping keeps flushing in the child."""
    m = MemoryMappedFile.create_rw(path, 1 << 20, flush_policy=FlushPolicy.every_millis(5))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            m.update_region(0, b"from the child")
            end = time.monotonic() + 5
            while m.pending_bytes and time.monotonic() < end:
                time.sleep(0.01)
            code = 0 if m.pending_bytes == 0 else 2
            m.close()
        finally:
            os._exit(code)
    print("child:", _wait_child(pid, 15.0), flush=True)
    m.close()


def dont_fork_child(path: str) -> None:
    """After advise(DONT_FORK) the child has no memory there: every library
    call must raise instead of touching it."""
    files = MemoryMappedFile.create_rw(path, 4 * PAGE)
    anon = AnonymousMmap(4 * PAGE)
    part = MemoryMappedFile.create_rw(path + ".part", 4 * PAGE)
    for m in (files, anon):
        m.update_region(0, b"parent")
        m.advise(0, len(m), MmapAdvice.DONT_FORK)
    part.advise(PAGE, PAGE, MmapAdvice.DONT_FORK)
    pid = os.fork()
    if pid == 0:
        for label, m in (("file", files), ("anon", anon), ("part", part)):
            calls: dict[str, Callable[[], object]] = {
                "read_bytes": lambda m=m: m.read_bytes(PAGE, 4),
                "update_region": lambda m=m: m.update_region(PAGE, b"x"),
                "as_slice": lambda m=m: bytes(m.as_slice(PAGE, 4)),
                "memoryview": lambda m=m: bytes(memoryview(m)[PAGE : PAGE + 4]),
                "atomic": lambda m=m: m.atomic_u64(PAGE).load(),
                "touch_pages": lambda m=m: m.touch_pages(),
                "len": lambda m=m: len(m),
                "closed": lambda m=m, label=label: print(
                    f"{label}:closed_attr: {m.closed}", flush=True
                ),
                "close": lambda m=m: m.close(),
            }
            for name, call in calls.items():
                _report(f"{label}:{name}", call)
        os._exit(0)
    status = _wait_child(pid, 20.0)
    # the parent's mappings are untouched
    print("parent:", files.read_bytes(0, 6), anon.read_bytes(0, 6), flush=True)
    print("child:", status, flush=True)
    for m in (files, anon, part):
        m.close()


# ---- the SIGBUS guard against handlers installed later ----------------------


def guard_after_later_handler(path: str, how: str) -> None:
    """Map, then let someone install a SIGBUS handler, then fault in a copy."""
    with open(path, "wb") as f:
        f.truncate(8 * PAGE)
    m = MemoryMappedFile.open_rw(path)
    seen: list[int] = []
    if how == "faulthandler":
        faulthandler.enable()
    elif how == "signal":
        signal.signal(signal.SIGBUS, lambda signum, frame: seen.append(signum))
    elif how == "both":
        faulthandler.enable()
        signal.signal(signal.SIGBUS, lambda signum, frame: seen.append(signum))
        faulthandler.enable()
    os.truncate(path, PAGE)
    atom = m.atomic_u64(4 * PAGE) if how != "signal" else None
    calls: dict[str, Callable[[], object]] = {
        "read_bytes": lambda: m.read_bytes(2 * PAGE, 8),
        "read_big": lambda: m.read_bytes(0, 8 * PAGE),
        "update_region": lambda: m.update_region(3 * PAGE, b"x"),
        "touch_pages": lambda: m.touch_pages(),
    }
    if atom is not None:
        calls["atomic_load"] = atom.load
    for name, call in calls.items():
        try:
            call()
        except FileTruncatedError:
            print(f"{name}: FileTruncatedError", flush=True)
        except Exception as exc:
            print(f"{name}: {type(exc).__name__}", flush=True)
        else:
            print(f"{name}: no error", flush=True)
    if atom is not None:
        atom.release()
    m.close()
    print("seen:", seen, flush=True)


def unguarded_after_later_handler(path: str, how: str = "faulthandler") -> None:
    """A fault outside the library after a handler installed after the first
    mapping: faulthandler still reports it, and the process dies of SIGBUS.
    With a handler that returns without repairing the fault (a Python-level
    one, or faulthandler once disabled) it dies too, instead of faulting
    again for ever."""
    import ctypes

    with open(path, "wb") as f:
        f.truncate(4 * PAGE)
    m = MemoryMappedFile.open_ro(path)
    if how == "faulthandler":
        faulthandler.enable()
    elif how == "python":
        signal.signal(signal.SIGBUS, lambda signum, frame: None)
    else:  # "disabled"
        faulthandler.enable()
        faulthandler.disable()
    os.truncate(path, 0)
    with contextlib.suppress(FileTruncatedError):
        m.read_bytes(PAGE, 1)
    print("guarded copy ok", flush=True)
    ctypes.string_at(m.as_ptr() + 2 * PAGE, 1)  # not the library: dies
    print("survived", flush=True)


if __name__ == "__main__":  # pragma: no cover - manual runs
    globals()[sys.argv[1]](*sys.argv[2:])
