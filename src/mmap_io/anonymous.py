"""AnonymousMmap: process-local, file-less, zero-filled memory."""

from __future__ import annotations

from typing import Any, NoReturn

from . import _core
from ._base import MappingBase
from ._validate import check_size, check_type

__all__ = ["AnonymousMmap"]


class _Absent:
    """A method anonymous mappings do not have (hasattr() is False)."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: object, objtype: type | None = None) -> NoReturn:
        raise AttributeError(f"AnonymousMmap has no {self._name}(): {self._reason}")


class AnonymousMmap(MappingBase):
    """Anonymous read-write memory of ``size`` bytes, zero-filled.

    Same reading, writing, slicing, iteration and atomic surface as
    :class:`MemoryMappedFile`; no ``flush``, ``resize``, ``refresh`` or ``watch``, and
    ``path`` is ``None``. ``huge_pages=True`` asks for explicit huge pages
    (falling back to transparent ones, never an error).

    >>> with AnonymousMmap(4096) as a:
    ...     a.update_region(0, b"hello")
    ...     a.read_bytes(0, 5)
    b'hello'
    """

    __slots__ = ("_huge_pages",)

    flush = _Absent("anonymous memory has no file to flush to")
    flush_range = _Absent("anonymous memory has no file to flush to")
    start_flush = _Absent("anonymous memory has no file to flush to")
    resize = _Absent("anonymous mappings cannot be resized")
    refresh = _Absent("anonymous memory has no file whose size could change")
    fileno = _Absent("anonymous memory has no file")
    watch = _Absent("anonymous memory has no file to watch")

    def __init__(self, size: int, *, huge_pages: bool = False) -> None:
        check_size(size)
        check_type(huge_pages, bool, "huge_pages")
        _core.Mapping.__init__(self, -1, size, _core.ACCESS_WRITE, path=None, huge_pages=huge_pages)
        self._huge_pages = huge_pages

    @property
    def path(self) -> None:
        """Always ``None``: there is no file.

        >>> AnonymousMmap(4096).path is None
        True
        """
        return None

    def __repr__(self) -> str:
        return f"<AnonymousMmap {self._state_text()}>"

    def __reduce__(self) -> Any:
        raise TypeError("an AnonymousMmap cannot be pickled: its memory is process-local")
