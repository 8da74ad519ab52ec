"""No crash, hang or wrong data under hostile use: Python code that runs in
the middle of a call, fork, signal handlers installed later, memory that is
not there in a child, a full disk, and small edge cases of the facade.

Scenarios that would kill or hang the process they run in on a regression
run in a child interpreter (``_reliability_workers``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

import mmap_io
from mmap_io import (
    BusyError,
    FileTruncatedError,
    FlushPolicy,
    MappingClosedError,
    MemoryMappedFile,
    MmapIoError,
    MmapMode,
    OutOfBoundsError,
    create_mmap,
    page_size,
)

PS = page_size()
HERE = Path(__file__).parent
SRC = Path(mmap_io.__file__).parent.parent


def run_worker(call: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``_reliability_workers.<call>`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    code = f"import _reliability_workers as w; w.{call}"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
    )


def outcome_lines(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    lines = [line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line]
    return {k: v for k, v in lines}


def died(proc: subprocess.CompletedProcess[str]) -> str:
    rc = proc.returncode
    name = signal.Signals(-rc).name if rc < 0 else f"exit {rc}"
    return f"child {name}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"


# ---- Python code run by an argument conversion -------------------------------


def test_index_releasing_atomic_views(tmp_path: Path) -> None:
    """``arr[K()]`` where ``K.__index__`` releases ``arr`` (and the same for
    every other atomic entry point taking an int): MappingClosedError, never a
    NULL dereference."""
    proc = run_worker(f"reentrant_atomics({str(tmp_path / 'a.bin')!r})")
    assert proc.returncode == 0, died(proc)
    results = outcome_lines(proc)
    assert len(results) == 9, proc.stdout
    for name, cls in results.items():
        assert cls == "MappingClosedError", f"{name}: {cls}"


def test_index_closing_or_shrinking_the_mapping(tmp_path: Path) -> None:
    """Every mapping method taking an int re-checks the mapping after the
    conversion ran Python code that closed it or shrank it."""
    proc = run_worker(f"reentrant_mapping({str(tmp_path / 'm.bin')!r})")
    assert proc.returncode == 0, died(proc)
    results = outcome_lines(proc)
    assert len(results) == 38, proc.stdout
    for name, cls in results.items():
        action, call = name.split(":")
        if action == "close":
            assert cls == "MappingClosedError", f"{name}: {cls}"
        elif call == "resize":
            assert cls == "ok", f"{name}: {cls}"  # growing a shrunk mapping is fine
        else:
            assert cls == "OutOfBoundsError", f"{name}: {cls}"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ is Python 3.12+")
def test_buffer_method_closing_the_mapping(tmp_path: Path) -> None:
    """A bytes-like argument whose ``__buffer__`` closes or shrinks the mapping."""
    m = MemoryMappedFile.create_rw(tmp_path / "b.bin", 64 * PS)

    class Sneaky:
        def __init__(self, action: object) -> None:
            self.action = action
            self.data = bytearray(8)

        def __buffer__(self, flags: int) -> memoryview:
            self.action()  # type: ignore[operator]
            return memoryview(self.data)

    with pytest.raises(OutOfBoundsError):
        m.update_region(32 * PS, Sneaky(lambda: m.resize(PS)))
    with pytest.raises(OutOfBoundsError):
        m.read_into(PS - 4, Sneaky(lambda: m.resize(PS // 2)))
    with pytest.raises(MappingClosedError):
        m.update_region(0, Sneaky(m.close))
    m = MemoryMappedFile.create_rw(tmp_path / "c.bin", 64 * PS)
    with pytest.raises(MappingClosedError):
        m.read_into(0, Sneaky(m.close))


# ---- fork ------------------------------------------------------------------

FORKS = 40


@pytest.mark.parametrize("busy", ["flusher", "big_copy", "flush"])
def test_fork_while_locks_are_held(tmp_path: Path, busy: str) -> None:
    """Fork while another thread (or the every_millis flusher) holds the
    mapping's locks: each child copies, flushes and closes in time."""
    proc = run_worker(f"fork_while_busy({str(tmp_path / 'f.bin')!r}, {busy!r}, {FORKS})", 400)
    assert proc.returncode == 0, died(proc)
    assert proc.stdout.strip().splitlines()[-1] == f"ok={FORKS} failed=0 hung=0", proc.stdout


