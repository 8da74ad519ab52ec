"""Flush policies: when writes made through the library become durable."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, ClassVar, Final

from . import _core

if TYPE_CHECKING:
    from ._flusher import Flusher

__all__ = ["FlushPolicy"]

# Kinds understood by the native core (_core.Mapping._set_flush_policy).
_NEVER: Final = _core.POLICY_NEVER
_ALWAYS: Final = _core.POLICY_ALWAYS
_BYTES: Final = _core.POLICY_BYTES
_WRITES: Final = _core.POLICY_WRITES
_MILLIS: Final = _core.POLICY_MILLIS
_MAX: Final = (1 << 63) - 1
_NAMES: Final = {_BYTES: "every_bytes", _WRITES: "every_writes", _MILLIS: "every_millis"}


class _NotAnIntError(TypeError, ValueError):
    """A policy threshold that is not an int at all.

    Thresholds that are not positive ints raise ``ValueError``; a wrong
    type is a ``TypeError`` to Python users. This error is both, so either
    ``except`` clause catches it (like ``io.UnsupportedOperation``, which is
    both ``OSError`` and ``ValueError``).

    >>> try:
    ...     FlushPolicy.every_bytes(1.5)
    ... except ValueError as exc:
    ...     isinstance(exc, TypeError)
    True
    """


class FlushPolicy:
    """An immutable flush policy: when writes made through the library are
    flushed to the file (``msync(MS_SYNC)``) without an explicit ``flush()``.

    ``NEVER`` (the default; ``MANUAL`` is the same value) flushes only when
    you call ``flush()``. ``ALWAYS`` flushes after every ``update_region``.
    ``every_bytes(n)`` flushes once ``n`` bytes were written since the last
    flush, ``every_writes(n)`` after ``n`` writes, and ``every_millis(ms)``
    runs a background thread that flushes dirty data every ``ms``. ``n`` and
    ``ms`` must be positive ints, else ``ValueError`` (a non-int raises an
    error that is also a ``TypeError``).

    The byte and write counters see ``update_region``, ``SegmentMut.write``
    and ``MmapWriter.write``. Writes through writable views
    (``as_slice_mut``, ``memoryview(m)``, ``chunks_mut``, ``as_array``,
    atomic views, ``as_mut_ptr``) are invisible to them, so ``ALWAYS``,
    ``every_bytes`` and ``every_writes`` do not fire for those; call
    ``flush()``, or use ``every_millis``, which flushes while such views are
    alive too. Policies only act on read-write file mappings; whatever the
    policy, ``close()`` of a read-write mapping whose policy is not
    ``NEVER`` flushes first.

    >>> FlushPolicy.every_bytes(4096)
    FlushPolicy.every_bytes(4096)
    >>> FlushPolicy.MANUAL == FlushPolicy.NEVER
    True
    """

    __slots__ = ("_kind", "_n")

    NEVER: ClassVar[FlushPolicy]
    MANUAL: ClassVar[FlushPolicy]
    ALWAYS: ClassVar[FlushPolicy]

    _kind: int
    _n: int

    def __init__(self, kind: int, n: int = 0) -> None:
        # Internal: use the class attributes and the every_* constructors.
        if kind in _NAMES:
            n = self._checked(n, "n")
        elif kind not in (_NEVER, _ALWAYS) or n != 0:
            raise ValueError(
                f"invalid flush policy ({kind!r}, {n!r}): use FlushPolicy.NEVER, "
                "ALWAYS, every_bytes(n), every_writes(n) or every_millis(ms)"
            )
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_n", n)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FlushPolicy is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("FlushPolicy is immutable")

    @staticmethod
    def _checked(n: object, what: str) -> int:
        if isinstance(n, bool) or not hasattr(type(n), "__index__"):
            from .errors import value_text

            raise _NotAnIntError(f"{what} must be a positive int, not {value_text(n)}")
        value = operator.index(n)  # type: ignore[arg-type]
        if value <= 0:
            raise ValueError(f"{what} must be positive, got {value}")
        if value > _MAX:
            from .errors import int_text

            raise ValueError(f"{what} must be at most {_MAX}, got {int_text(value)}")
        return value

    @classmethod
    def every_bytes(cls, n: int) -> FlushPolicy:
        """Flush once at least ``n`` bytes were written since the last flush.

        >>> FlushPolicy.every_bytes(1 << 20).threshold
        1048576
        """
        return cls(_BYTES, cls._checked(n, "n"))

    @classmethod
    def every_writes(cls, n: int) -> FlushPolicy:
        """Flush after every ``n`` ``update_region`` calls.

        >>> FlushPolicy.every_writes(10)
        FlushPolicy.every_writes(10)
        """
        return cls(_WRITES, cls._checked(n, "n"))

    @classmethod
    def every_millis(cls, ms: int) -> FlushPolicy:
        """Flush dirty data from a background thread every ``ms`` milliseconds.

        >>> FlushPolicy.every_millis(50).threshold
        50
        """
        return cls(_MILLIS, cls._checked(ms, "ms"))

    @property
    def kind(self) -> str:
        """``"never"``, ``"always"``, ``"every_bytes"``, ``"every_writes"``
        or ``"every_millis"``.

        >>> FlushPolicy.ALWAYS.kind
        'always'
        """
        return {_NEVER: "never", _ALWAYS: "always"}.get(self._kind) or _NAMES[self._kind]

    @property
    def threshold(self) -> int | None:
        """The ``n``/``ms`` of the ``every_*`` policies, else ``None``.

        >>> FlushPolicy.NEVER.threshold is None
        True
        """
        return self._n if self._kind in _NAMES else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FlushPolicy):
            return NotImplemented
        return (self._kind, self._n) == (other._kind, other._n)

    def __hash__(self) -> int:
        return hash((FlushPolicy, self._kind, self._n))

    def __repr__(self) -> str:
        if self._kind == _NEVER:
            return "FlushPolicy.NEVER"
        if self._kind == _ALWAYS:
            return "FlushPolicy.ALWAYS"
        return f"FlushPolicy.{_NAMES[self._kind]}({self._n})"

    def __reduce__(self) -> tuple[object, ...]:
        return (FlushPolicy, (self._kind, self._n))


FlushPolicy.NEVER = FlushPolicy(_NEVER)
FlushPolicy.MANUAL = FlushPolicy.NEVER
FlushPolicy.ALWAYS = FlushPolicy(_ALWAYS)


def start_flusher(m: object, period_ms: int) -> Flusher:
    """Start the every_millis background flusher for mapping ``m``."""
    from ._flusher import Flusher

    return Flusher.start(m, period_ms)
