"""Shared fixtures: files in pytest's tmp_path (removed with it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _parity import Opener, open_ours, open_stdlib
from mmap_io import MemoryMappedFile


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[..., Path]:
    """``make_file(data=b"", name="data.bin")`` writes a file and returns its path."""

    def make(data: bytes = b"", name: str = "data.bin") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return make


@pytest.fixture
def data_file(make_file: Callable[..., Path]) -> Path:
    """A 64 KiB file of random bytes."""
    return make_file(os.urandom(64 * 1024))


@pytest.fixture
def rw(data_file: Path) -> Iterator[MemoryMappedFile]:
    """``data_file`` mapped read-write, closed afterwards."""
    with MemoryMappedFile.open_rw(data_file) as m:
        yield m


@pytest.fixture(params=[open_stdlib, open_ours], ids=["stdlib", "mmap_io"])
def opener(request: pytest.FixtureRequest) -> Opener:
    """Parity tests run twice: ``opener(path, mode)`` maps with stdlib ``mmap``,
    then with mmap_io (see ``tests/_parity.py``)."""
    return request.param  # type: ignore[no-any-return]


# ---- MMAPIO_SANITIZE builds ----------------------------------------------------
#
# .ci/run also runs the suite on the ASan+UBSan build with the ASan runtime
# preloaded (LD_PRELOAD). A test that cannot work there is marked
# ``@pytest.mark.not_under_asan("why")`` and is skipped with that reason.

UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "not_under_asan(reason): skipped when the ASan runtime is preloaded"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not UNDER_ASAN:
        return
    for item in items:
        mark = item.get_closest_marker("not_under_asan")
        if mark is not None:
            item.add_marker(pytest.mark.skip(reason=f"under ASan: {mark.args[0]}"))
