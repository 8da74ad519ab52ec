"""File watching: report changes made to a mapping's backing file.

``m.watch(callback)`` calls ``callback(ChangeEvent)`` on a background thread
whenever the file behind ``m`` changes. Two sources feed it:

- the operating system's file notifications (inotify on Linux, through the
  ``watchfiles`` package of the ``watch`` extra), for ``write(2)``,
  truncation, ``chmod``, ``unlink`` and the like, reported within a few
  tens of milliseconds;
- an ``fstat`` poll every ``poll_ms`` milliseconds, because writes made
  through a *shared mapping* raise no notification on any platform: they
  show up as a new modification time (at least once per flush cycle of the
  writer, when the kernel write-protects cleaned pages again).

Events carry ``offset``/``length`` when the change is a size change (the
region that appeared or vanished), else ``None``.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import os
import threading
import types
from collections.abc import Callable, MutableSet
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from .errors import WatchFailedError

__all__ = ["ChangeEvent", "ChangeKind", "WatchHandle"]

log = logging.getLogger("mmap_io")

_S = TypeVar("_S")
_P = ParamSpec("_P")
_R = TypeVar("_R")

_STEP_MS = 10
_DEBOUNCE_MS = 30


class ChangeKind(enum.Enum):
    """What changed in a watched file.

    >>> ChangeKind.REMOVED.value
    'removed'
    """

    MODIFIED = "modified"
    METADATA = "metadata"
    REMOVED = "removed"


@dataclass(frozen=True)
class ChangeEvent:
    """One change to a watched file; ``offset``/``length`` may be ``None``.

    >>> ChangeEvent(0, 4096, ChangeKind.MODIFIED).kind
    <ChangeKind.MODIFIED: 'modified'>
    """

    offset: int | None
    length: int | None
    kind: ChangeKind


@dataclass(frozen=True)
class _Snapshot:
    size: int
    mtime_ns: int
    meta: tuple[int, int, int]
    identity: tuple[int, int]

    @classmethod
    def of(cls, st: os.stat_result) -> _Snapshot:
        return cls(
            st.st_size,
            st.st_mtime_ns,
            (st.st_mode, st.st_uid, st.st_gid),
            (st.st_dev, st.st_ino),
        )


_EXTRA_HINT = "needs the 'watch' extra: pip install 'mmap-io[watch]'"


@functools.cache
def _notify_class() -> Any:
    """watchfiles' notifier class, or None without the ``watch`` extra."""
    try:
        from watchfiles._rust_notify import RustNotify
    except ImportError:
        return None
    return RustNotify


def _load_notify() -> Any:
    notify_cls = _notify_class()
    if notify_cls is None:
        raise ImportError(f"m.watch() {_EXTRA_HINT}")
    return notify_cls


