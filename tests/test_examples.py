"""Every program in examples/ runs to completion as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mmap_io

SRC = Path(mmap_io.__file__).resolve().parent.parent  # where the tested package lives
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# What each example must print: evidence it did its job, not just exit 0.
EXPECTED = {
    "append_log.py": [
        "appended 20 records",
        "replayed 21 records",
        "last b'event 20: after reopen'",
        "OutOfBoundsError",
    ],
    "asset_loader.py": ['"enemies": 12', "grass.raw served zero-copy: 65536 bytes"],
    "ipc_queue.py": ["200000 messages of 64 bytes in", "messages/s"],
    "cow_scratch.py": [
        "scratch copy:   b'MODE=TEST",
        "file on disk:   b'mode=prod",
        "saved the edited copy",
    ],
    "numpy_array.py": ["shape (1000, 4)", "read-only: True", "[40.0, 41.0, 42.0, 86.0]"],
    "record_db.py": ["(1002, 27450, 'linus')", "oversized write is refused", "'guido'"],
    "shared_state.py": ["done flags [1, 1]", "(expected 333328333350000)"],
    "tail_log.py": [
        "followed 40 lines from process",
        "last  b'request 039 served in 7 ms'",
        "mapping now 1084 bytes, the file 1084 bytes",
        "slow requests (9 ms): 5",
        "refresh() while a view is alive: BusyError",
        "after release: refresh() -> 1084",
    ],
}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_every_example_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, tmp_path: Path) -> None:
    r = run([str(EXAMPLES / name)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    for needle in EXPECTED[name]:
        assert needle in r.stdout, (needle, r.stdout)
    assert list(tmp_path.iterdir()) == []  # examples clean up after themselves


def test_numpy_example_without_numpy(tmp_path: Path) -> None:
    code = (
        "import runpy, sys; sys.modules['numpy'] = None; "
        f"runpy.run_path({str(EXAMPLES / 'numpy_array.py')!r}, run_name='__main__')"
    )
    r = run(["-c", code], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "numpy is not installed" in r.stdout
