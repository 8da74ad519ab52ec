"""The ``mmapio`` command line: real subprocesses and in-process ``main()``."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mmap_io
from mmap_io import MemoryMappedFile, page_size
from mmap_io.cli import PROGRESS_MIN_BYTES, build_parser, hexdump, hexdump_lines, main

SRC = Path(mmap_io.__file__).resolve().parent.parent  # where the tested package lives
ROOT = Path(__file__).resolve().parent.parent  # the repository
HAS_RICH = importlib.util.find_spec("rich") is not None
HAS_RESIDENCY = hasattr(MemoryMappedFile, "residency")

MakeFile = Callable[..., Path]


DOC = (ROOT / "docs" / "cli.md").read_text()
COMMANDS = ["demo", "info", "dump", "warm", "evict", "watch", "bench"]
FILE_COMMANDS = ["info", "dump", "warm", "evict", "watch"]
# Runs main() with "import watchfiles" failing, as it does without the watch extra.
NO_WATCHFILES = (
    "import sys; sys.modules['watchfiles'] = None\n"
    "from mmap_io.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))"
)


def cli_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, **extra)


def run_cli(
    *args: str, cwd: Path | None = None, code: str | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m mmap_io ARGS`` (or ``python -c CODE ARGS``) with this checkout's package."""
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "mmap_io", *args]
    kwargs.setdefault("env", cli_env())
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, text=True, cwd=cwd, timeout=60, **kwargs)


def one_stderr_line(r: subprocess.CompletedProcess[str], command: str) -> str:
    """The single line ``r`` printed on stderr (it must be exactly one)."""
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and r.stderr.endswith("\n"), r.stderr
    assert lines[0].startswith(f"mmapio {command}: "), lines[0]
    return lines[0]


def one_line_error(r: subprocess.CompletedProcess[str], command: str) -> str:
    """The single stderr line of a failed run."""
    assert r.returncode != 0, r
    return one_stderr_line(r, command)


