"""The documentation's code runs, and the reference covers every public name.

Every fenced ``python`` block of a page in docs/ runs, in page order, in
one namespace per page, in a fresh temporary working directory. A block
right after ``<!-- requires: NAME -->`` runs only when ``NAME`` exists: a
dotted attribute of ``mmap_io`` (``MemoryMappedFile.residency``) or an
importable module (``numpy``). Blocks after ``<!-- no-run -->`` are shown,
not run (they need another process or a particular machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mmap_io
from mmap_io.cli import build_parser

SRC = Path(mmap_io.__file__).resolve().parent.parent  # where the tested package lives
DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))

_BLOCK = re.compile(r"(?:<!-- (no-run|requires: ([\w.]+)) -->\n)?```python\n(.*?)```", re.S)


def _available(name: str) -> bool:
    head = name.split(".")[0]
    if not hasattr(mmap_io, head):
        return importlib.util.find_spec(head) is not None
    obj: object = mmap_io
    for part in name.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def blocks(page: str) -> list[tuple[int, str | None, str]]:
    """``(line, skip_reason, code)`` for each python block of ``page``."""
    text = (DOCS / page).read_text()
    out = []
    for m in _BLOCK.finditer(text):
        line = text.count("\n", 0, m.start(3))
        reason = None
        if m.group(1) == "no-run":
            reason = "no-run"
        elif m.group(2) and not _available(m.group(2)):
            reason = f"needs {m.group(2)}"
        out.append((line, reason, m.group(3)))
    return out


def test_pages_exist() -> None:
    for name in ("index.md", "guide.md", "api.md", "cli.md", "benchmarks.md", "platforms.md"):
        assert name in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ns: dict[str, object] = {"__name__": f"docs_{page[:-3]}"}
    ran = 0
    for line, reason, code in blocks(page):
        if reason is not None:
            continue
        try:
            exec(compile(code, f"{DOCS / page}:{line}", "exec"), ns)
        except Exception as exc:
            pytest.fail(f"{page} block at line {line} raised {exc!r}")
        ran += 1
    # Views a page leaves behind must not keep mappings from being collected.
    ns.clear()
    assert ran or not blocks(page)


def test_api_reference_covers_every_public_name() -> None:
    text = (DOCS / "api.md").read_text()
    code_spans = " ".join(re.findall(r"`[^`\n]+`", text))
    missing = [n for n in mmap_io.__all__ if not re.search(rf"\b{re.escape(n)}\b", code_spans)]
    assert missing == []


def test_cli_page_matches_the_parser() -> None:
    text = (DOCS / "cli.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = set(sub.choices)
    documented = set(re.findall(r"^## `mmapio (\w+)", text, re.M))
    assert documented == commands


CLI_LINES = re.findall(r"^\$ mmapio (.+?)(?:\s+# exit (\d))?$", (DOCS / "cli.md").read_text(), re.M)


def test_cli_page_has_examples() -> None:
    assert len(CLI_LINES) >= 6


@pytest.mark.not_under_asan(
    "runs python with a clean environment, where the ASan runtime cannot be preloaded"
)
@pytest.mark.parametrize(("args", "code"), CLI_LINES, ids=[a for a, _ in CLI_LINES])
def test_cli_page_example_runs(args: str, code: str, tmp_path: Path) -> None:
    """A ``$ mmapio ...`` line of cli.md exits as documented (``# exit N``, else 0)."""
    (tmp_path / "data.bin").write_bytes(b"hello world\n" + bytes(4096 * 3))
    r = subprocess.run(
        [sys.executable, "-m", "mmap_io", *args.split()],
        cwd=tmp_path,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == int(code or 0), (args, r.stderr)
    if code:
        assert "Traceback" not in r.stderr
