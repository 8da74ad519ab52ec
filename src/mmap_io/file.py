"""MemoryMappedFile: a file mapped read-only, read-write or copy-on-write."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import _core
from ._base import MappingBase
from .enums import MmapMode, TouchHint
from .errors import (
    MappingClosedError,
    ResizeFailedError,
    WatchFailedError,
    for_path,
    from_oserror,
    os_error,
    value_text,
)
from .flush import FlushPolicy, check_policy
from .watch import ChangeEvent, WatchHandle, needs_watch_extra, stop_all

if TYPE_CHECKING:
    from typing_extensions import Buffer, Self

__all__ = ["MemoryMappedFile", "MmapBuilder", "PathLike"]

PathLike = str | bytes | os.PathLike[str] | os.PathLike[bytes]


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


# O_NONBLOCK: opening a FIFO must fail fast (it cannot be mapped), not hang.
_O_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def _fspath(path: object) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be str, bytes or os.PathLike, not {value_text(path)}")
    return os.fsdecode(path)


def check_size(size: object, what: str = "size", path: object = None) -> int:
    """Validate a mapping size: an int in 1 .. 128 TiB, else ResizeFailedError."""
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"{what} must be an int, not {value_text(size)}{for_path(path)}")
    if not 0 < size <= _core.MAX_SIZE:
        shown = size if size.bit_length() <= 256 else f"<{size.bit_length()}-bit int>"
        raise ResizeFailedError(
            f"{what} {shown}{for_path(path)} is invalid: "
            f"it must be between 1 and {_core.MAX_SIZE} bytes"
        )
    return size


def _open(path: str, flags: int, context: str) -> int:
    try:
        return os.open(path, flags | _O_FLAGS, 0o644)
    except OSError as exc:
        raise from_oserror(exc, path, context) from None


def _check_options(
    flush_policy: object, touch_hint: object, huge_pages: object, path: object = None
) -> tuple[FlushPolicy, TouchHint, bool]:
    policy = check_policy(flush_policy, path)
    if not isinstance(touch_hint, TouchHint):
        raise TypeError(
            f"touch_hint must be a TouchHint, not {value_text(touch_hint)}{for_path(path)}"
        )
    if not isinstance(huge_pages, bool):
        raise TypeError(f"huge_pages must be a bool, not {value_text(huge_pages)}{for_path(path)}")
    return policy, touch_hint, huge_pages


class MemoryMappedFile(MappingBase):
    """A memory-mapped file with bounds-checked, zero-copy access.

    Make one with a classmethod (``create_rw``, ``open_ro``, ``open_rw``,
    ``open_cow``, ``open_or_create``, ``from_file``) or :meth:`builder`::

        >>> with MemoryMappedFile.create_rw("data.bin", 4096) as m:
        ...     m.update_region(0, b"hello")
        ...     m.flush()
        ...     bytes(m.as_slice(0, 5))
        b'hello'

    Every constructor takes the keyword-only options
    ``flush_policy=FlushPolicy.NEVER``, ``touch_hint=TouchHint.NEVER`` and
    ``huge_pages=False``.
    """

    __slots__ = (
        "_flusher",
        "_huge_pages",
        "_mode",
        "_path_obj",
        "_policy",
        "_touch_hint",
        "_watches",
    )

    _mode: MmapMode
    _policy: FlushPolicy
    _touch_hint: TouchHint
    _huge_pages: bool
    _path_obj: Path | None
    _flusher: Any
    _watches: set[WatchHandle] | None

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "use MemoryMappedFile.create_rw(), open_ro(), open_rw(), open_cow(), "
            "open_or_create(), from_file() or builder() to make a mapping"
        )

    # -- construction -----------------------------------------------------

    @classmethod
    def _from_fd(
        cls,
        fd: int,
        mode: MmapMode,
        path: str | None,
        flush_policy: object,
        touch_hint: object,
        huge_pages: object,
    ) -> Self:
        policy, hint, huge = _check_options(flush_policy, touch_hint, huge_pages, path)
        if not isinstance(mode, MmapMode):
            raise TypeError(f"mode must be an MmapMode, not {value_text(mode)}{for_path(path)}")
        try:
            st = os.fstat(fd)
        except OSError as exc:
            raise from_oserror(exc, path, "cannot stat") from None
        if stat.S_ISDIR(st.st_mode):
            raise os_error(errno.EISDIR, path, "cannot map a directory")
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            raise os_error(errno.ENODEV, path, "cannot map a pipe or socket")
        size = st.st_size
        if size == 0 and mode is not MmapMode.READ_ONLY:
            raise ResizeFailedError(
                f"cannot map the empty file {path!r} {mode.name.lower().replace('_', '-')}; "
                "give it a size first (create_rw, open_or_create or resize)"
            )
        self = cls.__new__(cls)
        _core.Mapping.__init__(
            self,
            fd,
            size,
            mode._access,
            path=path,
            populate=hint is TouchHint.EAGER,
            huge_pages=huge,
        )
        self._mode = mode
        self._path_obj = Path(path) if path is not None else None
        self._touch_hint = hint
        self._huge_pages = huge
        self._flusher = None
        self._watches = None
        self._apply_policy(policy)
        return self

    def _apply_policy(self, policy: FlushPolicy) -> None:
        from .flush import _MILLIS, start_flusher

        self._policy = policy
        self._set_flush_policy(policy._kind, policy._n)
        if policy._kind == _MILLIS and self._mode is MmapMode.READ_WRITE:
            self._flusher = start_flusher(self, policy._n)

    def _created(self, path: str, new_file: bool) -> Self:
        # The file's size changed (and it may be new): the next flush also
        # fsyncs the file, and the parent directory for a new file.
        self._sync_on_flush(os.path.dirname(os.path.abspath(path)) if new_file else None)
        return self

    @classmethod
    def _open_path(
        cls,
        path: PathLike,
        mode: MmapMode,
        flags: int,
        context: str,
        flush_policy: object,
        touch_hint: object,
        huge_pages: object,
    ) -> Self:
        p = _fspath(path)
        options = _check_options(flush_policy, touch_hint, huge_pages, p)
        fd = _open(p, flags, context)
        try:
            return cls._from_fd(fd, mode, p, *options)
        finally:
            os.close(fd)

    @classmethod
    def _create(
        cls,
        p: str,
        size: int,
        options: tuple[FlushPolicy, TouchHint, bool],
        truncate: bool,
        context: str,
    ) -> Self:
        """Open ``p`` read-write, creating it; give it ``size`` bytes when it is
        new, truncated or empty; map it. A file this call created is removed
        again if anything fails."""
        existed = os.path.lexists(p)
        fd = _open(p, os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else 0), context)
        try:
            try:
                st = os.fstat(fd)
                sized = st.st_size == 0 and not stat.S_ISDIR(st.st_mode)
                if sized:
                    os.ftruncate(fd, size)
            except OSError as exc:
                raise from_oserror(exc, p, "cannot size") from None
            m = cls._from_fd(fd, MmapMode.READ_WRITE, p, *options)
            return m._created(p, not existed) if sized else m
        except BaseException:
            if not existed:
                _unlink_quietly(p)
            raise
        finally:
            os.close(fd)

    @classmethod
    def create_rw(
        cls,
        path: PathLike,
        size: int,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
    ) -> Self:
        """Create (or truncate) ``path`` to ``size`` zero bytes and map it read-write.

        ``size`` must be 1 .. 128 TiB (else :class:`ResizeFailedError`, and no
        file is created).

        >>> m = MemoryMappedFile.create_rw("log.bin", 1 << 20)
        >>> len(m)
        1048576
        """
        p = _fspath(path)
        size = check_size(size, "size", p)
        options = _check_options(flush_policy, touch_hint, huge_pages, p)
        return cls._create(p, size, options, truncate=True, context="cannot create")

    @classmethod
    def open_ro(
        cls,
        path: PathLike,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
    ) -> Self:
        """Map an existing file read-only; an empty file gives an empty mapping.

        >>> m = MemoryMappedFile.open_ro("data.bin")
        >>> m.read_bytes(0, 5)
        b'hello'
        """
        return cls._open_path(
            path,
            MmapMode.READ_ONLY,
            os.O_RDONLY,
            "cannot open",
            flush_policy,
            touch_hint,
            huge_pages,
        )

    @classmethod
    def open_rw(
        cls,
        path: PathLike,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
    ) -> Self:
        """Map an existing, non-empty file read-write.

        >>> with MemoryMappedFile.open_rw("data.bin") as m:
        ...     m.update_region(0, b"HELLO")
        """
        return cls._open_path(
            path,
            MmapMode.READ_WRITE,
            os.O_RDWR,
            "cannot open",
            flush_policy,
            touch_hint,
            huge_pages,
        )

    @classmethod
    def open_cow(
        cls,
        path: PathLike,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
    ) -> Self:
        """Map an existing file copy-on-write: writes stay private to this mapping.

        >>> with MemoryMappedFile.open_cow("data.bin") as m:
        ...     m.update_region(0, b"scratch")   # the file is unchanged
        """
        return cls._open_path(
            path,
            MmapMode.COPY_ON_WRITE,
            os.O_RDONLY,
            "cannot open",
            flush_policy,
            touch_hint,
            huge_pages,
        )

    @classmethod
    def open_or_create(
        cls,
        path: PathLike,
        default_size: int,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
    ) -> Self:
        """Open ``path`` read-write, creating it at ``default_size`` if missing.

        An existing empty file is grown to ``default_size`` too.

        >>> m = MemoryMappedFile.open_or_create("state.bin", 4096)
        """
        p = _fspath(path)
        size = check_size(default_size, "default_size", p)
        options = _check_options(flush_policy, touch_hint, huge_pages, p)
        return cls._create(p, size, options, truncate=False, context="cannot open or create")

    @classmethod
    def from_file(
        cls,
        file: int | _HasFileno,
        mode: MmapMode,
        path: PathLike | None = None,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
    ) -> Self:
        """Map an already-open file: an int fd or an object with ``fileno()``.

        The mapping keeps its own duplicate of the descriptor, so the file
        object may be closed afterwards. ``path`` defaults to the file
        object's ``name`` when that is a path.

        >>> with open("data.bin", "r+b") as f:
        ...     m = MemoryMappedFile.from_file(f, MmapMode.READ_WRITE)
        >>> m.path.name
        'data.bin'
        """
        if isinstance(file, int) and not isinstance(file, bool):
            fd = file
        elif hasattr(file, "fileno"):
            fd = file.fileno()
        else:
            raise TypeError(
                f"file must be an int descriptor or have fileno(), not {value_text(file)}"
            )
        if path is None:
            name = getattr(file, "name", None)
            p = os.fsdecode(name) if isinstance(name, (str, bytes)) else None
        else:
            p = _fspath(path)
        return cls._from_fd(fd, mode, p, flush_policy, touch_hint, huge_pages)

    @classmethod
    def builder(cls, path: PathLike) -> MmapBuilder:
        """A fluent :class:`MmapBuilder` for ``path`` (default mode READ_WRITE).

        >>> m = (MemoryMappedFile.builder("f.bin").size(1 << 20)
        ...      .flush_policy(FlushPolicy.every_bytes(1 << 16)).create())
        """
        return MmapBuilder(path, cls)

    # -- accessors --------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The mapped file's path as a :class:`pathlib.Path` (None if unknown).

        >>> MemoryMappedFile.open_ro("data.bin").path
        PosixPath('data.bin')
        """
        return self._path_obj

    @property
    def mode(self) -> MmapMode:
        """The :class:`MmapMode` the file was mapped with.

        >>> MemoryMappedFile.open_cow("data.bin").mode
        <MmapMode.COPY_ON_WRITE: 'c'>
        """
        return self._mode

    @property
    def flush_policy(self) -> FlushPolicy:
        """The :class:`FlushPolicy` in force.

        >>> MemoryMappedFile.open_rw("data.bin", flush_policy=FlushPolicy.ALWAYS).flush_policy
        FlushPolicy.ALWAYS
        """
        return self._policy

    # -- async (the ``async`` extra: anyio) --------------------------------

    async def update_region_async(self, offset: int, data: Buffer) -> None:
        """Write ``data`` at ``offset``, then flush, in a worker thread.

        Works under asyncio and trio (through anyio). Cancelling the awaiting
        task takes effect once the write and flush are done, so the mapping
        is never left half-written or locked.

        >>> await m.update_region_async(0, b"hello")
        """
        from .aio import _write_then_flush, run_sync

        await run_sync(_write_then_flush, self, offset, data)

    async def flush_async(self) -> None:
        """:meth:`flush` in a worker thread, off the event loop.

        >>> await m.flush_async()
        """
        from .aio import run_sync

        await run_sync(self.flush)

    async def flush_range_async(self, offset: int, length: int) -> None:
        """:meth:`flush_range` in a worker thread, off the event loop.

        >>> await m.flush_range_async(0, 4096)
        """
        from .aio import run_sync

        await run_sync(self.flush_range, offset, length)

    def __repr__(self) -> str:
        path = str(self._path_obj) if self._path_obj is not None else None
        state = "closed" if self.closed else f"len={len(self)}"
        return f"<{type(self).__name__} path={path!r} mode={self._mode.name} {state}>"

    def close(self) -> None:
        """Flush (unless the policy is NEVER), unmap and close; stop the
        ``every_millis`` thread and the watches before returning.

        Idempotent. Raises :class:`BusyError`, and stays open, while exported
        views are alive. If the flush before closing fails, or a background
        flush failed and no ``flush()`` has reported it yet, raises
        :class:`FlushFailedError` after closing.

        >>> m.close(); m.closed
        True
        """
        try:
            super().close()
        finally:
            if self.closed:
                flusher = getattr(self, "_flusher", None)
                if flusher is not None:
                    self._flusher = None
                    flusher.stop()
                watches = getattr(self, "_watches", None)
                if watches:
                    stop_all(watches)

    @needs_watch_extra
    def watch(
        self, callback: Callable[[ChangeEvent], object], *, poll_ms: int = 100
    ) -> WatchHandle:
        """Call ``callback(ChangeEvent)`` on a background thread for each change
        to the backing file, by anyone. Needs the ``watch`` extra: without
        it the method is absent (``hasattr(m, "watch")`` is False and the
        ``AttributeError`` says what to install).

        Returns once the OS watch is registered. Writes made through shared
        mappings raise no OS notification; they are found by an ``fstat``
        poll every ``poll_ms`` milliseconds. Closing the mapping stops its
        watches.

        >>> with m.watch(lambda event: print(event.kind)) as handle:
        ...     pass
        """
        len(self)  # closed check
        if self._path_obj is None:
            raise WatchFailedError(
                errno.EINVAL,
                f"cannot watch {self!r}: it has no path (pass path= to from_file)",
            )
        handle = WatchHandle(str(self._path_obj), self.fileno(), callback, poll_ms)
        if self._watches is None:
            self._watches = set()
            # A mapping collected without close() stops its watches too.
            weakref.finalize(self, stop_all, self._watches)
        self._watches.add(handle)
        return handle

    def unmap(self) -> io.FileIO:
        """Close the mapping and return an open ``io.FileIO`` for the same file.

        Raises :class:`BusyError` (and stays mapped) while views are alive.

        >>> f = m.unmap(); f.read(5)
        b'hello'
        """
        fd = os.dup(self.fileno())
        try:
            self.close()
        except BaseException:
            os.close(fd)
            raise
        os.lseek(fd, 0, os.SEEK_SET)
        f = io.FileIO(fd, "r+b" if self._mode is MmapMode.READ_WRITE else "rb", closefd=True)
        if self._path_obj is not None:
            f.name = str(self._path_obj)
        return f

    def __reduce__(self) -> tuple[Any, ...]:
        if self.closed:
            raise MappingClosedError(f"cannot pickle {self!r}: it is closed")
        if self._mode is MmapMode.COPY_ON_WRITE:
            raise TypeError(f"{self!r} cannot be pickled: copy-on-write changes are private")
        if self._path_obj is None:
            raise TypeError(f"{self!r} cannot be pickled: it has no path to map again")
        return (
            _reopen,
            (
                type(self),
                str(self._path_obj),
                self._mode,
                self._policy,
                self._touch_hint,
                self._huge_pages,
            ),
        )


