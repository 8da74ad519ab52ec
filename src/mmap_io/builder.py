"""MmapBuilder: fluent construction of a :class:`MemoryMappedFile`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._validate import (
    check_advice,
    check_mode,
    check_permissions,
    check_size,
    check_type,
    fspath,
)
from .enums import MmapAdvice, MmapMode, ModeLike, TouchHint
from .errors import for_path
from .flush import FlushPolicy

if TYPE_CHECKING:
    from .file import MemoryMappedFile, PathLike

__all__ = ["MmapBuilder"]


class MmapBuilder:
    """Fluent construction of a :class:`MemoryMappedFile`.

    >>> m = (MemoryMappedFile.builder("f.bin").mode(MmapMode.READ_WRITE)
    ...      .size(1 << 20).touch_hint(TouchHint.EAGER).create())
    """

    __slots__ = (
        "_advice",
        "_cls",
        "_flush_policy",
        "_follow_symlinks",
        "_huge_pages",
        "_mode",
        "_path",
        "_permissions",
        "_size",
        "_touch_hint",
    )

    def __init__(self, path: PathLike, cls: type[MemoryMappedFile] | None = None) -> None:
        fspath(path)
        if cls is None:
            from .file import MemoryMappedFile  # file.py imports this module

            cls = MemoryMappedFile
        self._path = path
        self._cls = cls
        self._mode = MmapMode.READ_WRITE
        self._size: int | None = None
        self._flush_policy = FlushPolicy.NEVER
        self._touch_hint = TouchHint.NEVER
        self._huge_pages = False
        self._permissions = 0o666
        self._follow_symlinks = True
        self._advice: MmapAdvice | None = None

    def mode(self, mode: ModeLike) -> MmapBuilder:
        """Set the mode (default ``READ_WRITE``): an :class:`MmapMode` or its
        string, ``"r"``, ``"r+"`` or ``"c"``.

        >>> m = MemoryMappedFile.builder("data.bin").mode(MmapMode.READ_ONLY).open()
        >>> m = MemoryMappedFile.builder("data.bin").mode("c").open()
        """
        self._mode = check_mode(mode, self._path)
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
        self._flush_policy = check_type(policy, FlushPolicy, "flush_policy", self._path)
        return self

    def touch_hint(self, hint: TouchHint) -> MmapBuilder:
        """Set the :class:`TouchHint` (``EAGER`` pre-faults every page).

        >>> m = MemoryMappedFile.builder("data.bin").touch_hint(TouchHint.EAGER).open()
        """
        self._touch_hint = check_type(hint, TouchHint, "touch_hint", self._path)
        return self

    def huge_pages(self, enabled: bool = True) -> MmapBuilder:
        """Ask for huge pages (never an error when unavailable).

        >>> m = MemoryMappedFile.builder("big.bin").size(1 << 30).huge_pages().create()
        """
        self._huge_pages = check_type(enabled, bool, "huge_pages", self._path)
        return self

    def permissions(self, permissions: int) -> MmapBuilder:
        """Set the mode bits of a file :meth:`create` or :meth:`open_or_create`
        makes (default ``0o666``, before the umask).

        >>> m = MemoryMappedFile.builder("ipc.bin").size(4096).permissions(0o600).create()
        """
        self._permissions = check_permissions(permissions, self._path)
        return self

    def follow_symlinks(self, follow: bool = True) -> MmapBuilder:
        """With ``False``, refuse a symbolic link at the path (errno ``ELOOP``).

        >>> m = MemoryMappedFile.builder("data.bin").follow_symlinks(False).open()
        """
        self._follow_symlinks = check_type(follow, bool, "follow_symlinks", self._path)
        return self

    def advice(self, advice: MmapAdvice | None) -> MmapBuilder:
        """Set the :class:`MmapAdvice` applied to the whole mapping at open
        and after every resize or refresh (``None``, the default, leaves the
        kernel's).

        >>> m = MemoryMappedFile.builder("big.bin").advice(MmapAdvice.RANDOM).open()
        """
        self._advice = check_advice(advice, self._path)
        return self

    def _opts(self) -> dict[str, Any]:
        return {
            "flush_policy": self._flush_policy,
            "touch_hint": self._touch_hint,
            "huge_pages": self._huge_pages,
            "advice": self._advice,
            "follow_symlinks": self._follow_symlinks,
        }

    def _need_read_write(self, call: str) -> None:
        if self._mode is not MmapMode.READ_WRITE:
            raise ValueError(
                f"{call}(){for_path(self._path)} needs mode READ_WRITE, not {self._mode.name}"
            )

    def _need_size(self, call: str) -> int:
        if self._size is None:
            raise ValueError(f"builder.{call}(){for_path(self._path)} needs .size(n) first")
        return self._size

    def create(self) -> MemoryMappedFile:
        """Create the file at the configured size (``ValueError`` without ``.size()``).

        Only ``READ_WRITE`` can create; an existing file is truncated first.

        >>> m = MemoryMappedFile.builder("new.bin").size(4096).create()
        >>> len(m)
        4096
        """
        size = self._need_size("create")
        self._need_read_write("create")
        return self._cls.create_rw(self._path, size, permissions=self._permissions, **self._opts())

    def open(self) -> MemoryMappedFile:
        """Open the existing file in the configured mode.

        >>> m = MemoryMappedFile.builder("data.bin").mode(MmapMode.COPY_ON_WRITE).open()
        """
        return self._cls._open_existing(self._path, self._mode, **self._opts())

    def open_or_create(self) -> MemoryMappedFile:
        """Open read-write, creating the file at ``.size(n)`` if it is missing.

        >>> m = MemoryMappedFile.builder("state.bin").size(4096).open_or_create()
        """
        self._need_read_write("open_or_create")
        size = self._need_size("open_or_create")
        return self._cls.open_or_create(
            self._path, size, permissions=self._permissions, **self._opts()
        )

    def __repr__(self) -> str:
        return (
            f"MmapBuilder({self._path!r}, mode={self._mode.name}, size={self._size}, "
            f"flush_policy={self._flush_policy!r})"
        )
