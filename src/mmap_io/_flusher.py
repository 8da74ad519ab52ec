"""The background thread behind ``FlushPolicy.every_millis``.

One daemon thread per mapping. It holds only a weak reference to the
mapping, so it never keeps it alive: ``close()`` stops it at once (and
waits for it), and so does the mapping being garbage-collected (the weak
reference's callback wakes it). Each period it flushes through the native
``_flush_background()``, which skips clean mappings, shares the mapping's
flush lock with ``flush()`` (so two flushes of one mapping never overlap)
and keeps a failure for the next ``flush()`` to raise; the thread logs it
on the ``mmap_io`` logger.

A child made by ``os.fork()`` (or multiprocessing's fork start method)
inherits the mapping but not the thread: the flushers are started again in
the child, so the policy keeps its promise there. (The native core resets
the mapping's locks in the child; a lock the parent's flusher held at the
fork would otherwise hang the child.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

log = logging.getLogger("mmap_io")


class Flusher:
    """Flush a mapping every ``period_ms`` while it may hold dirty data.

    >>> f = Flusher.start(m, 50)   # done by MemoryMappedFile for every_millis
    >>> f.stop()
    """

    __slots__ = ("__weakref__", "_period", "_period_ms", "_ref", "_stop", "flushes", "thread")

    def __init__(self, m: Any, period_ms: int) -> None:
        self._period_ms = period_ms
        self._period = min(period_ms / 1000.0, threading.TIMEOUT_MAX)
        self.flushes = 0
        self._arm(m)

    def _arm(self, m: Any) -> None:
        """A fresh stop event, weak reference and (unstarted) thread."""
        self._stop = threading.Event()
        stop = self._stop
        # The callback must not reference self strongly: a plain closure over
        # the event wakes the thread when the mapping is collected.
        self._ref = weakref.ref(m, lambda _ref: stop.set())
        self.thread = threading.Thread(
            target=self._run, name=f"mmap_io-flusher-{self._period_ms}ms", daemon=True
        )

    @classmethod
    def start(cls, m: Any, period_ms: int) -> Flusher:
        """Create the flusher of ``m`` and start its thread."""
        f = cls(m, period_ms)
        f.thread.start()
        _running.add(f)
        return f

    def stop(self, wait: bool = True) -> None:
        """Wake the thread and make it exit; with ``wait``, join it (unless
        called from the thread itself)."""
        _running.discard(self)
        self._stop.set()
        if wait and self.thread is not threading.current_thread():
            self.thread.join()

    def _restart_in_child(self) -> None:
        # The parent's thread does not exist here, and its event may have
        # been mid-wait: start over with new ones.
        m = self._ref()
        if m is None or m.closed or self._stop.is_set():
            _running.discard(self)
            return
        self._arm(m)
        del m
        self.thread.start()

    def _run(self) -> None:
        period = self._period
        deadline = time.monotonic() + period
        failing = False
        while not self._stop.wait(max(0.0, deadline - time.monotonic())):
            m = self._ref()
            if m is None:
                return
            try:
                done = m._flush_background()
                if done < 0:
                    return
                self.flushes += done
                if failing:
                    failing = False
                    if done:  # else an explicit flush() got there first
                        log.warning("background flush of %r works again", m)
            except Exception as exc:
                # Kept by the mapping for its next flush(); report it now too,
                # once per run of failures (it is retried every period).
                log.log(
                    logging.DEBUG if failing else logging.ERROR,
                    "background flush of %r failed: %s",
                    m,
                    exc,
                )
                failing = True
            finally:
                del m
            # Keep the rhythm, but never try to catch up on missed periods.
            deadline = max(deadline + period, time.monotonic())


# Flushers whose thread runs; restarted in a forked child.
_running: weakref.WeakSet[Flusher] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for f in list(_running):
        f._restart_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
