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
from typing import TYPE_CHECKING, Any, Final, Protocol

from . import _core
from ._base import MappingBase
from ._offload import run_sync
from ._validate import (
    Options,
    check_mode,
    check_options,
    check_permissions,
    check_size,
    check_type,
    fspath,
)
from .builder import MmapBuilder
from .enums import MmapAdvice, MmapMode, ModeLike, TouchHint
from .errors import (
    MappingClosedError,
    ResizeFailedError,
    WatchFailedError,
    from_oserror,
    os_error,
    value_text,
)
from .flush import _MILLIS, FlushPolicy, start_flusher
from .watch import ChangeEvent, WatchHandle, needs_watch_extra, stop_all

if TYPE_CHECKING:
    from typing_extensions import Buffer, Self

__all__ = ["MemoryMappedFile", "MmapBuilder", "PathLike"]

PathLike = str | bytes | os.PathLike[str] | os.PathLike[bytes]


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


# O_NONBLOCK: opening a FIFO must fail fast (it cannot be mapped), not hang.
_O_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)

# How an existing file is opened to be mapped in each mode: the one table
# behind open_ro/open_rw/open_cow, the builder's open(), load_mmap and pickling.
_OPEN_FLAGS = {
    MmapMode.READ_ONLY: os.O_RDONLY,
    MmapMode.READ_WRITE: os.O_RDWR,
    MmapMode.COPY_ON_WRITE: os.O_RDONLY,
}


def _open(
    path: str, flags: int, context: str, follow_symlinks: bool = True, permissions: int = 0o666
) -> int:
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags | _O_FLAGS, permissions)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            context = f"{context} (follow_symlinks=False, and the path is a symbolic link)"
        raise from_oserror(exc, path, context) from None
    # O_NONBLOCK was for opening only: the mapping's descriptor is handed
    # out (fileno(), unmap()) and must behave like one from open().
    os.set_blocking(fd, True)
    return fd


# Looked up once: an enum member lookup costs more than a small page touch.
_RANDOM: Final = MmapAdvice.RANDOM
_fadvise = getattr(os, "posix_fadvise", None)  # not on macOS


