"""The ``mmapio`` command line: real subprocesses and in-process ``main()``."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import mmap_io
from mmap_io import MemoryMappedFile, page_size
from mmap_io.cli import hexdump_lines, main

SRC = Path(mmap_io.__file__).resolve().parent.parent  # where the tested package lives
ROOT = Path(__file__).resolve().parent.parent  # the repository
HAS_RICH = importlib.util.find_spec("rich") is not None
HAS_RESIDENCY = hasattr(MemoryMappedFile, "residency")

MakeFile = Callable[..., Path]


def run_cli(
    *args: str, cwd: Path | None = None, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m mmap_io ARGS`` (or ``python -c CODE ARGS``) with this checkout's package."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "mmap_io", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


@pytest.fixture
def sample(make_file: MakeFile) -> Path:
    return make_file(b"hello world\n\x00\x01\xff " + bytes(range(256)) * 3 + b"tail")


# -- the program as a whole -------------------------------------------------------


def test_module_help_lists_commands() -> None:
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: mmapio")
    for name in ("demo", "info", "dump", "warm", "evict", "watch", "bench"):
        assert name in r.stdout


@pytest.mark.parametrize("cmd", ["demo", "info", "dump", "warm", "evict", "watch", "bench"])
def test_every_subcommand_has_help(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mmapio {cmd}")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert mmap_io.__version__ in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [[], ["nope"], ["watch"], ["watch", "--count", "0", "x"], ["info"], ["bench", "--slow"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: mmapio" in capsys.readouterr().err


def test_console_script_points_at_main() -> None:
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert scripts["mmapio"] == "mmap_io.cli:main"


def test_plain_text_without_rich(sample: Path) -> None:
    # Make "import rich" fail in a real interpreter: the CLI must fall back.
    code = (
        "import sys; sys.modules['rich'] = None\n"
        "from mmap_io.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))"
    )
    r = run_cli("info", str(sample), code=code)
    assert r.returncode == 0, r.stderr
    assert "page size" in r.stdout and "┃" not in r.stdout
    r = run_cli("demo", code=code)
    assert r.returncode == 0, r.stderr
    assert "demo passed" in r.stdout


@pytest.mark.skipif(not HAS_RICH, reason="rich is not installed")
def test_rich_output(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(sample)]) == 0
    out = capsys.readouterr().out
    assert str(sample) in out and "page size" in out
    assert main(["--plain", "info", str(sample)]) == 0
    plain = capsys.readouterr().out
    assert "┃" not in plain and "page size" in plain


# -- demo ---------------------------------------------------------------------------


def test_demo_subprocess(tmp_path: Path) -> None:
    r = run_cli("demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for what in ("BusyError", "OutOfBoundsError", "copy-on-write", "crc32", "flush", "demo passed"):
        assert what in r.stdout
    assert r.stderr == ""
    assert list(tmp_path.iterdir()) == []  # it works in its own temp dir


def test_demo_cleans_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plain", "demo"]) == 0
    out = capsys.readouterr().out
    removed = [line for line in out.splitlines() if "removed " in line]
    assert removed
    assert not Path(removed[0].split("removed ", 1)[1]).exists()


# -- info ---------------------------------------------------------------------------


def test_info_plain(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plain", "info", str(sample)]) == 0
    out = capsys.readouterr().out
    size = sample.stat().st_size
    assert f"{size} bytes" in out
    assert f"{page_size()} bytes" in out
    assert "read-only" in out and "copy-on-write" in out
    assert ("resident" in out) == HAS_RESIDENCY


def test_info_json(sample: Path) -> None:
    r = run_cli("info", "--json", str(sample))
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    size = sample.stat().st_size
    assert info["path"] == str(sample)
    assert info["size"] == size
    assert info["page_size"] == page_size()
    assert info["pages"] == -(-size // page_size())
    assert info["modes"] == ["READ_ONLY", "READ_WRITE", "COPY_ON_WRITE"]
    if HAS_RESIDENCY:
        assert 0 <= info["resident_pages"] <= info["pages"]
    else:
        assert "resident_pages" not in info


def test_info_empty_file(make_file: MakeFile, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_file(b"", "empty.bin")
    assert main(["info", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 0 and info["pages"] == 0
    assert info["modes"] == ["READ_ONLY"]  # read-write and COW need a non-empty file


@pytest.mark.skipif(os.geteuid() == 0, reason="root may open any file read-write")
def test_info_read_only_file(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample.chmod(0o444)
    assert main(["info", "--json", str(sample)]) == 0
    assert json.loads(capsys.readouterr().out)["modes"] == ["READ_ONLY", "COPY_ON_WRITE"]


def test_info_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    r = run_cli("info", str(missing))
    assert r.returncode == 1
    assert str(missing) in r.stderr and "No such file" in r.stderr
    assert "Traceback" not in r.stderr
    assert main(["info", str(tmp_path)]) == 1


# -- dump ---------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("xxd") is None, reason="xxd is not installed")
@pytest.mark.parametrize("extra", [[], ["-s", "3", "-l", "5"], ["-s", "17", "-l", "100"]])
def test_dump_matches_xxd(sample: Path, extra: list[str]) -> None:
    r = run_cli("dump", *extra, str(sample))
    assert r.returncode == 0, r.stderr
    ref = subprocess.run(["xxd", *extra, str(sample)], capture_output=True, text=True, check=True)
    assert r.stdout == ref.stdout


def test_dump_format(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", "--offset", "0x10", "--length", "20", str(sample)]) == 0
    lines = capsys.readouterr().out.splitlines()
    data = sample.read_bytes()[16:36]
    assert lines == list(hexdump_lines(data, 16))
    assert lines[0].startswith("00000010: ")
    assert lines[1].startswith("00000020: ")
    assert len(lines) == 2


def test_hexdump_lines() -> None:
    assert list(hexdump_lines(b"hello", 0)) == ["00000000: 6865 6c6c 6f" + " " * 27 + "  hello"]
    (line,) = hexdump_lines(bytes(range(0x7C, 0x8C)), 2**32)
    assert line == "100000000: 7c7d 7e7f 8081 8283 8485 8687 8889 8a8b  |}~............."


def test_dump_large_range_is_complete(
    make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    data = os.urandom(200_000)
    path = make_file(data, "big.bin")
    assert main(["dump", "-s", "5", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == list(hexdump_lines(data[5:], 5))


def test_dump_empty_ranges(
    sample: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    size = sample.stat().st_size
    assert main(["dump", "--length", "0", str(sample)]) == 0
    assert main(["dump", "--offset", str(size), str(sample)]) == 0
    assert main(["dump", str(make_file(b"", "empty.bin"))]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "extra",
    [
        ["--offset", "1000000"],
        ["--length", "1000000"],
        ["--offset", "10", "--length", str(2**64)],
        ["--offset", str(2**64 + 1)],
    ],
)
def test_dump_out_of_range_exits_2(
    sample: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dump", *extra, str(sample)]) == 2
    err = capsys.readouterr().err
    assert "outside" in err and str(sample) in err
    assert f"size {sample.stat().st_size}" in err


@pytest.mark.parametrize("extra", [["--offset", "-1"], ["--length", "-5"], ["--offset", "ten"]])
def test_dump_bad_numbers_exit_2(
    sample: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dump", *extra, str(sample)]) == 2
    assert "usage: mmapio dump" in capsys.readouterr().err


def test_dump_subprocess_errors(sample: Path, tmp_path: Path) -> None:
    r = run_cli("dump", "--offset", "99999", str(sample))
    assert r.returncode == 2 and "outside" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("dump", str(tmp_path / "missing.bin"))
    assert r.returncode == 1 and "missing.bin" in r.stderr


def test_dump_into_closed_pipe(make_file: MakeFile) -> None:
    path = make_file(os.urandom(1 << 20), "big.bin")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    p = subprocess.Popen(
        [sys.executable, "-m", "mmap_io", "dump", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.readline()
    p.stdout.close()  # like `mmapio dump big.bin | head -1`
    err = p.stderr.read()
    p.stderr.close()
    assert p.wait(timeout=30) == 1
    assert b"Traceback" not in err


# -- warm / evict -------------------------------------------------------------------


def test_warm(make_file: MakeFile, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_file(os.urandom(5 * page_size() + 1), "warm.bin")
    assert main(["--plain", "warm", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warmed 6 pages" in out
    if HAS_RESIDENCY:
        assert "6 of 6 pages resident" in out


def test_warm_subprocess_and_errors(sample: Path, tmp_path: Path, make_file: MakeFile) -> None:
    r = run_cli("warm", str(sample))
    assert r.returncode == 0, r.stderr
    assert "warmed 1 pages" in r.stdout
    r = run_cli("warm", str(make_file(b"", "empty.bin")))
    assert r.returncode == 0 and "nothing to warm" in r.stdout
    r = run_cli("warm", str(tmp_path / "missing.bin"))
    assert r.returncode == 1 and "missing.bin" in r.stderr
    assert main(["warm", str(tmp_path)]) == 1


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
def test_evict(make_file: MakeFile, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_file(os.urandom(8 * page_size()), "evict.bin")
    os.sync()  # written pages must be clean to be dropped
    assert main(["--plain", "evict", str(path)]) == 0
    out = capsys.readouterr().out
    assert str(path) in out and "drop" in out
    if HAS_RESIDENCY:
        assert "0 of 8 pages still resident" in out
        with MemoryMappedFile.open_ro(path) as m:
            assert m.residency().resident == 0
    assert len(path.read_bytes()) == 8 * page_size()  # the file itself is untouched


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
def test_evict_subprocess_and_errors(sample: Path, tmp_path: Path, make_file: MakeFile) -> None:
    r = run_cli("evict", str(sample))
    assert r.returncode == 0, r.stderr
    assert main(["evict", str(make_file(b"", "empty.bin"))]) == 0
    r = run_cli("evict", str(tmp_path / "missing.bin"))
    assert r.returncode == 1 and "missing.bin" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("evict", str(tmp_path))
    assert r.returncode == 1 and "directory" in r.stderr


# -- bench --------------------------------------------------------------------------


def test_bench_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plain", "bench", "--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.endswith("x")]
    assert [r.split()[0] for r in rows] == ["read_bytes(a,", "as_slice(a,", "update_region(a,"]
    for r in rows:
        assert float(r.split()[-1].rstrip("x")) > 0


def test_bench_subprocess() -> None:
    r = run_cli("bench", "--quick")
    assert r.returncode == 0, r.stderr
    assert "stdlib" in r.stdout and "ns/op" in r.stdout


# -- watch --------------------------------------------------------------------------


def test_watch_reports_a_change_made_by_another_process(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    path = tmp_path / "w.bin"
    path.write_bytes(bytes(4096))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mmap_io",
            "--plain",
            "watch",
            "--count",
            "1",
            "--seconds",
            "20",
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("watching "), first
        os.chmod(path, 0o600)  # the watch is registered before that line is printed
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "METADATA" in out


def test_watch_stops_after_seconds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("watchfiles")
    path = tmp_path / "w.bin"
    path.write_bytes(b"x")
    assert main(["--plain", "watch", "--seconds", "0.1", str(path)]) == 0
    assert capsys.readouterr().out.startswith("watching ")


def test_watch_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--seconds", "0.1", str(tmp_path / "nope")]) == 1
    assert "No such file" in capsys.readouterr().err
