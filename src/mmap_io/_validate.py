"""Argument checks shared by the constructors, the builder and the helpers.

Each check returns the value it accepts or raises the library's error for
it, naming the argument and, where there is one, the file or mapping. The
constructors run them before opening or creating anything, so a call with
a bad argument changes nothing on disk.
"""

from __future__ import annotations

import os
from typing import TypeVar

from . import _core
from .enums import MmapAdvice, MmapMode, TouchHint
from .errors import ResizeFailedError, for_path, int_text, value_text
from .flush import FlushPolicy

__all__ = [
    "Options",
    "check_advice",
    "check_chunk_size",
    "check_mode",
    "check_options",
    "check_permissions",
    "check_size",
    "check_type",
    "fspath",
]

_T = TypeVar("_T")

# The constructor options, checked: flush_policy, touch_hint, huge_pages, advice.
Options = tuple[FlushPolicy, TouchHint, bool, MmapAdvice | None]

# How messages name a type that does not take "a" ("must be an int").
_NOUNS: dict[type, str] = {int: "an int", MmapAdvice: "an MmapAdvice"}


def check_type(
    value: object, cls: type[_T], what: str, path: object = None, on: object = None
) -> _T:
    """``value`` if it is a ``cls``, else ``TypeError`` naming ``what``.

    A bool is no int here (``size=True`` is a mistake, not 1). The message
    ends with the file ``path`` or the object ``on`` (say the mapping), if
    given; they are only rendered when the check fails.

    >>> check_type(True, int, "size")
    Traceback (most recent call last):
    TypeError: size must be an int, not bool True
    """
    if isinstance(value, cls) and not (cls is int and isinstance(value, bool)):
        return value
    noun = _NOUNS.get(cls, f"a {cls.__name__}")
    raise TypeError(f"{what} must be {noun}, not {value_text(value)}{_where(path, on)}")


def _where(path: object, on: object) -> str:
    return for_path(path) + (f" ({on!r})" if on is not None else "")


def fspath(path: object) -> str:
    """``path`` as a ``str`` (``bytes`` and ``os.PathLike`` are decoded)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be str, bytes or os.PathLike, not {value_text(path)}")
    return os.fsdecode(path)


def check_size(size: object, what: str = "size", path: object = None) -> int:
    """Validate a mapping size: an int in 1 .. 128 TiB, else ResizeFailedError."""
    n = check_type(size, int, what, path)
    if not 0 < n <= _core.MAX_SIZE:
        raise ResizeFailedError(
            f"{what} {int_text(n)}{for_path(path)} is invalid: "
            f"it must be between 1 and {_core.MAX_SIZE} bytes"
        )
    return n


# The mode strings, in the order messages list them: "'r', 'r+' or 'c'".
_MODE_STRINGS = ", ".join(repr(m.value) for m in MmapMode).rsplit(", ", 1)


def check_mode(mode: object, path: object = None) -> MmapMode:
    """``mode`` as an :class:`MmapMode`; its value (``"r"``, ``"r+"``, ``"c"``)
    is accepted too.

    Another string is a ``ValueError`` naming the accepted ones; anything
    else a ``TypeError``.

    >>> check_mode("r+")
    <MmapMode.READ_WRITE: 'r+'>
    >>> check_mode("rb")
    Traceback (most recent call last):
    ValueError: mode must be 'r', 'r+' or 'c' (or an MmapMode), not str 'rb'
    """
    if isinstance(mode, MmapMode):
        return mode
    accepted = " or ".join(_MODE_STRINGS)
    if not isinstance(mode, str):
        raise TypeError(
            f"mode must be an MmapMode or {accepted}, not {value_text(mode)}{for_path(path)}"
        )
    try:
        return MmapMode(mode)
    except ValueError:
        raise ValueError(
            f"mode must be {accepted} (or an MmapMode), not {value_text(mode)}{for_path(path)}"
        ) from None


def check_advice(advice: object, path: object = None) -> MmapAdvice | None:
    """``advice`` if it is an :class:`MmapAdvice` or ``None``, else ``TypeError``."""
    return None if advice is None else check_type(advice, MmapAdvice, "advice", path)


def check_options(
    flush_policy: object,
    touch_hint: object,
    huge_pages: object,
    advice: object = None,
    path: object = None,
) -> Options:
    """The keyword options every constructor takes, checked in that order."""
    return (
        check_type(flush_policy, FlushPolicy, "flush_policy", path),
        check_type(touch_hint, TouchHint, "touch_hint", path),
        check_type(huge_pages, bool, "huge_pages", path),
        check_advice(advice, path),
    )


def check_permissions(permissions: object, path: object = None) -> int:
    """The mode bits of a file to create: an int in 0 .. 0o7777.

    >>> check_permissions(0o600)
    384
    """
    n = check_type(permissions, int, "permissions", path)
    if not 0 <= n <= 0o7777:
        shown = f"{n:#o}" if n.bit_length() <= 64 else f"<{n.bit_length()}-bit int>"
        raise ValueError(
            f"permissions {shown}{for_path(path)} is invalid: "
            "it must be file mode bits between 0 and 0o7777"
        )
    return n


def check_chunk_size(size: object, m: object = None) -> int:
    """``size`` if it is a positive int; errors name it and the mapping ``m``."""
    n = check_type(size, int, "chunk size", on=m)
    if n <= 0:
        raise ValueError(f"chunk size must be positive, got {n}{_where(None, m)}")
    return n
