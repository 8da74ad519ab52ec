"""The exception hierarchy of mmap_io.

Every error the library raises on purpose is an :class:`MmapIoError`; each
subclass is also the builtin a Python user would catch::

    >>> import mmap_io
    >>> issubclass(mmap_io.OutOfBoundsError, IndexError)
    True

Operating-system failures raise a class that is both an ``MmapIoError`` and
the matching builtin ``OSError`` subclass (``FileNotFoundError``, ...), with
``errno``, ``strerror`` and ``filename`` set. The classes are created by the
native core; this module re-exports them.
"""

from __future__ import annotations

import builtins
import errno as _errno
import os
import reprlib
from typing import Any

from ._core import (
    AdviceFailedError,
    BusyError,
    FileTruncatedError,
    FlushFailedError,
    InvalidModeError,
    LockFailedError,
    MappingClosedError,
    MisalignedError,
    MmapIoError,
    OutOfBoundsError,
    ResizeFailedError,
    UnlockFailedError,
    WatchFailedError,
    _int_text,
    _out_of_bounds,
    os_error,
)

__all__ = [
    "AdviceFailedError",
    "BusyError",
    "FileTruncatedError",
    "FlushFailedError",
    "InvalidModeError",
    "LockFailedError",
    "MappingClosedError",
    "MisalignedError",
    "MmapIoError",
    "OutOfBoundsError",
    "ResizeFailedError",
    "UnlockFailedError",
    "WatchFailedError",
    "from_oserror",
    "os_error",
    "for_path",
    "int_text",
    "out_of_bounds",
    "value_text",
]

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60


def value_text(value: object) -> str:
    """``"<type> <short repr>"`` of an argument, for messages about it.

    >>> value_text("r+")
    "str 'r+'"
    """
    try:
        text = _repr.repr(value)
    except Exception:
        text = "<unprintable>"
    return f"{type(value).__name__} {text}"


def for_path(path: Any) -> str:
    """``" for '<path>'"``, or ``""`` when there is no path.

    >>> for_path("/tmp/x") + for_path(None)
    " for '/tmp/x'"
    """
    return "" if path is None else f" for {os.fsdecode(path)!r}"


def from_oserror(exc: OSError, path: Any = None, context: str | None = None) -> MmapIoError:
    """Translate a builtin ``OSError`` into mmap_io's class for its errno.

    >>> e = from_oserror(FileNotFoundError(2, "No such file"), "/nope")
    >>> isinstance(e, FileNotFoundError) and isinstance(e, MmapIoError)
    True
    """
    filename = exc.filename if path is None else path
    if isinstance(filename, (bytes, os.PathLike)):
        filename = os.fsdecode(filename)
    if exc.errno is None:
        err = MmapIoError(f"{context + ': ' if context else ''}{exc}")
        err.__cause__ = exc
        return err
    return os_error(exc.errno, filename, context)


def int_text(value: int) -> str:
    """``str(value)`` for messages; an int too long to print is shown by size.

    >>> int_text(12), int_text(-(10**5000))
    ('12', '<negative 16610-bit int>')
    """
    return _int_text(value)


def out_of_bounds(
    offset: int, length: int, total: int, path: Any = None, within: str = "the mapping"
) -> OutOfBoundsError:
    """Build an :class:`OutOfBoundsError` carrying ``offset``, ``length``, ``total``.

    ``within`` names what the range must fit in (``total`` is its length).
    The message is the one the native core gives its own bounds errors.

    >>> out_of_bounds(10, 5, 12).total
    12
    """
    return _out_of_bounds(offset, length, total, None if path is None else str(path), within)


def __getattr__(name: str) -> type[MmapIoError]:
    """Resolve the OS-error classes the core makes on first use.

    They are named ``mmap_io.errors.FileNotFoundError`` and so on; looking
    them up here is what lets their instances pickle (``multiprocessing``
    sends exceptions between processes that way).

    >>> import mmap_io.errors as e
    >>> issubclass(e.FileNotFoundError, FileNotFoundError)
    True
    """
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, OSError):
        for err in sorted(_errno.errorcode):
            if type(OSError(err, "")) is builtin:
                return type(os_error(err))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
