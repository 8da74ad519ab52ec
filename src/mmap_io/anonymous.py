"""AnonymousMmap: file-less, zero-filled memory, process-local or shared.

Shared anonymous memory travels to ``multiprocessing`` children as the
descriptor of its memfd: ``multiprocessing`` pickles with its own
``ForkingPickler``, and a reducer registered there hands the descriptor to
its fd-passing machinery (``reduction.DupFd``: inherited by spawn and
forkserver children, sent over a Unix socket for a ``Queue`` or ``Pipe``).
The ordinary pickler has no such channel, so ``pickle.dumps`` refuses.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

from . import _core
from ._base import MappingBase
from ._validate import check_size, check_type
from .errors import InvalidModeError, MappingClosedError

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

    With ``shared=False`` (the default) the memory is private to this
    process: a forked child gets a copy, and pickling raises ``TypeError``.
    With ``shared=True`` it is shared with forked children and can be
    passed to ``multiprocessing`` children of any start method (as a
    ``Process`` argument, or through a ``Queue`` or ``Pipe``): both sides
    then map one memory, with atomics and ``wait``/``notify`` working
    between them. It has no name anywhere (a memfd on Linux): nothing to
    unlink, and it is gone when the last process using it exits.
    Pickling it outside ``multiprocessing`` raises ``TypeError``.

    >>> with AnonymousMmap(4096) as a:
    ...     a.update_region(0, b"hello")
    ...     a[0] = ord("H")
    ...     a[0:5]
    b'Hello'
    >>> shared = AnonymousMmap(4096, shared=True)
    >>> p = multiprocessing.Process(target=worker, args=(shared,))
    """

    __slots__ = ("_huge_pages", "_shared")

    flush = _Absent("anonymous memory has no file to flush to")
    flush_range = _Absent("anonymous memory has no file to flush to")
    start_flush = _Absent("anonymous memory has no file to flush to")
    resize = _Absent("anonymous mappings cannot be resized")
    refresh = _Absent("anonymous memory has no file whose size could change")
    fileno = _Absent("anonymous memory has no file")
    watch = _Absent("anonymous memory has no file to watch")

    def __init__(self, size: int, *, shared: bool = False, huge_pages: bool = False) -> None:
        check_size(size)
        check_type(shared, bool, "shared")
        check_type(huge_pages, bool, "huge_pages")
        _core.Mapping.__init__(
            self, -1, size, _core.ACCESS_WRITE, path=None, huge_pages=huge_pages, shared=shared
        )
        self._huge_pages = huge_pages
        self._shared = shared
        if shared:
            _register_with_multiprocessing(type(self))

    @property
    def shared(self) -> bool:
        """Whether the memory is shared with other processes.

        >>> AnonymousMmap(4096, shared=True).shared
        True
        """
        return self._shared

    @property
    def path(self) -> None:
        """Always ``None``: there is no file.

        >>> AnonymousMmap(4096).path is None
        True
        """
        return None

    def __repr__(self) -> str:
        return f"<AnonymousMmap {self._state_text()} shared={self._shared}>"

    def __reduce__(self) -> Any:
        if self._shared:
            raise TypeError(
                "a shared AnonymousMmap can be pickled only by multiprocessing "
                "(a Process argument, or through its Queue or Pipe), which "
                "passes the descriptor of the memory"
            )
        raise TypeError("an AnonymousMmap cannot be pickled: its memory is process-local")


_registered: set[type] = set()


def _register_with_multiprocessing(cls: type) -> None:
    """Teach multiprocessing's pickler to send ``cls`` as its descriptor."""
    if cls not in _registered:
        from multiprocessing.reduction import ForkingPickler

        ForkingPickler.register(cls, _reduce_shared)
        _registered.add(cls)


def _reduce_shared(m: AnonymousMmap) -> tuple[Any, ...]:
    if not m._shared:
        return m.__reduce__()  # type: ignore[no-any-return]
    from multiprocessing import context, util
    from multiprocessing.reduction import DupFd

    args = (type(m), len(m), m._huge_pages)
    fd = _dup_descriptor(m)
    popen = context.get_spawning_popen()
    try:
        dup = DupFd(fd)
        if popen is not None:
            # A Process argument: the child, started right after this from
            # this thread, inherits the descriptor by its number, which must
            # stay open until then.
            util.Finalize(popen, os.close, (fd,))
    except BaseException:
        os.close(fd)
        raise
    if popen is None:  # a Queue or Pipe: DupFd holds a duplicate of its own
        os.close(fd)
    return _rebuild_shared, (dup, *args)


def _dup_descriptor(m: AnonymousMmap) -> int:
    """A duplicate of the memory's descriptor, for the receiving process.

    Another thread may close ``m`` at any moment (a ``Queue`` pickles in a
    thread of its own, after ``put()`` returned): a descriptor number read
    from a mapping that is closed by the time it is duplicated may already
    name another file, so the duplicate counts only if ``m`` was still open
    after it was made (``closed`` never goes back to False).
    """
    try:
        fd = os.dup(_core.Mapping.fileno(m))
    except InvalidModeError:
        raise TypeError(
            f"{m!r} cannot be sent to another process: this system has no memfd, "
            "so the memory is shared only with children forked after it was made"
        ) from None
    except MappingClosedError:
        raise MappingClosedError(f"cannot send {m!r} to another process: it is closed") from None
    if m.closed:
        os.close(fd)
        raise MappingClosedError(f"cannot send {m!r} to another process: it was closed")
    return fd


def _rebuild_shared(
    dup: Any, cls: type[AnonymousMmap], size: int, huge_pages: bool
) -> AnonymousMmap:
    """Map the shared memory whose descriptor ``dup`` brings (unpickling)."""
    _register_with_multiprocessing(cls)  # so that this process can send it on
    fd = dup.detach()
    try:
        m = cls.__new__(cls)
        _core.Mapping.__init__(m, fd, size, _core.ACCESS_WRITE, huge_pages=huge_pages, shared=True)
    finally:
        os.close(fd)
    m._huge_pages = huge_pages
    m._shared = True
    return m