def test_multiprocessing_fork_context(tmp_path: Path) -> None:
    """multiprocessing's fork start method with no thread of the user's own."""
    proc = run_worker(f"multiprocessing_fork({str(tmp_path / 'p.bin')!r}, 20)", 400)
    assert proc.returncode == 0, died(proc)
    assert proc.stdout.strip().splitlines()[-1] == "ok=20 failed=0 hung=0", proc.stdout


def test_every_millis_keeps_flushing_in_a_forked_child(tmp_path: Path) -> None:
    proc = run_worker(f"flusher_in_child({str(tmp_path / 'c.bin')!r})", 60)
    assert proc.returncode == 0, died(proc)
    assert "child: ok" in proc.stdout, proc.stdout


def test_dont_fork_child_sees_a_closed_mapping(tmp_path: Path) -> None:
    """After advise(DONT_FORK) the range is not mapped in a forked child: the
    mapping reports itself closed there, and the parent's is untouched."""
    proc = run_worker(f"dont_fork_child({str(tmp_path / 'd.bin')!r})", 60)
    assert proc.returncode == 0, died(proc)
    results = outcome_lines(proc)
    assert results.pop("child") == "ok", proc.stdout
    assert results.pop("parent") == "b'parent' b'parent'", proc.stdout
    for label in ("file", "anon", "part"):
        assert results.pop(f"{label}:closed_attr") == "True", proc.stdout
        assert results.pop(f"{label}:closed") == "ok"
        assert results.pop(f"{label}:close") == "ok"
    for name, cls in results.items():
        assert cls == "MappingClosedError", f"{name}: {cls}\n{proc.stdout}"


# ---- SIGBUS handlers installed after the first mapping ----------------------


@pytest.mark.parametrize("how", ["faulthandler", "signal", "both"])
def test_guard_holds_after_a_later_handler(tmp_path: Path, how: str) -> None:
    proc = run_worker(f"guard_after_later_handler({str(tmp_path / 'g.bin')!r}, {how!r})", 20)
    assert proc.returncode == 0, died(proc)
    results = outcome_lines(proc)
    assert results.pop("seen") == "[]", proc.stdout  # the Python handler saw nothing
    assert results, proc.stdout
    for name, cls in results.items():
        assert cls == "FileTruncatedError", f"{name}: {cls}"
    assert "Fatal Python error" not in proc.stderr


@pytest.mark.parametrize("how", ["faulthandler", "python", "disabled"])
def test_unrelated_fault_still_reaches_the_later_handler(tmp_path: Path, how: str) -> None:
    """Faults outside the library go to the later handler; one that returns
    without repairing the fault does not make the process fault for ever."""
    path = str(tmp_path / "u.bin")
    try:
        proc = run_worker(f"unguarded_after_later_handler({path!r}, {how!r})", 30)
    except subprocess.TimeoutExpired:
        pytest.fail("the unguarded fault loops for ever")
    assert "guarded copy ok" in proc.stdout, died(proc)
    assert "survived" not in proc.stdout
    assert proc.returncode == -signal.SIGBUS, died(proc)
    if how == "faulthandler":
        assert "Bus error" in proc.stderr  # faulthandler's report


# ---- why a copy faulted ---------------------------------------------------------