def _reopen(
    cls: type[MemoryMappedFile],
    path: str,
    mode: MmapMode,
    policy: FlushPolicy,
    hint: TouchHint,
    huge: bool,
) -> MemoryMappedFile:
    flags = os.O_RDWR if mode is MmapMode.READ_WRITE else os.O_RDONLY
    return cls._open_path(path, mode, flags, "cannot reopen", policy, hint, huge)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class MmapBuilder:
    """Fluent construction of a :class:`MemoryMappedFile`.

    >>> m = (MemoryMappedFile.builder("f.bin").mode(MmapMode.READ_WRITE)
    ...      .size(1 << 20).touch_hint(TouchHint.EAGER).create())
    """

    __slots__ = ("_cls", "_flush_policy", "_huge_pages", "_mode", "_path", "_size", "_touch_hint")

    def __init__(self, path: PathLike, cls: type[MemoryMappedFile] = MemoryMappedFile) -> None:
        _fspath(path)
        self._path = path
        self._cls = cls
        self._mode = MmapMode.READ_WRITE
        self._size: int | None = None
        self._flush_policy = FlushPolicy.NEVER
        self._touch_hint = TouchHint.NEVER
        self._huge_pages = False

    def mode(self, mode: MmapMode) -> MmapBuilder:
        """Set the mode (default ``READ_WRITE``).

        >>> m = MemoryMappedFile.builder("data.bin").mode(MmapMode.READ_ONLY).open()
        """
        if not isinstance(mode, MmapMode):
            raise TypeError(
                f"mode must be an MmapMode, not {value_text(mode)}{for_path(self._path)}"
            )
        self._mode = mode
        return self

    def size(self, size: int) -> MmapBuilder:
        """Set the size used by :meth:`create` and :meth:`open_or_create`.

        >>> m = MemoryMappedFile.builder("new.bin").size(1 << 20).create()
        """
        self._size = check_size(size, "size", self._path)
        return self

    def flush_policy(self, policy: FlushPolicy) -> MmapBuilder:
        """Set the :class:`FlushPolicy`.

        >>> b = MemoryMappedFile.builder("log.bin").flush_policy(FlushPolicy.every_writes(100))
        """
        self._flush_policy = check_policy(policy, self._path)
        return self

    def touch_hint(self, hint: TouchHint) -> MmapBuilder:
        """Set the :class:`TouchHint` (``EAGER`` pre-faults every page).

        >>> m = MemoryMappedFile.builder("data.bin").touch_hint(TouchHint.EAGER).open()
        """
        _check_options(self._flush_policy, hint, self._huge_pages, self._path)
        self._touch_hint = hint
        return self

    def huge_pages(self, enabled: bool = True) -> MmapBuilder:
        """Ask for huge pages (never an error when unavailable).

        >>> m = MemoryMappedFile.builder("big.bin").size(1 << 30).huge_pages().create()
        """
        _check_options(self._flush_policy, self._touch_hint, enabled, self._path)
        self._huge_pages = enabled
        return self

    def _opts(self) -> dict[str, Any]:
        return {
            "flush_policy": self._flush_policy,
            "touch_hint": self._touch_hint,
            "huge_pages": self._huge_pages,
        }

    def create(self) -> MemoryMappedFile:
        """Create the file at the configured size (``ValueError`` without ``.size()``).

        Only ``READ_WRITE`` can create; an existing file is truncated first.

        >>> m = MemoryMappedFile.builder("new.bin").size(4096).create()
        >>> len(m)
        4096
        """
        where = for_path(self._path)
        if self._size is None:
            raise ValueError(f"builder.create(){where} needs .size(n) first")
        if self._mode is not MmapMode.READ_WRITE:
            raise ValueError(f"create(){where} needs mode READ_WRITE, not {self._mode.name}")
        return self._cls.create_rw(self._path, self._size, **self._opts())

    def open(self) -> MemoryMappedFile:
        """Open the existing file in the configured mode.

        >>> m = MemoryMappedFile.builder("data.bin").mode(MmapMode.COPY_ON_WRITE).open()
        """
        c = self._cls
        opener = {
            MmapMode.READ_ONLY: c.open_ro,
            MmapMode.READ_WRITE: c.open_rw,
            MmapMode.COPY_ON_WRITE: c.open_cow,
        }[self._mode]
        return opener(self._path, **self._opts())

    def open_or_create(self) -> MemoryMappedFile:
        """Open read-write, creating the file at ``.size(n)`` if it is missing.

        >>> m = MemoryMappedFile.builder("state.bin").size(4096).open_or_create()
        """
        where = for_path(self._path)
        if self._mode is not MmapMode.READ_WRITE:
            raise ValueError(
                f"open_or_create(){where} needs mode READ_WRITE, not {self._mode.name}"
            )
        if self._size is None:
            raise ValueError(f"builder.open_or_create(){where} needs .size(n) first")
        return self._cls.open_or_create(self._path, self._size, **self._opts())

    def __repr__(self) -> str:
        return (
            f"MmapBuilder({self._path!r}, mode={self._mode.name}, size={self._size}, "
            f"flush_policy={self._flush_policy!r})"
        )
