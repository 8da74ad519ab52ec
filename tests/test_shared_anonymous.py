"""AnonymousMmap(shared=True): memory shared with forked and multiprocessing children."""

from __future__ import annotations

import copy
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest

import _ipc_workers as workers
import mmap_io
from mmap_io import AnonymousMmap, MappingClosedError, MmapIoError, ResizeFailedError, _core

# The fork start method is tested on purpose: Python 3.12+ warns that the
# test process has threads (multiprocessing's own, from earlier tests).
FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"
pytestmark = pytest.mark.filterwarnings(FORK_WARNING)

PS = 4096
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="memfd is Linux-only")


@pytest.fixture
def no_memfd() -> Iterator[None]:
    """Shared memory made without a memfd (MAP_SHARED | MAP_ANONYMOUS)."""
    old = _core._set_memfd(False)
    yield
    _core._set_memfd(old)


def memfds() -> list[str]:
    """This process's descriptors of memfds."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listing the directory, now closed
            continue
        if target.startswith("/memfd:mmap_io"):
            found.append(target)
    return found


def test_shared_flag_and_repr() -> None:
    with AnonymousMmap(PS, shared=True) as s, AnonymousMmap(PS) as p:
        assert s.shared is True and p.shared is False
        assert repr(s) == f"<AnonymousMmap len={PS} shared=True>"
        assert repr(p) == f"<AnonymousMmap len={PS} shared=False>"
        assert s.path is None
        assert not hasattr(s, "fileno")  # the descriptor stays internal
    assert repr(s) == "<AnonymousMmap closed shared=True>"


def test_shared_is_keyword_only_and_a_bool() -> None:
    with pytest.raises(TypeError):
        AnonymousMmap(PS, True)  # type: ignore[misc]
    with pytest.raises(TypeError, match="shared must be a bool"):
        AnonymousMmap(PS, shared=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, -1, _core.MAX_SIZE + 1])
def test_size_rules_are_unchanged(size: int) -> None:
    with pytest.raises(ResizeFailedError):
        AnonymousMmap(size, shared=True)


def test_shared_memory_is_zeroed_and_read_write() -> None:
    with AnonymousMmap(3 * PS + 5, shared=True) as m:
        assert len(m) == 3 * PS + 5
        assert m.read_bytes(0, len(m)) == bytes(len(m))
        m.update_region(len(m) - 5, b"tail!")
        assert m.read_bytes(len(m) - 5, 5) == b"tail!"


@linux_only
def test_no_name_in_dev_shm() -> None:
    before = set(os.listdir("/dev/shm"))
    with AnonymousMmap(PS, shared=True):
        assert set(os.listdir("/dev/shm")) == before
        assert memfds() == ["/memfd:mmap_io (deleted)"]


@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "map_shared"])
def test_forked_child_shares_the_memory(memfd: bool) -> None:
    old = _core._set_memfd(memfd)
    try:
        m = AnonymousMmap(PS, shared=True)
    finally:
        _core._set_memfd(old)
    with m, AnonymousMmap(PS) as private:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            m.update_region(0, b"from the child")
            private.update_region(0, b"lost")
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert m.read_bytes(0, 14) == b"from the child"
        assert private.read_bytes(0, 4) == bytes(4)  # private memory stays private


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_process_argument(method: str) -> None:
    ctx = multiprocessing.get_context(method)
    with AnonymousMmap(PS, shared=True) as m:
        p = ctx.Process(target=workers.touch_shared, args=(m,))
        p.start()
        p.join(60)
        assert p.exitcode == 0
        assert m.atomic_u32(0).load() == 1
        assert m.read_bytes(16, 5) == b"child"


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
@pytest.mark.parametrize("channel", ["queue", "pipe"])
def test_sent_through_a_queue_or_pipe(method: str, channel: str) -> None:
    ctx = multiprocessing.get_context(method)
    with AnonymousMmap(PS, shared=True) as m:
        if channel == "queue":
            conn = ctx.Queue()
            p = ctx.Process(target=workers.touch_shared, args=(None, conn))
            p.start()
            conn.put(m)
        else:
            here, there = ctx.Pipe()
            p = ctx.Process(target=workers.touch_shared, args=(None, there))
            p.start()
            here.send(m)
        p.join(60)
        assert p.exitcode == 0
        assert m.atomic_u32(0).load() == 1
        assert m.read_bytes(16, 5) == b"child"


def test_received_in_the_same_process_is_the_same_memory() -> None:
    here, there = multiprocessing.Pipe()
    with AnonymousMmap(PS, shared=True) as m:
        here.send(m)
        with there.recv() as copy_of_m:
            assert isinstance(copy_of_m, AnonymousMmap) and copy_of_m.shared
            copy_of_m.update_region(0, b"same")
            assert m.read_bytes(0, 4) == b"same"
    here.close()
    there.close()


class Arena(AnonymousMmap):
    """A subclass (module level, so that pickle finds it)."""


def test_subclasses_travel_as_themselves() -> None:
    here, there = multiprocessing.Pipe()
    with Arena(PS, shared=True) as m:
        here.send(m)
        with there.recv() as got:
            assert type(got) is Arena
    here.close()
    there.close()


def test_pickling_outside_multiprocessing_raises() -> None:
    with AnonymousMmap(PS, shared=True) as s, AnonymousMmap(PS) as p:
        for m in (s, p):
            with pytest.raises(TypeError):
                pickle.dumps(m)
            with pytest.raises(TypeError):
                copy.copy(m)
        with pytest.raises(TypeError, match="only by multiprocessing"):
            pickle.dumps(s)
        with pytest.raises(TypeError, match="process-local"):
            ForkingPickler.dumps(p)  # private memory cannot travel at all


def test_closed_shared_memory_cannot_be_sent() -> None:
    m = AnonymousMmap(PS, shared=True)
    m.close()
    with pytest.raises(MappingClosedError):
        ForkingPickler.dumps(m)


def test_fallback_memory_cannot_be_sent(no_memfd: None) -> None:
    with AnonymousMmap(PS, shared=True) as m, pytest.raises(TypeError, match="no memfd"):
        ForkingPickler.dumps(m)


@linux_only
def test_a_descriptor_too_small_is_refused() -> None:
    fd = os.memfd_create("small")
    try:
        os.ftruncate(fd, PS)
        m = _core.Mapping.__new__(_core.Mapping)
        with pytest.raises(MmapIoError) as info:
            _core.Mapping.__init__(m, fd, 2 * PS, 1, shared=True)
        assert isinstance(info.value, OSError)
        m2 = _core.Mapping.__new__(_core.Mapping)
        with pytest.raises(ValueError):
            _core.Mapping.__init__(m2, fd, PS, 0, shared=True)  # shared memory is read-write
    finally:
        os.close(fd)


@linux_only
def test_nothing_is_left_after_the_last_process_exits(tmp_path: Path) -> None:
    """In a fresh interpreter: the memfd exists while a mapping lives, in
    this process and in a spawned child, and is gone from every descriptor
    table and memory map once they are closed and the child has exited."""
    code = textwrap.dedent(
        """
        import multiprocessing, os, sys
        import _ipc_workers as workers
        from mmap_io import AnonymousMmap

        def memfd_entries():
            fds = []
            for fd in os.listdir("/proc/self/fd"):
                try:
                    fds.append(os.readlink(f"/proc/self/fd/{fd}"))
                except OSError:
                    pass
            with open("/proc/self/maps") as f:
                maps = f.read()
            return sum("memfd:mmap_io" in t for t in fds), maps.count("memfd:mmap_io")

        if __name__ == "__main__":
            ctx = multiprocessing.get_context("spawn")
            m = AnonymousMmap(1 << 16, shared=True)
            during = memfd_entries()
            q = ctx.Queue()
            p = ctx.Process(target=workers.touch_shared, args=(m,))
            p.start(); p.join()
            p = ctx.Process(target=workers.touch_shared, args=(None, q))
            p.start(); q.put(m); p.join()
            assert m.atomic_u32(0).load() == 2, m.atomic_u32(0).load()
            m.close()
            q.close(); q.join_thread()
            print(during, memfd_entries(), p.exitcode)
        """
    )
    script = tmp_path / "leak_check.py"
    script.write_text(code)
    tests = Path(__file__).resolve().parent
    src = Path(mmap_io.__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(tests)]))
    r = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["(1,", "1)", "(0,", "0)", "0"], r.stdout
    script.unlink()
