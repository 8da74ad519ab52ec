"""Every public name has a docstring with an example, and a signature.

The walk covers ``mmap_io.__all__``, the public names of the native
``mmap_io._core`` module, and the public attributes (methods, properties,
classmethods) that the library itself defines on its classes: what is
inherited unchanged from ``object``, ``Exception``, ``enum.Enum`` or
``io.RawIOBase`` is theirs to document. Constructors are documented by
their class, so ``__init__`` is not walked.
"""

from __future__ import annotations

import enum
import inspect
import types
from collections.abc import Iterator

import mmap_io
from mmap_io import _core

_LIBRARY_MODULES = ("mmap_io",)


def _ours(owner: type) -> bool:
    return owner.__module__.split(".")[0] in _LIBRARY_MODULES


def _top_level() -> Iterator[tuple[str, object]]:
    for name in mmap_io.__all__:
        if not name.startswith("__"):
            yield f"mmap_io.{name}", getattr(mmap_io, name)
    for name in dir(_core):
        obj = getattr(_core, name)
        if not name.startswith("_") and not isinstance(obj, int):
            yield f"mmap_io._core.{name}", obj


def _members(cls: type) -> Iterator[tuple[str, object]]:
    """Public attributes defined by the library on ``cls`` or its bases."""
    seen: set[str] = set()
    for owner in cls.__mro__:
        if not _ours(owner):
            continue
        for name, raw in vars(owner).items():
            if name.startswith("_") and name not in ("__enter__", "__exit__"):
                continue
            if name in seen:
                continue
            seen.add(name)
            try:
                getattr(cls, name)
            except AttributeError:
                continue  # deliberately absent (AnonymousMmap.flush and co.)
            if isinstance(raw, enum.Enum):
                continue  # enum members are values, documented by the class
            yield f"{cls.__name__}.{name}", raw


def _public() -> list[tuple[str, object]]:
    """Each public object once, under the first name the walk meets it by."""
    out: list[tuple[str, object]] = []
    seen: set[int] = set()

    def add(qualname: str, obj: object) -> bool:
        if id(obj) in seen:
            return False
        seen.add(id(obj))
        out.append((qualname, obj))
        return True

    for qualname, obj in _top_level():
        if add(qualname, obj) and isinstance(obj, type) and _ours(obj):
            if issubclass(obj, BaseException):
                continue  # exception classes add no public members
            for member in _members(obj):
                add(*member)
    return out


PUBLIC = _public()
DUNDER_PROTOCOL = ("__enter__", "__exit__")


def _doc(obj: object) -> str:
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    return getattr(obj, "__doc__", None) or ""


def _callable(obj: object) -> object | None:
    if isinstance(obj, (classmethod, staticmethod)):
        return obj.__func__
    if isinstance(obj, (property, types.GetSetDescriptorType, types.MemberDescriptorType)):
        return None
    if isinstance(obj, type):
        return None  # classes: their docstring is checked, construction below
    return obj if callable(obj) else None


def test_the_walk_sees_the_surface() -> None:
    names = {q for q, _ in PUBLIC}
    # Shared members are listed once, under the first class that has them.
    assert {"AnonymousMmap.as_slice", "AnonymousMmap.chunks"} <= names
    for expected in (
        "mmap_io.MemoryMappedFile",
        "MemoryMappedFile.flush",  # native, inherited from _core.Mapping
        "MemoryMappedFile.watch",
        "MemoryMappedFile.create_rw",
        "MemoryMappedFile.flush_policy",
        "AtomicU64.fetch_add",
        "AtomicSlice.index",
        "MmapBuilder.create",
        "MmapReader.readline",
        "mmap_io._core.os_error",
        "mmap_io.OutOfBoundsError",
    ):
        assert expected in names
    assert "AnonymousMmap.flush" not in names


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    missing = []
    for qualname, obj in PUBLIC:
        doc = _doc(obj)
        if not doc.strip():
            missing.append(f"{qualname}: no docstring")
        elif qualname.rsplit(".", 1)[-1] not in DUNDER_PROTOCOL and ">>>" not in doc:
            missing.append(f"{qualname}: no example")
    assert missing == []


def _no_signature(qualname: str, obj: object) -> str | None:
    fn = _callable(obj)
    if fn is None:
        return None
    try:
        sig = inspect.signature(fn)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        return f"{qualname}: {exc}"
    if isinstance(fn, (types.BuiltinFunctionType, types.MethodDescriptorType)):
        # A C function without a text signature has none, or the fallback.
        kinds = [p.kind for p in sig.parameters.values()]
        generic = [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]
        if fn.__text_signature__ is None or kinds == generic:  # type: ignore[union-attr]
            return f"{qualname}: no text signature"
    return None


def test_every_public_callable_has_a_signature() -> None:
    problems = [p for p in (_no_signature(q, obj) for q, obj in PUBLIC) if p]
    assert problems == []
    native = [q for q, obj in PUBLIC if isinstance(obj, types.MethodDescriptorType)]
    assert len(native) > 40  # the C methods really were walked


def test_native_classes_have_constructor_signatures() -> None:
    # Mapping is constructed by the Python classes; its signature is public.
    assert list(inspect.signature(_core.Mapping).parameters) == [
        "fd",
        "size",
        "access",
        "path",
        "populate",
        "huge_pages",
        "shared",
    ]
    assert list(inspect.signature(mmap_io.AnonymousMmap).parameters) == [
        "size",
        "shared",
        "huge_pages",
    ]