class MemoryMappedFile(MappingBase):
    """A memory-mapped file with bounds-checked, zero-copy access.

    Make one with a classmethod (``create_rw``, ``open_ro``, ``open_rw``,
    ``open_cow``, ``open_or_create``, ``from_file``) or :meth:`builder`::

        >>> with MemoryMappedFile.create_rw("data.bin", 4096) as m:
        ...     m.update_region(0, b"hello")
        ...     m.flush()
        ...     bytes(m.as_slice(0, 5))
        b'hello'

    It indexes like stdlib ``mmap``: ``m[i]`` is an int, ``m[a:b:s]`` a
    ``bytes`` copy, and ``m[a:b] = data`` / ``m[i] = v`` write::

        >>> m[0], m[1:5], m[4::-1]
        (104, b'ello', b'olleh')
        >>> m[0:5] = b"HELLO"

    Every constructor takes the keyword-only options
    ``flush_policy=FlushPolicy.NEVER``, ``touch_hint=TouchHint.NEVER``,
    ``huge_pages=False`` and ``advice=None`` (an :class:`MmapAdvice` applied
    to the whole mapping at open and again after every resize or refresh,
    say ``MmapAdvice.RANDOM`` for random reads of a file bigger than
    memory); those that open a path also take
    ``follow_symlinks=True``: ``False`` refuses a symbolic link at ``path``
    (an ``OSError`` of errno ``ELOOP``), where by default it is followed,
    like ``open()``.
    """

    __slots__ = (
        "_advice",
        "_flusher",
        "_follow_symlinks",
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
    _advice: MmapAdvice | None
    _path_obj: Path | None
    _flusher: Any
    _watches: weakref.WeakSet[WatchHandle] | None

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
        mode: ModeLike,
        path: str | None,
        options: Options,
    ) -> Self:
        policy, hint, huge, advice = options
        mode = check_mode(mode, path)
        try:
            st = os.fstat(fd)
        except OSError as exc:
            raise from_oserror(exc, path, "cannot stat") from None
        if stat.S_ISDIR(st.st_mode):
            raise os_error(errno.EISDIR, path, "cannot map a directory")
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            raise os_error(errno.ENODEV, path, "cannot map a pipe or socket")
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            # Their size reads as 0: they would map silently as empty.
            kind = "character" if stat.S_ISCHR(st.st_mode) else "block"
            raise os_error(errno.ENODEV, path, f"cannot map a {kind} device")
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
        self._advice = advice
        self._flusher = None
        self._watches = None
        self._follow_symlinks = True
        try:
            self._apply_open_advice()
            self._widen_read_ahead()
        except BaseException:
            self.close()
            raise
        self._apply_policy(policy)
        return self

    def _read_ahead_fd(self) -> int | None:
        # With RANDOM the kernel reads only the faulting page: scans need
        # the library's read-ahead (readahead.py).
        return self.fileno() if self._advice is _RANDOM else None

    def _apply_open_advice(self) -> None:
        """madvise the whole mapping with the ``advice=`` it was opened with.

        Runs at open and after every change of size (resize, refresh): a
        new or moved area starts with the kernel's default advice.
        """
        if self._advice is not None and len(self):
            self._advise(0, len(self), self._advice.value)

    def _widen_read_ahead(self) -> None:
        """With ``advice=SEQUENTIAL``, double the open file's read-ahead.

        Faults read ahead through the mapping's open file, whose window
        POSIX_FADV_SEQUENTIAL doubles: a cold 512 MiB scan in 1 MiB chunks
        took 0.92x the time with it (median of 40 pairs). Once, at open:
        the open file outlives resize and refresh. A hint: never fails.
        """
        if self._advice is MmapAdvice.SEQUENTIAL and _fadvise is not None:
            with contextlib.suppress(OSError):
                _fadvise(self.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)

    def _apply_policy(self, policy: FlushPolicy) -> None:
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
    def _open_existing(
        cls,
        path: PathLike,
        mode: ModeLike,
        flush_policy: object = FlushPolicy.NEVER,
        touch_hint: object = TouchHint.NEVER,
        huge_pages: object = False,
        follow_symlinks: object = True,
        context: str = "cannot open",
        advice: object = None,
    ) -> Self:
        """Map the existing file ``path`` in ``mode`` (checked first)."""
        mode = check_mode(mode, path)
        flags = _OPEN_FLAGS[mode]
        p = fspath(path)
        options = check_options(flush_policy, touch_hint, huge_pages, advice, p)
        follow = check_type(follow_symlinks, bool, "follow_symlinks", p)
        fd = _open(p, flags, context, follow)
        try:
            return cls._from_fd(fd, mode, p, options)._following(follow)
        finally:
            os.close(fd)

    def _following(self, follow_symlinks: bool) -> Self:
        self._follow_symlinks = follow_symlinks  # kept for pickling
        return self

    @classmethod
    def _create(
        cls,
        p: str,
        size: int,
        options: Options,
        truncate: bool,
        context: str,
        permissions: object,
        follow_symlinks: object,
    ) -> Self:
        """Open ``p`` read-write, creating it (with ``permissions``, before the
        umask); give it ``size`` bytes when it is new, truncated or empty; map
        it. A file this call created is removed again if anything fails."""
        mode_bits = check_permissions(permissions, p)
        follow = check_type(follow_symlinks, bool, "follow_symlinks", p)
        existed = os.path.lexists(p)
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else 0)
        fd = _open(p, flags, context, follow, mode_bits)
        try:
            try:
                st = os.fstat(fd)
                sized = st.st_size == 0 and not stat.S_ISDIR(st.st_mode)
                if sized:
                    os.ftruncate(fd, size)
            except OSError as exc:
                raise from_oserror(exc, p, "cannot size") from None
            m = cls._from_fd(fd, MmapMode.READ_WRITE, p, options)._following(follow)
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
        advice: MmapAdvice | None = None,
        permissions: int = 0o666,
        follow_symlinks: bool = True,
    ) -> Self:
        """Create (or truncate) ``path`` to ``size`` zero bytes and map it read-write.

        ``size`` must be 1 .. 128 TiB (else :class:`ResizeFailedError`, and no
        file is created). A new file gets the mode bits ``permissions``
        (before the umask, like ``os.open``), e.g. ``0o600`` for a private
        IPC file. Like ``open()``, a symbolic link at ``path`` is followed;
        ``follow_symlinks=False`` refuses it (an ``OSError`` of errno
        ``ELOOP``).

        >>> m = MemoryMappedFile.create_rw("log.bin", 1 << 20)
        >>> len(m)
        1048576
        """
        p = fspath(path)
        size = check_size(size, "size", p)
        options = check_options(flush_policy, touch_hint, huge_pages, advice, p)
        return cls._create(p, size, options, True, "cannot create", permissions, follow_symlinks)

    @classmethod
    def open_ro(
        cls,
        path: PathLike,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
        advice: MmapAdvice | None = None,
        follow_symlinks: bool = True,
    ) -> Self:
        """Map an existing file read-only; an empty file gives an empty mapping.

        >>> m = MemoryMappedFile.open_ro("data.bin")
        >>> m.read_bytes(0, 5)
        b'hello'
        """
        return cls._open_existing(
            path,
            MmapMode.READ_ONLY,
            flush_policy,
            touch_hint,
            huge_pages,
            follow_symlinks,
            advice=advice,
        )

    @classmethod
    def open_rw(
        cls,
        path: PathLike,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
        advice: MmapAdvice | None = None,
        follow_symlinks: bool = True,
    ) -> Self:
        """Map an existing, non-empty file read-write.

        >>> with MemoryMappedFile.open_rw("data.bin") as m:
        ...     m.update_region(0, b"HELLO")
        """
        return cls._open_existing(
            path,
            MmapMode.READ_WRITE,
            flush_policy,
            touch_hint,
            huge_pages,
            follow_symlinks,
            advice=advice,
        )

    @classmethod
    def open_cow(
        cls,
        path: PathLike,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
        advice: MmapAdvice | None = None,
        follow_symlinks: bool = True,
    ) -> Self:
        """Map an existing file copy-on-write: writes stay private to this mapping.

        >>> with MemoryMappedFile.open_cow("data.bin") as m:
        ...     m.update_region(0, b"scratch")   # the file is unchanged
        """
        return cls._open_existing(
            path,
            MmapMode.COPY_ON_WRITE,
            flush_policy,
            touch_hint,
            huge_pages,
            follow_symlinks,
            advice=advice,
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
        advice: MmapAdvice | None = None,
        permissions: int = 0o666,
        follow_symlinks: bool = True,
    ) -> Self:
        """Open ``path`` read-write, creating it at ``default_size`` if missing.

        An existing empty file is grown to ``default_size`` too. A file it
        creates gets the mode bits ``permissions`` (before the umask); an
        existing one keeps its own. ``follow_symlinks=False`` refuses a
        symbolic link at ``path`` (errno ``ELOOP``).

        >>> m = MemoryMappedFile.open_or_create("state.bin", 4096)
        """
        p = fspath(path)
        size = check_size(default_size, "default_size", p)
        options = check_options(flush_policy, touch_hint, huge_pages, advice, p)
        return cls._create(
            p, size, options, False, "cannot open or create", permissions, follow_symlinks
        )

    @classmethod
    def from_file(
        cls,
        file: int | _HasFileno,
        mode: ModeLike,
        path: PathLike | None = None,
        *,
        flush_policy: FlushPolicy = FlushPolicy.NEVER,
        touch_hint: TouchHint = TouchHint.NEVER,
        huge_pages: bool = False,
        advice: MmapAdvice | None = None,
    ) -> Self:
        """Map an already-open file: an int fd or an object with ``fileno()``.

        ``mode`` is an :class:`MmapMode` or its string (``"r"``, ``"r+"``,
        ``"c"``). The mapping keeps its own duplicate of the descriptor, so
        the file object may be closed afterwards. ``path`` defaults to the
        file object's ``name`` when that is a path.

        >>> with open("data.bin", "r+b") as f:
        ...     m = MemoryMappedFile.from_file(f, "r+")
        >>> m.path.name, m.mode
        ('data.bin', <MmapMode.READ_WRITE: 'r+'>)
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
            p = fspath(path)
        options = check_options(flush_policy, touch_hint, huge_pages, advice, p)
        return cls._from_fd(fd, mode, p, options)

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
        await run_sync(_write_then_flush, self, offset, data)

    async def flush_async(self) -> None:
        """:meth:`flush` in a worker thread, off the event loop.

        >>> await m.flush_async()
        """
        await run_sync(self.flush)

    async def flush_range_async(self, offset: int, length: int) -> None:
        """:meth:`flush_range` in a worker thread, off the event loop.

        >>> await m.flush_range_async(0, 4096)
        """
        await run_sync(self.flush_range, offset, length)

    def resize(self, new_size: int, /) -> None:
        """Grow or shrink the file and the mapping (read-write mappings only).

        The next ``flush()`` also fsyncs the file, so the new size is
        durable. Raises :class:`BusyError` while views are alive,
        :class:`ResizeFailedError` for a size of 0 or above 128 TiB. The
        mapping may move: advice or locks set with ``advise()`` or ``lock()``
        need not survive, but the ``advice=`` it was opened with is applied
        to the whole new size again.

        >>> m.resize(8192); len(m)
        8192
        """
        super().resize(new_size)
        self._apply_open_advice()

    def refresh(self) -> int:
        """Re-read the backing file's size and grow or shrink the mapping to it.

        So a reader can follow a file another process appends to or
        truncates; returns the new length (an empty file gives an empty
        mapping). Every mode. Raises :class:`BusyError`, leaving the mapping
        intact, while exported views are alive. Copy-on-write mappings keep
        their private changes. The mapping may move: advice or locks set
        with ``advise()`` or ``lock()`` need not survive, but the
        ``advice=`` it was opened with is applied to the new size again.

        >>> m.refresh()
        8192
        """
        size = super().refresh()
        self._apply_open_advice()
        return size

    def __repr__(self) -> str:
        path = str(self._path_obj) if self._path_obj is not None else None
        return f"<{type(self).__name__} path={path!r} mode={self._mode.name} {self._state_text()}>"

    def close(self) -> None:
        """Flush (unless the policy is NEVER), unmap and close; stop the
        ``every_millis`` thread and the watches before returning.

        Idempotent, and never refused: views still alive (memoryviews, numpy
        arrays, atomic views) stay usable and keep the memory mapped and the
        descriptor open until the last of them is released. If the flush
        before closing fails, or a background flush failed and no
        ``flush()`` has reported it yet, raises :class:`FlushFailedError`
        after closing.

        >>> a = m.as_array("u1")
        >>> m.close(); m.closed
        True
        >>> a[:5].tobytes()  # still valid; the memory goes with the last view
        b'hello'
        """
        try:
            super().close()
        finally:
            self._stop_threads()

    def _stop_threads(self) -> None:
        """Once closed, stop the ``every_millis`` thread and the watches."""
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
        self._check_open()
        if self._path_obj is None:
            raise WatchFailedError(
                errno.EINVAL,
                f"cannot watch {self!r}: it has no path (pass path= to from_file)",
            )
        handle = WatchHandle(str(self._path_obj), self.fileno(), callback, poll_ms)
        if self._watches is None:
            # Weak: a running watch is held by its thread, a stopped one by
            # nothing here (watch/stop cycles must not pile up handles).
            self._watches = weakref.WeakSet()
            # A mapping collected without close() stops its watches too.
            weakref.finalize(self, stop_all, self._watches)
        self._watches.add(handle)
        return handle

    def unmap(self) -> io.FileIO:
        """Close the mapping and return an open ``io.FileIO`` for the same file.

        Raises :class:`BusyError` (and stays mapped) while views are alive:
        the file would otherwise be handed over under memory they still use.

        >>> f = m.unmap(); f.read(5)
        b'hello'
        """
        fd = os.dup(self.fileno())
        try:
            self._close_idle("unmap")
        except BaseException:
            os.close(fd)
            raise
        finally:
            self._stop_threads()
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
                self._follow_symlinks,
                self._advice,
            ),
        )


def _reopen(
    cls: type[MemoryMappedFile],
    path: str,
    mode: MmapMode,
    policy: FlushPolicy,
    hint: TouchHint,
    huge: bool,
    follow_symlinks: bool = True,
    advice: MmapAdvice | None = None,
) -> MemoryMappedFile:
    return cls._open_existing(
        path, mode, policy, hint, huge, follow_symlinks, "cannot reopen", advice
    )


def _write_then_flush(m: MemoryMappedFile, offset: int, data: Buffer) -> None:
    m.update_region(offset, data)
    m.flush()


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