def test_truncation_names_the_current_size(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    path.write_bytes(bytes(8 * PS))
    with MemoryMappedFile.open_ro(path) as m:
        os.truncate(path, PS + 100)
        with pytest.raises(FileTruncatedError) as info:
            m.read_bytes(4 * PS, 8)
        assert f"{PS + 100} bytes" in str(info.value)
        assert info.value.errno == errno.EFAULT
        assert info.value.filename == str(path)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Path:
    """A 1 MiB tmpfs mounted under tmp_path (unmounted afterwards)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs: {exc}")
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def test_full_disk_reports_enospc(tiny_tmpfs: Path) -> None:
    """A write into a sparse file on a full file system: ENOSPC, not EFAULT."""
    path = tiny_tmpfs / "sparse.bin"
    with MemoryMappedFile.create_rw(path, 4 << 20) as m:  # sparse: 4 MiB on 1 MiB
        with pytest.raises(FileTruncatedError) as info:
            for off in range(0, 4 << 20, 64 * 1024):
                m.update_region(off, b"\xff" * (64 * 1024))
        exc = info.value
        assert exc.errno == errno.ENOSPC, exc
        assert isinstance(exc, OSError) and isinstance(exc, MmapIoError)
        assert exc.filename == str(path)
        assert "no space" in str(exc).lower()
        # small copies (GIL held) report the same
        with pytest.raises(FileTruncatedError) as info:
            m.update_region((4 << 20) - 8, b"tail")
        assert info.value.errno == errno.ENOSPC


# ---- smaller edge cases ------------------------------------------------------


def test_stopped_watches_are_let_go(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    path = tmp_path / "w.bin"
    with MemoryMappedFile.create_rw(path, PS) as m:
        refs = []
        for _ in range(20):
            handle = m.watch(lambda event: None)
            handle.stop()
            refs.append(weakref.ref(handle))
            del handle
        gc.collect()
        assert all(r() is None for r in refs), "stopped handles are still referenced"
        with m.watch(lambda event: None) as live:
            assert live.active


def test_as_array_zero_size_dtype(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    with MemoryMappedFile.create_rw(tmp_path / "z.bin", PS) as m:
        with pytest.raises(ValueError, match="zero-size"):
            m.as_array(np.dtype([]))
        with pytest.raises(ValueError, match="zero-size"):
            m.as_array("V0")


def test_as_array_read_only_write_is_numpys_error(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    path = tmp_path / "r.bin"
    path.write_bytes(bytes(PS))
    with MemoryMappedFile.open_ro(path) as m:
        a = m.as_array("u1")
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 1
        del a
    assert "read-only" in (MemoryMappedFile.as_array.__doc__ or "")


HUGE = 10**5000  # more digits than int -> str allows by default


@pytest.mark.parametrize("offset", [HUGE, -HUGE], ids=["huge", "negative-huge"])
def test_huge_offsets_in_segments_and_writers(tmp_path: Path, offset: int) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "h.bin", PS) as m:
        seg = m.segment_mut(0, 16)
        with pytest.raises(OutOfBoundsError):
            seg.write(b"x", offset)
        w = m.writer()
        if offset > 0:
            w.seek(offset)
            with pytest.raises(OutOfBoundsError):
                w.write(b"x")
        with pytest.raises((OutOfBoundsError, ValueError)) as info:
            m.read_bytes(offset, 1)
        assert isinstance(info.value, OutOfBoundsError)


def test_residency_reports_the_real_offset(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "r.bin", PS) as m:
        for bad in (2**64, 2**63, -(2**64)):
            with pytest.raises(OutOfBoundsError) as info:
                m.residency(bad)
            assert info.value.offset == bad
            with pytest.raises(OutOfBoundsError) as info:
                m.residency(bad, 1)
            assert info.value.offset == bad


def _a_block_device() -> str | None:
    for name in sorted(os.listdir("/dev")):
        path = f"/dev/{name}"
        with contextlib.suppress(OSError):
            if stat.S_ISBLK(os.stat(path).st_mode) and os.access(path, os.R_OK):
                return path
    return None


@pytest.mark.parametrize("kind", ["char", "block"])
def test_devices_are_refused(kind: str) -> None:
    path = "/dev/null" if kind == "char" else _a_block_device()
    if path is None:
        pytest.skip("no readable block device")
    with pytest.raises(MmapIoError) as info:
        MemoryMappedFile.open_ro(path)
    exc = info.value
    assert isinstance(exc, OSError) and exc.errno == errno.ENODEV
    assert exc.filename == path
    assert "device" in str(exc)
    with open(path, "rb") as f, pytest.raises(MmapIoError):
        MemoryMappedFile.from_file(f, MmapMode.READ_ONLY)


def test_unmap_hands_out_a_blocking_descriptor(tmp_path: Path) -> None:
    for opener in (MemoryMappedFile.create_rw, MemoryMappedFile.open_ro):
        path = tmp_path / "u.bin"
        m = opener(path, PS) if opener == MemoryMappedFile.create_rw else opener(path)
        with m.unmap() as f:
            assert not fcntl.fcntl(f.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK


# ---- permissions and symlinks -----------------------------------------------


@pytest.fixture
def umask_022() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_permissions_of_created_files(tmp_path: Path, umask_022: object) -> None:
    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    MemoryMappedFile.create_rw(tmp_path / "a", PS, permissions=0o600).close()
    assert mode(tmp_path / "a") == 0o600
    MemoryMappedFile.create_rw(tmp_path / "b", PS).close()
    assert mode(tmp_path / "b") == 0o644  # 0o666 before the umask
    MemoryMappedFile.open_or_create(tmp_path / "c", PS, permissions=0o640).close()
    assert mode(tmp_path / "c") == 0o640
    create_mmap(tmp_path / "d", PS, permissions=0o600).close()
    assert mode(tmp_path / "d") == 0o600
    MemoryMappedFile.builder(tmp_path / "e").size(PS).permissions(0o604).create().close()
    assert mode(tmp_path / "e") == 0o604
    MemoryMappedFile.builder(tmp_path / "f").size(PS).permissions(0o600).open_or_create().close()
    assert mode(tmp_path / "f") == 0o600
    # an existing file keeps its mode, like open()
    MemoryMappedFile.open_or_create(tmp_path / "a", PS, permissions=0o666).close()
    assert mode(tmp_path / "a") == 0o600


@pytest.mark.parametrize(
    ("bad", "exc"),
    [
        (-1, ValueError),
        (0o10000, ValueError),
        (2**70, ValueError),
        ("0o600", TypeError),
        (0o600 * 1.0, TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_permissions_are_validated(tmp_path: Path, bad: object, exc: type) -> None:
    path = tmp_path / "v"
    with pytest.raises(exc, match="permissions"):
        MemoryMappedFile.create_rw(path, PS, permissions=bad)  # type: ignore[arg-type]
    with pytest.raises(exc, match="permissions"):
        MemoryMappedFile.open_or_create(path, PS, permissions=bad)  # type: ignore[arg-type]
    with pytest.raises(exc, match="permissions"):
        MemoryMappedFile.builder(path).permissions(bad)  # type: ignore[arg-type]
    assert not path.exists()


@pytest.fixture
def planted_link(tmp_path: Path) -> Path:
    target = tmp_path / "target.bin"
    target.write_bytes(b"secret" + bytes(PS))
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    return link


def test_follow_symlinks_false_refuses_a_link(planted_link: Path) -> None:
    link = str(planted_link)
    calls = {
        "open_ro": lambda **kw: MemoryMappedFile.open_ro(link, **kw),
        "open_rw": lambda **kw: MemoryMappedFile.open_rw(link, **kw),
        "open_cow": lambda **kw: MemoryMappedFile.open_cow(link, **kw),
        "create_rw": lambda **kw: MemoryMappedFile.create_rw(link, PS, **kw),
        "open_or_create": lambda **kw: MemoryMappedFile.open_or_create(link, PS, **kw),
        "create_mmap": lambda **kw: create_mmap(link, PS, **kw),
        "builder_open": lambda **kw: (
            MemoryMappedFile.builder(link).follow_symlinks(kw["follow_symlinks"]).open()
        ),
        "builder_create": lambda **kw: (
            MemoryMappedFile.builder(link).size(PS).follow_symlinks(kw["follow_symlinks"]).create()
        ),
    }
    for name, call in calls.items():
        with pytest.raises(MmapIoError) as info:
            call(follow_symlinks=False)
        exc = info.value
        assert isinstance(exc, OSError) and exc.errno == errno.ELOOP, name
        assert exc.filename == link, name
        assert planted_link.is_symlink()
        assert planted_link.read_bytes().startswith(b"secret"), f"{name} changed the target"
    # the default follows the link, like open()
    with MemoryMappedFile.open_ro(link) as m:
        assert m.read_bytes(0, 6) == b"secret"
    with MemoryMappedFile.open_ro(link, follow_symlinks=True) as m:
        assert m.read_bytes(0, 6) == b"secret"


def test_follow_symlinks_is_validated_and_pickled(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "p.bin"
    with pytest.raises(TypeError, match="follow_symlinks"):
        MemoryMappedFile.create_rw(path, PS, follow_symlinks="no")  # type: ignore[arg-type]
    m = MemoryMappedFile.create_rw(path, PS, follow_symlinks=False)
    data = pickle.dumps(m)
    m.close()
    path.rename(tmp_path / "real.bin")
    path.symlink_to(tmp_path / "real.bin")
    with pytest.raises(MmapIoError) as info:
        pickle.loads(data)
    assert info.value.errno == errno.ELOOP


# ---- keep it proven: threads, fork and close against a bytearray model ----------
#
# test_hostile.py's hammer checks that nothing crashes; this one also checks
# every byte. Each thread owns one region of the mapping and keeps a
# bytearray model of it; every read of its region must equal the model,
# whatever the other threads do meanwhile (resizes of the tail, flushes,
# forks, views, and finally a close from another thread).

STRESS_SECONDS = float(os.environ.get("MMAPIO_STRESS_SECONDS", "20"))
REGION = 256 * 1024
THREADS = 4
_STRESS_SIZES = (1, 8, 100, PS, 70 * 1024, REGION)


class _Wrong(AssertionError):
    """A read disagreed with the model."""


def _stress_op(m: MemoryMappedFile, idx: int, model: bytearray, rng: random.Random) -> None:
    base = idx * REGION
    n = rng.choice(_STRESS_SIZES)
    rel = rng.randrange(0, REGION - n + 1)
    off = base + rel
    op = rng.randrange(12)
    if op == 0:
        data = rng.randbytes(n)
        m.update_region(off, data)
        model[rel : rel + n] = data
    elif op == 1:
        if m.read_bytes(off, n) != model[rel : rel + n]:
            raise _Wrong(f"read_bytes({off}, {n})")
    elif op == 2:
        buf = bytearray(n)
        m.read_into(off, buf)
        if buf != model[rel : rel + n]:
            raise _Wrong(f"read_into({off}, {n})")
    elif op == 3:
        with m.as_slice(off, n) as view:
            if view != model[rel : rel + n]:
                raise _Wrong(f"as_slice({off}, {n})")
    elif op == 4:
        data = rng.randbytes(n)
        with m.as_slice_mut(off, n) as view:
            view[:] = data
        model[rel : rel + n] = data
    elif op == 5:
        rel -= rel % 8
        add = rng.randrange(1 << 64)
        with m.atomic_u64(base + rel) as cell:
            old = cell.fetch_add(add)
        want = int.from_bytes(model[rel : rel + 8], "little")
        if old != want:
            raise _Wrong(f"atomic_u64({base + rel}).fetch_add: {old} != {want}")
        model[rel : rel + 8] = ((want + add) % (1 << 64)).to_bytes(8, "little")
    elif op == 6:
        data = rng.randbytes(n)
        m.segment_mut(off, n).write(data)
        model[rel : rel + n] = data
    elif op == 7:
        rng.choice((m.flush, lambda: m.flush_range(off, n), lambda: m.start_flush(off, n)))()
    elif op == 8:
        # only the tail beyond the threads' regions comes and goes
        m.resize(THREADS * REGION + rng.randrange(0, 5) * PS + PS)
    elif op == 9 and rng.random() < 0.1:
        _stress_fork(m, base, bytes(model))
    elif op == 10:
        # the tail may shrink under the iteration: its last chunk is then
        # out of bounds, an error the API promises
        with contextlib.suppress(OutOfBoundsError):
            for i, chunk in enumerate(m.chunks_owned(64 * 1024)):
                if i < THREADS * REGION // (64 * 1024) and i // 4 == idx:
                    at = (i % 4) * 64 * 1024
                    if chunk != model[at : at + 64 * 1024]:
                        raise _Wrong(f"chunks_owned chunk {i}")
    else:
        m.touch_pages_range(off, n)


def _stress_fork(m: MemoryMappedFile, base: int, expect: bytes) -> None:
    """A child checks this thread's region, copies, flushes and closes.
    Where another thread closed the mapping before the fork, the child
    finds it closed (exit 4): fine if the parent's is closed too."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            code = 0 if m.read_bytes(base, REGION) == expect else 1
            m.read_bytes(0, 64 * 1024)
            m.flush()
            m.close()
        except MappingClosedError:
            code = 4
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            if code == 1:
                raise _Wrong("a forked child saw other bytes than the parent")
            if code == 4 and m.closed:
                return
            if code != 0:
                raise AssertionError(f"a forked child failed with {code}")
            return
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("a forked child hangs")


def _stress_round(path: Path, seconds: float, seed: int) -> int:
    models = [bytearray(REGION) for _ in range(THREADS)]
    m = MemoryMappedFile.create_rw(
        path, THREADS * REGION + PS, flush_policy=FlushPolicy.every_millis(5)
    )
    deadline = time.monotonic() + seconds
    failures: list[BaseException] = []
    ops = [0] * THREADS
    closed = threading.Event()

    def worker(idx: int) -> None:
        rng = random.Random(seed * 100 + idx)
        try:
            while not closed.is_set():
                if idx == 0 and time.monotonic() > deadline:
                    try:
                        m.close()  # the others find it closed mid-operation
                    except BusyError:
                        continue  # another thread's view: try again
                    closed.set()
                    return
                try:
                    _stress_op(m, idx, models[idx], rng)
                    ops[idx] += 1
                except BusyError:
                    pass
                except MappingClosedError:
                    if not closed.is_set() and not m.closed:
                        raise
                    return
        except BaseException as exc:
            failures.append(exc)
            closed.set()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    assert not any(t.is_alive() for t in threads), "a stress worker hangs"
    if failures:
        raise failures[0]
    assert m.closed
    # what the threads wrote is what the file holds
    with MemoryMappedFile.open_ro(path) as check:
        for idx, model in enumerate(models):
            if check.read_bytes(idx * REGION, REGION) != model:
                raise _Wrong(f"region {idx} differs from its model after close")
    return sum(ops)


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_stress_against_a_model(tmp_path: Path) -> None:
    """4 threads of random copies, views, atomics, segments, resizes of the
    tail, flushes, forks (each child checks its region) and a close from one
    thread while the others run: no crash, no hang, no wrong byte. Runs
    MMAPIO_STRESS_SECONDS seconds in all (default 20)."""
    rounds = max(1, int(STRESS_SECONDS // 5))
    done = 0
    for r in range(rounds):
        done += _stress_round(tmp_path / f"s{r}.bin", STRESS_SECONDS / rounds, r)
    assert done > 100 * rounds, f"only {done} operations ran"
