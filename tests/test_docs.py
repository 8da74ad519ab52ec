"""The documentation's code runs, and the reference covers every public name.

Every fenced ``python`` block of a page in docs/ (and of the README) runs,
in page order, in one namespace per page, in a fresh temporary working
directory. A block right after ``<!-- requires: NAME -->`` runs only when
``NAME`` exists: a dotted attribute of ``mmap_io``
(``MemoryMappedFile.residency``) or an importable module (``numpy``). Blocks
after ``<!-- no-run -->`` are shown, not run (they need another process or a
particular machine).

A statement ``print(x)  # text`` shows its output in the comment: the test
checks that ``x`` prints as ``text`` (``...`` stands for any text, as in
doctest), so the error messages quoted in the docs are the real ones.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

import mmap_io
from mmap_io.cli import build_parser

SRC = Path(mmap_io.__file__).resolve().parent.parent  # where the tested package lives
ROOT = Path(__file__).resolve().parent.parent  # the repository (or unpacked sdist)
DOCS = ROOT / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))
README = ROOT / "README.md"

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


def blocks(page: str | Path) -> list[tuple[int, str | None, str]]:
    """``(line, skip_reason, code)`` for each python block of ``page``
    (a page of docs/ or a path)."""
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


def printed_as(printed: str, shown: str) -> bool:
    """``printed`` matches the ``shown`` output, in which ``...`` stands for any text."""
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, printed, re.S) is not None


def compile_checking_prints(code: str, filename: str, first_line: int) -> object:
    """Compile ``code`` so that each ``print(x)  # text`` calls ``__shown__(x, text, line)``."""
    comments = {
        tok.start[0]: tok.string[1:].strip()
        for tok in tokenize.generate_tokens(io.StringIO(code).readline)
        if tok.type == tokenize.COMMENT
    }
    tree = ast.parse(code, filename)
    for node in ast.walk(tree):
        call = node.value if isinstance(node, ast.Expr) else None
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "print"
            and len(call.args) == 1
            and not call.keywords
            and node.end_lineno in comments
        ):
            shown = comments[node.end_lineno]
            line = first_line + node.lineno
            call.func.id = "__shown__"
            call.args += [ast.Constant(shown), ast.Constant(line)]
    return compile(ast.fix_missing_locations(tree), filename, "exec")


def run_page(path: Path, label: str) -> None:
    """Run the python blocks of ``path`` in order in one namespace."""
    wrong: list[str] = []

    def shown(value: object, text: str, line: int) -> None:
        printed = str(value)
        print(printed)
        if not printed_as(printed, text):
            wrong.append(f"{label}:{line}: prints {printed!r}, the page shows {text!r}")

    ns: dict[str, object] = {"__name__": f"docs_{path.stem}", "__shown__": shown}
    ran = 0
    for line, reason, code in blocks(path):
        if reason is not None:
            continue
        try:
            exec(compile_checking_prints(code, f"{path}:{line}", line), ns)
        except Exception as exc:
            pytest.fail(f"{label} block at line {line} raised {exc!r}")
        ran += 1
    # Views a page leaves behind must not keep mappings from being collected.
    ns.clear()
    assert ran or not blocks(path)
    if wrong:
        pytest.fail("\n".join(wrong))


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_page(DOCS / page, page)


def test_readme_code_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_page(README, "README.md")


def test_printed_output_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``print(x)  # text`` convention is live: a wrong comment fails."""
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text(
        "```python\n"
        "import mmap_io\n"
        "try:\n"
        "    mmap_io.MemoryMappedFile.open_ro('missing.bin')\n"
        "except FileNotFoundError as exc:\n"
        "    print(type(exc).__name__)  # FileNotFoundError\n"
        "print(mmap_io.page_size() > 0)  # True\n"
        "print(1 + 1)  # 3\n"
        "```\n"
    )
    with pytest.raises(pytest.fail.Exception, match=r"prints '2', the page shows '3'"):
        run_page(page, "page.md")
    assert printed_as("range offset=1 is outside (length 9)", "range offset=1 ... (length 9)")
    assert not printed_as("range offset=1", "range offset=2")


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


def quick_start_commands() -> list[str]:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [c.strip() for c in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_quick_start_is_two_commands() -> None:
    demo, tests = quick_start_commands()
    assert demo.endswith("mmapio demo") and "\n" not in demo
    assert tests.endswith("-m pytest") and "\n" not in tests


def test_quick_start_tests_are_what_ci_runs() -> None:
    ci = ROOT / ".ci" / "run"
    if not ci.exists():
        pytest.skip("no .ci/run here (an unpacked sdist)")
    line = next(s for s in ci.read_text().splitlines() if '-m venv "$venv" &&' in s).strip()
    spelled = (('"$python"', "python3"), ('"$venv/bin/', ".venv/bin/"), ('"$venv"', ".venv"))
    for var, value in spelled:
        line = line.replace(var, value)
    line = line.replace('pip" ', "pip ").replace('python" ', "python ").replace(" -q", "")
    assert line == quick_start_commands()[1]
