"""The background thread behind ``FlushPolicy.every_millis``.

It holds only a weak reference to its mapping, so it never keeps the
mapping alive: once the mapping is closed or collected the thread exits
within one period.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

log = logging.getLogger("mmap_io")


class Flusher:
    """Flush ``m`` every ``period_ms`` while it has dirty data."""

    def __init__(self, m: Any, period_ms: int) -> None:
        self._ref = weakref.ref(m)
        self._period = period_ms / 1000.0
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.flushes = 0
        self.thread = threading.Thread(
            target=self._run, name=f"mmap_io-flusher-{period_ms}ms", daemon=True
        )

    @classmethod
    def start(cls, m: Any, period_ms: int) -> Flusher:
        f = cls(m, period_ms)
        f.thread.start()
        return f

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            m = self._ref()
            if m is None or m.closed:
                return
            try:
                if m._needs_flush:
                    m.flush()
                    self.flushes += 1
            except BaseException as exc:  # reported, never swallowed
                if m.closed:
                    return
                self.error = exc
                log.error("background flush of %r failed: %s", m, exc)
            finally:
                del m