class needs_watch_extra(Generic[_S, _P, _R]):
    """A method that exists only with the ``watch`` extra installed.

    Without it ``hasattr(m, name)`` is False and the ``AttributeError``
    says what to install, instead of a method that fails when called.

    >>> hasattr(m, "watch")  # watchfiles is installed
    True
    """

    def __init__(self, func: Callable[Concatenate[_S, _P], _R]) -> None:
        self._func = func
        functools.update_wrapper(self, func)

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(
        self, obj: None, objtype: type | None = None
    ) -> Callable[Concatenate[_S, _P], _R]: ...
    @overload
    def __get__(self, obj: _S, objtype: type | None = None) -> Callable[_P, _R]: ...
    def __get__(self, obj: _S | None, objtype: type | None = None) -> Callable[..., _R]:
        if _notify_class() is None:
            owner = objtype if objtype is not None else type(obj)
            raise AttributeError(f"{owner.__name__}.{self._name}() {_EXTRA_HINT}")
        return self._func if obj is None else types.MethodType(self._func, obj)

    def __call__(self, obj: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Call the method unbound, as ``vars(cls)[name](obj, ...)`` would."""
        return self.__get__(obj, type(obj))(*args, **kwargs)


class WatchHandle:
    """A running watch; stop it with :meth:`stop` or by leaving ``with``.

    >>> with m.watch(print) as handle:
    ...     os.truncate(m.path, 8192)        # doctest: +SKIP
    """

    def __init__(
        self, path: str, fd: int, callback: Callable[[ChangeEvent], object], poll_ms: int
    ) -> None:
        if not callable(callback):
            from .errors import value_text

            raise TypeError(f"callback must be callable, not {value_text(callback)} ({path!r})")
        if not isinstance(poll_ms, int) or isinstance(poll_ms, bool) or poll_ms <= 0:
            raise ValueError(f"poll_ms must be a positive int, got {poll_ms!r} ({path!r})")
        notify_cls = _load_notify()
        self._path = path
        self._callback = callback
        self._poll_ms = poll_ms
        self._stop_event = threading.Event()
        self._fd = os.dup(fd)
        try:
            self._last = _Snapshot.of(os.fstat(self._fd))
            # Registers the OS watch before returning: changes made after
            # watch() returns are never missed.
            self._notify = notify_cls([path], False, False, poll_ms, False, False)
        except OSError as exc:
            os.close(self._fd)
            raise WatchFailedError(
                exc.errno or 0, f"cannot watch: {exc.strerror or exc}", path
            ) from None
        except Exception as exc:
            os.close(self._fd)
            raise WatchFailedError(0, f"cannot watch: {exc}", path) from exc
        self._removed = False
        self._thread = threading.Thread(target=self._run, name="mmap_io-watch", daemon=True)
        self._thread.start()

    @property
    def active(self) -> bool:
        """True until the watch is stopped.

        >>> handle.active
        True
        """
        return not self._stop_event.is_set()

    def stop(self) -> None:
        """Stop the thread and release the OS watch. Idempotent.

        >>> handle.stop(); handle.active
        False
        """
        self._stop_event.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> WatchHandle:
        """Return the handle itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """:meth:`stop` the watch."""
        self.stop()

    def __repr__(self) -> str:
        state = "active" if self.active else "stopped"
        return f"<WatchHandle {self._path!r} {state}>"

    # -- the watching thread ---------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop_event.is_set():
                result = self._notify.watch(_DEBOUNCE_MS, _STEP_MS, self._poll_ms, self._stop_event)
                if result == "stop":
                    break
                notified = isinstance(result, set) and bool(result)
                deleted = notified and any(kind == 3 for kind, _ in result)
                event = self._classify(notified, deleted)
                if event is not None:
                    self._deliver(event)
        finally:
            self._notify.close()
            os.close(self._fd)

    def _classify(self, notified: bool, deleted: bool) -> ChangeEvent | None:
        try:
            st = os.fstat(self._fd)
            now, nlink = _Snapshot.of(st), st.st_nlink
        except OSError:
            return None
        try:
            on_path = _Snapshot.of(os.stat(self._path)).identity
        except OSError:
            on_path = None
        old, self._last = self._last, now
        if deleted or nlink == 0 or on_path != now.identity:
            # Once gone, every later change is reported as REMOVED too.
            first = not self._removed
            self._removed = True
            return ChangeEvent(None, None, ChangeKind.REMOVED) if notified or first else None
        if now.size != old.size:
            lo = min(now.size, old.size)
            return ChangeEvent(lo, abs(now.size - old.size), ChangeKind.MODIFIED)
        if now.mtime_ns != old.mtime_ns:
            return ChangeEvent(None, None, ChangeKind.MODIFIED)
        if now.meta != old.meta or notified:
            kind = ChangeKind.METADATA if now.meta != old.meta else ChangeKind.MODIFIED
            return ChangeEvent(None, None, kind)
        return None

    def _deliver(self, event: ChangeEvent) -> None:
        try:
            self._callback(event)
        except Exception:
            log.exception("watch callback for %r failed on %r", self._path, event)


def stop_all(handles: MutableSet[WatchHandle]) -> None:
    """Stop every handle in ``handles`` (used by close() and finalizers)."""
    for handle in list(handles):
        with contextlib.suppress(Exception):
            handle.stop()
    handles.clear()
