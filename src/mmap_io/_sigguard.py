"""Keep the SIGBUS guard in front of handlers installed after it.

The native core turns a fault inside its own copies (a file truncated by
someone else, a full disk) into :class:`FileTruncatedError` with a SIGBUS
handler installed by the first mapping. A handler installed later -
``faulthandler.enable()``, ``signal.signal(signal.SIGBUS, ...)`` - would
take every SIGBUS first and turn the error back into a dead (or hung)
process. Checking which handler is current on every copy costs a system
call, more than a small copy itself; instead the few Python functions
that change the SIGBUS handler are wrapped so that, right after they ran,
the guard is put back in front, passing every fault it does not own on to
the new handler. (A handler installed from C by another extension is
wrapped again by the next mapping created.)

The wrappers behave exactly like the functions they wrap; ``__wrapped__``
is the original.
"""

from __future__ import annotations

import faulthandler
import functools
import signal
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import _core

__all__: list[str] = []


def _first_is_sigbus(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    signum = args[0] if args else kwargs.get("signum", kwargs.get("signalnum"))
    return signum == signal.SIGBUS


def _always(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return True


def _wrap(
    module: ModuleType, name: str, touches: Callable[[tuple[Any, ...], dict[str, Any]], bool]
) -> None:
    original = getattr(module, name, None)
    if original is None or getattr(original, "_mmap_io_guard", False):
        return

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        finally:
            if touches(args, kwargs):
                _core._guard_sigbus()

    wrapper._mmap_io_guard = True  # type: ignore[attr-defined]
    wrapper.__module__ = module.__name__  # pickles by reference, as before
    setattr(module, name, wrapper)


if hasattr(signal, "SIGBUS"):
    _wrap(signal, "signal", _first_is_sigbus)
    _wrap(faulthandler, "enable", _always)
    _wrap(faulthandler, "disable", _always)
    _wrap(faulthandler, "register", _first_is_sigbus)
    _wrap(faulthandler, "unregister", _first_is_sigbus)
