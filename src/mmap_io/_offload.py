"""Running a blocking call in a worker thread, for asyncio and trio alike.

The one piece of the async layer that the mapping classes use (their
``*_async`` methods). anyio, from the ``async`` extra, is imported on the
first call, so ``import mmap_io`` never imports it.

Cancellation: the worker thread cannot be interrupted, so a cancelled
caller waits for the call to finish and then raises the cancellation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def _to_thread() -> Any:
    try:
        import anyio.to_thread
    except ModuleNotFoundError as exc:  # pragma: no cover - anyio is a test dependency
        raise ModuleNotFoundError(
            "the async helpers of mmap_io need anyio: pip install 'mmap-io[async]'",
            name="anyio",
        ) from exc
    return anyio.to_thread


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a worker thread and return its result.

    A cancelled caller waits for ``fn`` to return, then raises the
    cancellation.

    >>> await run_sync(m.flush)
    """
    result: T = await _to_thread().run_sync(fn, *args)
    return result