def documented(line: str) -> bool:
    """Whether ``line`` is printed verbatim in cli.md (in a block or a table)."""
    return line in DOC.replace("\\|", "|")


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


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_subcommand_has_help(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mmapio {cmd}")
    # A description paragraph between the usage and the argument lists.
    description = out.split("\n\n")[1]
    assert not description.startswith(("positional arguments", "options")), out
    assert len(description.split()) >= 8


def test_documented_usage_is_the_parser_s() -> None:
    assert build_parser().format_usage().strip() in DOC


def _without_durations(text: str) -> str:
    return re.sub(r"in [\d.]+ ms", "in N ms", text)


@pytest.mark.parametrize("cmd", ["info", "warm", "evict"])
def test_plain_works_after_the_command(
    cmd: str, sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _synced(sample, 5000)  # clean pages: evict drops them all, both times
    outputs = []
    for argv in (["--plain", cmd, str(sample)], [cmd, "--plain", str(sample)]):
        assert main(argv) == 0
        outputs.append(_without_durations(capsys.readouterr().out))
    assert outputs[0] == outputs[1]


@pytest.mark.skipif(not HAS_RICH, reason="rich is not installed")
def test_plain_before_the_command_is_kept(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(sample)]) == 0
    assert "┃" in capsys.readouterr().out  # rich by default
    assert main(["info", "--plain", str(sample)]) == 0
    assert "┃" not in capsys.readouterr().out
    # The command's own --plain must not reset the one given before it.
    assert build_parser().parse_args(["--plain", "info", str(sample)]).plain is True
    assert build_parser().parse_args(["info", str(sample)]).plain is False


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert mmap_io.__version__ in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [[], ["nope"], ["watch"], ["watch", "--count", "0", "x"], ["info"], ["bench", "--slow"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: mmapio" in capsys.readouterr().err


BAD_VALUES = [
    (["watch", "--seconds", "-1"], "--seconds: must be a finite number >= 0: '-1'"),
    (["watch", "--seconds", "nan"], "--seconds: must be a finite number >= 0: 'nan'"),
    (["watch", "--seconds", "inf"], "--seconds: must be a finite number >= 0: 'inf'"),
    (["watch", "--seconds", "1e999"], "--seconds: must be a finite number >= 0: '1e999'"),
    (["watch", "--seconds", "soon"], "--seconds: not a number: 'soon'"),
    (["watch", "--seconds", "-inf"], "--seconds: expected one argument"),
    (["watch", "--count", "0"], "--count: must be positive, got 0"),
    (["watch", "--count", "-3"], "--count: must not be negative: '-3'"),
    (["watch", "--poll-ms", "0"], "--poll-ms: must be positive, got 0"),
    (["watch", "--poll-ms", "10**9"], "--poll-ms: not an integer: '10**9'"),
    (
        ["watch", "--poll-ms", "9999999"],
        "--poll-ms: must be at most 3600000 (an hour), got 9999999",
    ),
    (["dump", "--offset", "-1"], "-s/--offset: must not be negative: '-1'"),
    (["dump", "-s", "ten"], "-s/--offset: not an integer: 'ten'"),
    (["dump", "--length", "-5"], "-l/--length: must not be negative: '-5'"),
    (["dump", "-l", "1.5"], "-l/--length: not an integer: '1.5'"),
    (["dump", "-l", "9" * 5000], "-l/--length: not an integer: '" + "9" * 37 + "...'"),
]


@pytest.mark.parametrize(
    ("argv", "message"), BAD_VALUES, ids=[" ".join(a)[:30] for a, _ in BAD_VALUES]
)
def test_bad_values_are_one_line_usage_errors(
    argv: list[str], message: str, sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, str(sample)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: mmapio {argv[0]} ")
    assert err.endswith(f"mmapio {argv[0]}: error: argument {message}\n")
    assert err.count("error") == 1 and "Traceback" not in err


def test_bad_value_subprocess_exits_at_once(sample: Path) -> None:
    t0 = time.monotonic()
    r = run_cli("watch", "--seconds", "nan", str(sample))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == (
        "mmapio watch: error: argument --seconds: must be a finite number >= 0: 'nan'"
    )
    assert time.monotonic() - t0 < 30


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


# Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, then
# execs mmapio: the new process, even root's, obeys permission bits.
OBEYING_PERMISSIONS = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for cap in (1, 2):\n"
    "    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP\n"
    "        raise OSError(ctypes.get_errno(), 'prctl(PR_CAPBSET_DROP)')\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'mmap_io', *sys.argv[1:]])\n"
)


def obeying_permissions() -> dict[str, Any]:
    """run_cli() keywords that make the child subject to file permissions."""
    return {"code": OBEYING_PERMISSIONS} if os.geteuid() == 0 else {}


def test_info_read_only_file(sample: Path) -> None:
    sample.chmod(0o444)
    r = run_cli("info", "--json", str(sample), **obeying_permissions())
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["modes"] == ["READ_ONLY", "COPY_ON_WRITE"]


@pytest.fixture
def immutable(sample: Path) -> Iterator[Path]:
    """``sample`` with the immutable attribute (not even root may open it for writing)."""
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed")
    if subprocess.run([chattr, "+i", str(sample)], capture_output=True).returncode:
        pytest.skip("this file system or user cannot set the immutable attribute")
    try:
        yield sample
    finally:
        subprocess.run([chattr, "-i", str(sample)], check=True)


def test_info_immutable_file(immutable: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PermissionError):
        os.open(immutable, os.O_RDWR)
    assert main(["info", "--json", str(immutable)]) == 0
    assert json.loads(capsys.readouterr().out)["modes"] == ["READ_ONLY", "COPY_ON_WRITE"]


_IN_MODIFY, _IN_CLOSE_WRITE, _IN_CLOSE_NOWRITE, _IN_OPEN = 0x2, 0x8, 0x10, 0x20


def _inotify_masks(path: Path, action: Callable[[], object]) -> list[int]:
    """The inotify event masks on ``path`` while ``action`` runs."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        pytest.skip("inotify is not available")
    try:
        mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_CLOSE_NOWRITE | _IN_OPEN
        assert libc.inotify_add_watch(fd, os.fsencode(path), mask) >= 0
        action()
        masks = []
        with pytest.raises(BlockingIOError):
            while True:
                buf = os.read(fd, 65536)
                for pos in iter_events(buf):
                    masks.append(struct.unpack_from("iIII", buf, pos)[1])
        return masks
    finally:
        os.close(fd)


def iter_events(buf: bytes) -> Iterator[int]:
    pos = 0
    while pos < len(buf):
        yield pos
        pos += 16 + struct.unpack_from("iIII", buf, pos)[3]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")
@pytest.mark.parametrize("cmd", ["info", "dump", "warm", "evict"])
def test_commands_open_files_read_only(cmd: str, sample: Path) -> None:
    # An open for writing shows up as IN_CLOSE_WRITE even when nothing is written.
    masks = _inotify_masks(sample, lambda: run_cli(cmd, str(sample)))
    assert masks and all(m & _IN_OPEN or m & _IN_CLOSE_NOWRITE for m in masks), masks
    assert not [m for m in masks if m & (_IN_MODIFY | _IN_CLOSE_WRITE)], masks


def test_info_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    r = run_cli("info", str(missing))
    line = one_line_error(r, "info")
    assert r.returncode == 1
    assert line == (
        f"mmapio info: error: [Errno 2] cannot open: No such file or directory: {str(missing)!r}"
    )
    assert documented(line.replace(str(missing), "missing.bin"))
    assert main(["info", str(tmp_path)]) == 1


@pytest.mark.parametrize("cmd", FILE_COMMANDS)
def test_missing_file_is_one_line(
    cmd: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.bin"
    assert main([cmd, str(missing)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"mmapio {cmd}: error: [Errno 2] cannot open: No such file or directory: {str(missing)!r}\n"
    )


@pytest.mark.parametrize("cmd", FILE_COMMANDS)
def test_permission_denied_is_one_line(cmd: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"x" * 100)
    secret.chmod(0)
    r = run_cli(cmd, "secret.bin", cwd=tmp_path, **obeying_permissions())
    assert r.returncode == 1
    line = one_line_error(r, cmd)
    assert line == f"mmapio {cmd}: error: [Errno 13] cannot open: Permission denied: 'secret.bin'"
    assert documented(line.replace(f"mmapio {cmd}:", "mmapio info:"))


# -- paths that are not regular files ----------------------------------------------


def _block_device() -> str | None:
    for name in sorted(os.listdir("/dev")):
        path = f"/dev/{name}"
        with contextlib.suppress(OSError):
            if stat.S_ISBLK(os.stat(path).st_mode):
                return path
    return None


@pytest.fixture
def specials(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Paths of each kind that is not a regular file, by the kind's name."""
    kinds = {"a directory": str(tmp_path)}
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    kinds["a FIFO"] = str(fifo)
    if os.path.exists("/dev/null"):
        kinds["a character device"] = "/dev/null"
    block = _block_device()
    if block is not None:
        kinds["a block device"] = block
    sock = socket.socket(socket.AF_UNIX)
    sock_path = tmp_path / "sock"
    try:
        sock.bind(str(sock_path))
        kinds["a socket"] = str(sock_path)
    except OSError:
        pass
    try:
        yield kinds
    finally:
        sock.close()


@pytest.mark.parametrize("cmd", FILE_COMMANDS)
def test_not_a_regular_file_is_refused_at_once(cmd: str, specials: dict[str, str]) -> None:
    # A subprocess: a FIFO opened the wrong way would block forever.
    code = (
        "import sys\n"
        "from mmap_io.cli import main\n"
        "for path in sys.argv[2:]:\n"
        "    print(main([sys.argv[1], path]), flush=True)\n"
    )
    t0 = time.monotonic()
    r = run_cli(cmd, *specials.values(), code=code)
    assert time.monotonic() - t0 < 30
    assert r.stdout.split() == ["1"] * len(specials), r.stderr
    assert "Traceback" not in r.stderr
    expected = [
        f"mmapio {cmd}: error: {p!r} is {k}, not a regular file" for k, p in specials.items()
    ]
    assert r.stderr.splitlines() == expected


def test_block_device_is_refused_without_opening_it() -> None:
    block = _block_device()
    if block is None:
        pytest.skip("no block device in /dev")
    r = run_cli("info", block)
    assert (
        one_line_error(r, "info")
        == f"mmapio info: error: {block!r} is a block device, not a regular file"
    )


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


@pytest.mark.parametrize(
    ("size", "start"),
    [(0, 0), (15, 0), (16, 0), (17, 5), (1000, 3), (4096, 2**32 - 160), (100, 2**36 - 48)],
)
def test_hexdump_is_hexdump_lines(size: int, start: int) -> None:
    data = os.urandom(size)
    assert hexdump(data, start).decode("ascii") == "".join(
        line + "\n" for line in hexdump_lines(data, start)
    )


@given(st.binary(max_size=300), st.integers(0, 2**44))
def test_hexdump_is_hexdump_lines_anywhere(data: bytes, start: int) -> None:
    assert hexdump(data, start).decode("ascii") == "".join(
        line + "\n" for line in hexdump_lines(data, start)
    )


@pytest.mark.skipif(shutil.which("xxd") is None, reason="xxd is not installed")
def test_dump_matches_xxd_over_several_batches(make_file: MakeFile) -> None:
    # Over 1 MiB: several output batches; an odd start and length leave a short last line.
    path = make_file(os.urandom(3 * (1 << 20) + 20_000), "big.bin")
    args = ["-s", "12345", "-l", str(3 * (1 << 20) - 7)]
    r = run_cli("dump", *args, str(path))
    assert r.returncode == 0, r.stderr
    ref = subprocess.run(["xxd", *args, str(path)], capture_output=True, text=True, check=True)
    assert r.stdout == ref.stdout


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
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=30) == 1
    assert err == "mmapio dump: error: output closed before the end (broken pipe)\n"
    assert documented(err.strip())


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize(
    "argv", [["info"], ["--plain", "info"], ["dump"], ["warm"], ["watch", "--seconds", "0.1"]]
)
def test_full_disk_on_stdout_is_one_line(argv: list[str], sample: Path) -> None:
    with open("/dev/full", "w") as full:
        r = run_cli(*argv, str(sample), stdout=full)
    cmd = argv[1] if argv[0] == "--plain" else argv[0]
    assert one_line_error(r, cmd) == f"mmapio {cmd}: error: [Errno 28] No space left on device"
    assert r.returncode == 1


def _close_stdout() -> None:
    os.close(1)


@pytest.mark.parametrize("cmd", ["info", "dump", "demo"])
def test_closed_stdout_is_one_line(cmd: str, sample: Path) -> None:
    args = [] if cmd == "demo" else [str(sample)]
    r = run_cli(cmd, *args, stdout=None, preexec_fn=_close_stdout)
    assert one_line_error(r, cmd) == f"mmapio {cmd}: error: standard output is closed"
    assert r.returncode == 1


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


def _written_not_synced(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.write(os.urandom(size))


def _synced(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
def test_evict_of_dirty_pages_says_to_sync(tmp_path: Path) -> None:
    path = tmp_path / "dirty.bin"
    for _ in range(5):  # a sync by another process could clean the pages in between
        _written_not_synced(path, 16 * page_size())
        r = run_cli("--plain", "evict", str(path))
        if "dirty" in r.stderr:
            break
    assert r.returncode == 0
    assert re.fullmatch(
        rf"{re.escape(str(path))}: asked the kernel to drop its clean cached pages; "
        r"\d+ of 16 pages still resident\n",
        r.stdout,
    )
    note = one_stderr_line(r, "evict")
    assert note.startswith("mmapio evict: note: ") and "sync" in note and "dirty" in note
    assert documented(re.sub(r"note: \d+ ", "note: 3 ", note))


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
def test_evict_of_clean_pages_says_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "clean.bin"
    _synced(path, 16 * page_size())
    r = run_cli("evict", str(path))
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.endswith("; 0 of 16 pages still resident\n")


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
def test_evict_of_mapped_pages_says_they_are_mapped(tmp_path: Path) -> None:
    path = tmp_path / "mapped.bin"
    _synced(path, 16 * page_size())
    with MemoryMappedFile.open_ro(path) as m:
        m.touch_pages()
        r = run_cli("evict", str(path))
    assert r.returncode == 0
    assert r.stdout.endswith("; 16 of 16 pages still resident\n")
    note = one_stderr_line(r, "evict")
    if "dirty" not in note:  # the kernel counted no dirty page (cachestat)
        assert (
            note == "mmapio evict: note: 16 pages stay cached: a process has them mapped or locked"
        )
        assert documented(note.replace("16 pages", "3 pages"))


# -- progress bars ----------------------------------------------------------------


@pytest.fixture
def large_file(tmp_path: Path) -> Path:
    """A sparse file just big enough for a progress bar (reads as zeros)."""
    path = tmp_path / "large.bin"
    with open(path, "wb") as f:
        f.truncate(PROGRESS_MIN_BYTES)
    return path


def _result_line(cmd: str, path: Path) -> str:
    """The pattern of warm's or evict's one result line for ``large_file``."""
    pages = PROGRESS_MIN_BYTES // page_size()
    if cmd == "warm":
        mib = f"{PROGRESS_MIN_BYTES / (1 << 20):.1f} MiB"
        done = rf"warmed {pages} pages \({mib}\) in [\d.]+ ms; \d+ of {pages} pages resident"
    else:
        done = (
            rf"asked the kernel to drop its clean cached pages; \d+ of {pages} pages still resident"
        )
    return rf"{re.escape(str(path))}: {done}\n"


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
@pytest.mark.parametrize("cmd", ["warm", "evict"])
def test_large_file_piped_shows_only_the_result(cmd: str, large_file: Path) -> None:
    r = run_cli(cmd, str(large_file))
    assert r.returncode == 0
    assert r.stderr == ""
    assert re.fullmatch(_result_line(cmd, large_file), r.stdout), r.stdout


def run_on_a_tty(*args: str) -> tuple[int, str, str]:
    """``mmapio ARGS`` with stderr on a pseudo-terminal: ``(status, stdout, tty text)``."""
    master, slave = pty.openpty()
    env = cli_env(TERM="xterm-256color", COLUMNS="100")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmap_io", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        status = proc.wait(timeout=60)
    finally:
        os.close(master)
        proc.kill()
    return status, out, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(not HAS_RICH, reason="rich is not installed")
@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
@pytest.mark.parametrize("cmd", ["warm", "evict"])
def test_large_file_on_a_terminal_shows_a_progress_bar(cmd: str, large_file: Path) -> None:
    status, out, tty = run_on_a_tty(cmd, str(large_file))
    assert status == 0
    assert re.fullmatch(_result_line(cmd, large_file), out), out
    assert "━" in tty and f"{cmd} " in tty, tty  # rich's bar and the task's name
    assert "MiB" in tty


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
def test_no_progress_bar_with_plain_or_a_small_file(large_file: Path, sample: Path) -> None:
    for args in (
        ["--plain", "warm", str(large_file)],
        ["warm", "--plain", str(large_file)],
        ["warm", str(sample)],
    ):
        status, out, tty = run_on_a_tty(*args)
        assert status == 0 and "warmed" in out
        assert tty == ""


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


def test_watch_without_the_extra_says_what_to_install(sample: Path) -> None:
    r = run_cli("watch", "--seconds", "5", str(sample), code=NO_WATCHFILES)
    assert r.returncode == 1 and r.stdout == ""
    line = one_line_error(r, "watch")
    assert line == (
        "mmapio watch: error: MemoryMappedFile.watch() needs the 'watch' extra: "
        "pip install 'mmap-io[watch]'"
    )
    assert documented(line)


def test_hasattr_watch_is_honest_about_the_extra(sample: Path) -> None:
    code = (
        "import sys\n"
        "if sys.argv[2] == 'missing':\n"
        "    sys.modules['watchfiles'] = None\n"
        "from mmap_io import MemoryMappedFile, AnonymousMmap\n"
        "with MemoryMappedFile.open_ro(sys.argv[1]) as m:\n"
        "    print(hasattr(m, 'watch'), hasattr(MemoryMappedFile, 'watch'))\n"
        "    try:\n"
        "        m.watch(print).stop()\n"
        "    except AttributeError as exc:\n"
        "        print(exc)\n"
        "    else:\n"
        "        print('watched')\n"
        "print(hasattr(AnonymousMmap(4096), 'watch'))\n"
    )
    r = run_cli(str(sample), "missing", code=code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "False False",
        "MemoryMappedFile.watch() needs the 'watch' extra: pip install 'mmap-io[watch]'",
        "False",
    ]
    if importlib.util.find_spec("watchfiles") is not None:
        r = run_cli(str(sample), "present", code=code)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["True True", "watched", "False"]


def test_ctrl_c_is_one_line_and_exit_130(sample: Path) -> None:
    pytest.importorskip("watchfiles")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmap_io", "--plain", "watch", str(sample)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("watching ")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err == "mmapio watch: interrupted\n"
    assert documented(err.strip())


# -- the page itself ----------------------------------------------------------------


def _doc_examples() -> list[tuple[str, str]]:
    """``(command line, shown output)`` for every ``$ mmapio`` line of cli.md."""
    examples = []
    for block in re.findall(r"```text\n(.*?)```", DOC, re.S):
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("$ mmapio "):
                current = []
                examples.append((line[2:], current))
            elif current is not None:
                current.append(line)
    return [(cmd, "\n".join(lines)) for cmd, lines in examples]


def _normalize(text: str, numbers: bool) -> str:
    """Durations vary from run to run (and, with ``numbers``, every figure)."""
    text = re.sub(r"\d+(\.\d+)? ms\b", "N ms", text)
    if numbers:
        text = re.sub(r"\d[\d.,]*", "N", text)
        text = re.sub(r"-{2,}", "-", text)
        text = re.sub(r" +", " ", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def _as_pattern(shown: str) -> str:
    """``…`` stands for any text within a line, a ``...`` line for any lines."""
    parts = []
    for line in shown.splitlines():
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(map(re.escape, line.split("…"))) + r"\n")
    return "".join(parts)


@pytest.fixture(scope="module")
def doc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory cli.md's examples run in: data.bin on disk, and a FIFO."""
    d = tmp_path_factory.mktemp("docs")
    with open(d / "data.bin", "wb") as f:
        f.write(b"hello world\n" + bytes(12288))
        f.flush()
        os.fsync(f.fileno())  # clean pages: evict drops them all
    os.mkfifo(d / "fifo")
    return d


EXAMPLES = _doc_examples()


def test_the_page_has_examples_of_every_command() -> None:
    shown = {next(w for w in cmd.split()[1:] if not w.startswith("-")) for cmd, _ in EXAMPLES}
    assert shown == set(COMMANDS)


@pytest.mark.not_under_asan(
    "runs mmapio with a clean environment, where the ASan runtime cannot be preloaded"
)
@pytest.mark.parametrize(("command", "shown"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_documented_output_is_real(command: str, shown: str, doc_dir: Path) -> None:
    argv = command.split("  # exit ")[0].split()[1:]
    status = int(command.split("  # exit ")[1]) if "  # exit " in command else 0
    (doc_dir / "data.bin").read_bytes()  # cached (clean) pages, as the page shows
    r = subprocess.run(
        [sys.executable, "-m", "mmap_io", *argv],
        cwd=doc_dir,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "80", "TMPDIR": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == status, r.stderr
    numbers = argv[-2:] == ["bench", "--quick"]
    got = _normalize(r.stdout + r.stderr, numbers) + "\n"
    assert re.fullmatch(_as_pattern(_normalize(shown, numbers)), got), got


def _error_table() -> dict[str, int]:
    """The messages of the page's Errors table, with their exit status."""
    rows = re.findall(r"^\| [^|]*(?:\\\|[^|]*)* \| `(mmapio [^`]+)` \| (\d+) \|$", DOC, re.M)
    return {message: int(status) for message, status in rows}


def test_the_error_table_is_what_the_command_prints(doc_dir: Path) -> None:
    table = _error_table()
    assert len(table) >= 10
    secret = doc_dir / "secret.bin"
    secret.write_bytes(b"x")
    secret.chmod(0)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(doc_dir / "sock"))
    runs = [
        run_cli("info", "missing.bin", cwd=doc_dir),
        run_cli("info", "secret.bin", cwd=doc_dir, **obeying_permissions()),
        run_cli("info", ".", cwd=doc_dir),
        run_cli("evict", "fifo", cwd=doc_dir),
        run_cli("dump", "/dev/null", cwd=doc_dir),
        run_cli("info", "sock", cwd=doc_dir),
        run_cli("dump", "--offset", "12290", "--length", "100", "data.bin", cwd=doc_dir),
        run_cli("dump", "--offset", "-1", "data.bin", cwd=doc_dir),
        run_cli("watch", "data.bin", cwd=doc_dir, code=NO_WATCHFILES),
        run_cli("info", "data.bin", cwd=doc_dir, stdout=None, preexec_fn=_close_stdout),
    ]
    with open("/dev/full", "w") as full:
        runs.append(run_cli("dump", "data.bin", cwd=doc_dir, stdout=full))
    sock.close()
    printed = {r.stderr.splitlines()[-1]: r.returncode for r in runs}
    # The broken pipe and Ctrl-C rows are checked by their own tests above.
    rest = {m: c for m, c in table.items() if "broken pipe" not in m and "interrupted" not in m}
    assert printed == rest
