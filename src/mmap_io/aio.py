"""Async helpers: the blocking calls, run in a worker thread, for asyncio and trio.

They need the ``async`` extra (``pip install 'mmap-io[async]'``), which
brings anyio; anyio is imported on first use, so the core has no runtime
dependency. The mapping methods :meth:`MemoryMappedFile.update_region_async`,
``flush_async`` and ``flush_range_async`` and the functions here all run
the work with ``anyio.to_thread.run_sync``: the event loop keeps running
while msync waits for the disk.

Cancellation: the worker thread cannot be interrupted, so a cancelled task
waits for its call to finish and then raises the cancellation. The
operation therefore either did not start or completed (a cancelled
``flush_async`` still flushed), and the mapping is never left locked. A
mapping made by a cancelled :func:`create_mmap_async` is closed again.

>>> import anyio
>>> async def main():
...     m = await create_mmap_async("a.bin", 4096)
...     await m.update_region_async(0, b"hello")   # written and flushed
...     await copy_mmap_async("a.bin", "b.bin")
...     m.close()
>>> anyio.run(main)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._offload import run_sync
from .manager import copy_mmap, create_mmap, delete_mmap

if TYPE_CHECKING:
    from .file import MemoryMappedFile, PathLike

__all__ = ["copy_mmap_async", "create_mmap_async", "delete_mmap_async", "run_sync"]


async def create_mmap_async(path: PathLike, size: int) -> MemoryMappedFile:
    """:func:`create_mmap` in a worker thread.

    If the awaiting task is cancelled, the new mapping is closed (the file
    stays, like after ``create_mmap`` then ``close``).

    >>> m = await create_mmap_async("new.bin", 4096)
    """
    made: list[MemoryMappedFile] = []

    def work() -> MemoryMappedFile:
        m = create_mmap(path, size)
        made.append(m)
        return m

    try:
        return await run_sync(work)
    except BaseException:
        for m in made:
            m.close()
        raise


async def copy_mmap_async(src: PathLike, dst: PathLike) -> None:
    """:func:`copy_mmap` in a worker thread.

    >>> await copy_mmap_async("new.bin", "copy.bin")
    """
    await run_sync(copy_mmap, src, dst)


async def delete_mmap_async(path: PathLike) -> None:
    """:func:`delete_mmap` in a worker thread.

    >>> await delete_mmap_async("copy.bin")
    """
    await run_sync(delete_mmap, path)
