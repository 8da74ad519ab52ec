"""The async helpers, under asyncio and trio (anyio's pytest plugin).

Whether a flush happened is judged by the page cache's dirty state, as in
test_durability.py (see ``_durability_workers``).
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

import mmap_io
from _durability_workers import dirty_kib
from mmap_io import (
    FlushPolicy,
    InvalidModeError,
    MappingClosedError,
    MemoryMappedFile,
    MmapIoError,
    OutOfBoundsError,
    page_size,
)

PS = page_size()
pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_update_region_async_writes_then_flushes(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 8 << 20) as m:
        await m.update_region_async(10, b"async")
        assert m.read_bytes(10, 5) == b"async"
        assert m.pending_bytes == 0
        assert dirty_kib(m.as_ptr()) == 0
        await m.update_region_async(4 << 20, bytearray(b"again"))
        assert dirty_kib(m.as_ptr()) == 0


async def test_flush_async_and_flush_range_async(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 8 << 20) as m:
        m.update_region(0, b"a")
        m.update_region(4 << 20, b"b")
        await m.flush_range_async(4 << 20, 1)
        assert dirty_kib(m.as_ptr()) == PS // 1024
        assert m.pending_bytes == 0
        await m.flush_async()
        assert dirty_kib(m.as_ptr()) == 0


async def test_errors_propagate(tmp_path: Path, data_file: Path) -> None:
    m = MemoryMappedFile.create_rw(tmp_path / "f", PS)
    with pytest.raises(OutOfBoundsError):
        await m.update_region_async(PS, b"x")
    with pytest.raises(OutOfBoundsError):
        await m.flush_range_async(0, PS + 1)
    with pytest.raises(TypeError):
        await m.update_region_async(0, "text")  # type: ignore[arg-type]
    m.close()
    with pytest.raises(MappingClosedError):
        await m.flush_async()
    with pytest.raises(MappingClosedError):
        await m.update_region_async(0, b"x")
    with MemoryMappedFile.open_ro(data_file) as ro:
        with pytest.raises(InvalidModeError):
            await ro.update_region_async(0, b"x")
        await ro.flush_async()  # nothing to flush: a no-op


async def test_module_functions(tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    m = await mmap_io.create_mmap_async(a, 2 * PS)
    assert isinstance(m, MemoryMappedFile) and len(m) == 2 * PS
    await m.update_region_async(0, b"copied")
    m.close()
    await mmap_io.copy_mmap_async(a, b)
    assert b.read_bytes()[:6] == b"copied"
    await mmap_io.delete_mmap_async(b)
    assert not b.exists()
    with pytest.raises(FileNotFoundError) as info:
        await mmap_io.delete_mmap_async(b)
    assert isinstance(info.value, MmapIoError)
    with pytest.raises(FileNotFoundError):
        await mmap_io.copy_mmap_async(b, a)
    with pytest.raises(mmap_io.ResizeFailedError):
        await mmap_io.create_mmap_async(tmp_path / "zero.bin", 0)
    with pytest.raises(FileNotFoundError):
        await mmap_io.create_mmap_async(tmp_path / "no" / "dir.bin", PS)


async def test_the_event_loop_keeps_running_during_a_flush(tmp_path: Path) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0)

    with MemoryMappedFile.create_rw(tmp_path / "f", 32 << 20) as m:
        m.update_region(0, b"\x5a" * (32 << 20))
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await m.flush_async()
            tg.cancel_scope.cancel()
        assert ticks > 1
        assert dirty_kib(m.as_ptr()) == 0


async def test_cancelling_mid_flush_leaves_the_mapping_usable(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 32 << 20) as m:
        m.update_region(0, b"\xa5" * (32 << 20))  # tens of ms of writeback
        steps: list[str] = []

        async def flush_then_idle() -> None:
            await m.flush_async()
            steps.append("flushed")
            await anyio.sleep(10)  # the cancellation lands here
            steps.append("not cancelled")

        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(flush_then_idle)
            await anyio.sleep(0.005)
            assert m.pending_bytes > 0  # the flush is still running
            tg.cancel_scope.cancel()
        # The worker thread cannot be interrupted: the task was cancelled
        # once the flush was complete, so it did flush, and nothing stays
        # locked.
        assert steps == ["flushed"]
        assert dirty_kib(m.as_ptr()) == 0
        assert m.pending_bytes == 0
        with anyio.fail_after(2):
            await m.update_region_async(0, b"after")
            await m.flush_range_async(0, 5)
        m.update_region(PS, b"sync")
        m.flush()
        assert m.read_bytes(0, 5) == b"after"
        assert time.monotonic() - t0 < 2


async def test_a_deadline_during_a_flush_waits_for_it(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 32 << 20) as m:
        m.update_region(0, b"\xa5" * (32 << 20))
        with anyio.move_on_after(0.002) as scope:
            await m.flush_async()
        assert scope.cancel_called
        assert dirty_kib(m.as_ptr()) == 0 and m.pending_bytes == 0
        m.update_region(0, b"usable")
        m.flush()


async def test_cancelled_update_region_async_is_all_or_nothing(tmp_path: Path) -> None:
    with MemoryMappedFile.create_rw(tmp_path / "f", 32 << 20, flush_policy=FlushPolicy.NEVER) as m:
        data = b"\x01" * (32 << 20)
        with anyio.move_on_after(0.001):
            await m.update_region_async(0, data)
        # Either it never started, or it wrote and flushed everything.
        whole = m.read_bytes(0, len(data))
        assert whole in (data, bytes(len(data)))
        if whole == data:
            assert m.pending_bytes == 0 and dirty_kib(m.as_ptr()) == 0
        await m.flush_async()
