"""Where `resize --write` and `init-stats --plot` write: never over a FIFO, socket, device or
directory (--force or not, nothing touched); a partial file named for what it is, removed
on SIGTERM/SIGINT and by the next write after a SIGKILL; EFBIG past `ulimit -f` is exit 2.

Signals go to real processes: `python -m emb_cli` with the writer slowed after it has
written everything (a sleep wrapped around it), so the signal lands mid-write every time.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.hostile import CASE_SECONDS, ROOT, run_refused

RESIZE = ["resize", "1100", "--vocab", "1000", "--dim", "64"]
PLOT = ["init-stats", "--vocab", "100", "--dim", "8"]


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "out.safetensors")
    return tmp / "out.safetensors"


def _socket(tmp: Path) -> Path:
    path = tmp / "out.safetensors"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))  # the file stays after close
    s.close()
    return path


def _dev_null_link(tmp: Path) -> Path:
    (tmp / "out.safetensors").symlink_to("/dev/null")
    return tmp / "out.safetensors"


def _char_device(tmp: Path) -> Path:
    """A character device node of our own (/dev/null's numbers), made only as root."""
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    path = tmp / "out.safetensors"
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return path


def _dir(tmp: Path) -> Path:
    (tmp / "out.safetensors").mkdir()
    return tmp / "out.safetensors"


TARGETS = {
    "fifo": (_fifo, "FIFO"),
    "socket": (_socket, "socket"),
    "dev-null-symlink": (_dev_null_link, "character device"),
    "char-device": (_char_device, "character device"),
    "directory": (_dir, "directory"),
}


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("command", ["resize", "plot"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_special_file_is_never_replaced(
    emb, tmp_path: Path, target: str, command: str, force: bool
) -> None:
    make, kind = TARGETS[target]
    path = make(tmp_path)
    if command == "plot":  # the same target, named .png for --plot
        pytest.importorskip("matplotlib")
        png = tmp_path / "out.png"
        path.rename(png) if not path.is_symlink() else png.symlink_to(os.readlink(path))
        path = png
    before = os.lstat(path)
    args = [*RESIZE, "--write"] if command == "resize" else [*PLOT, "--plot"]
    run_refused(emb, tmp_path, [*args, str(path), *(["--force"] if force else [])], kind)
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (
        before.st_mode,
        before.st_ino,
        before.st_rdev,
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# ---------------------------------------------------------------- signals, real processes

SLOW_RESIZE = """
import sys, time
import emb_cli.sources.files.output as o
real = o.write_safetensors
def slow(path, tensors):
    real(path, tensors)
    print("written", flush=True)
    time.sleep(60)
o.write_safetensors = slow
from emb_cli.cli import main
sys.argv = ["emb", *sys.argv[1:]]
main()
"""

SLOW_PLOT = """
import sys, time
import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure
real = Figure.savefig
def slow(self, *a, **kw):
    real(self, *a, **kw)
    print("written", flush=True)
    time.sleep(60)
Figure.savefig = slow
from emb_cli.cli import main
sys.argv = ["emb", *sys.argv[1:]]
main()
"""


def _start(code: str, args: list[str], **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,  # type: ignore[arg-type]
    )


def _wait_written(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the writer is done and sleeping
    assert line == "written\n", (line, proc.stderr.read() if proc.stderr else "")


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "out.safetensors")


CASES = {
    "resize-sigterm": (SLOW_RESIZE, RESIZE, "out.safetensors", signal.SIGTERM),
    "resize-sigint": (SLOW_RESIZE, RESIZE, "out.safetensors", signal.SIGINT),
    "plot-sigterm": (SLOW_PLOT, PLOT, "out.png", signal.SIGTERM),
    "plot-sigint": (SLOW_PLOT, PLOT, "out.png", signal.SIGINT),
}


@pytest.mark.parametrize("case", CASES)
def test_a_signal_mid_write_leaves_no_partial_file(tmp_path: Path, case: str) -> None:
    code, args, name, sig = CASES[case]
    if name.endswith(".png"):
        pytest.importorskip("matplotlib")
    flag = "--write" if args[0] == "resize" else "--plot"
    proc = _start(code, [*args, flag, str(tmp_path / name)])
    try:
        _wait_written(proc)
        partial = [p.name for p in tmp_path.iterdir()]
        assert partial == [f".{name}.emb-partial-{proc.pid}{Path(name).suffix}"], partial
        proc.send_signal(sig)
        proc.wait(CASE_SECONDS)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -sig, (proc.returncode, proc.stderr.read() if proc.stderr else "")
    assert list(tmp_path.iterdir()) == []  # neither the output nor a partial file


def test_a_killed_run_leaves_a_named_partial_that_the_next_write_removes(
    emb, tmp_path: Path
) -> None:
    out = tmp_path / "out.safetensors"
    proc = _start(SLOW_RESIZE, [*RESIZE, "--write", str(out)])
    try:
        _wait_written(proc)
    finally:
        proc.kill()  # SIGKILL: nothing can clean up
        proc.wait()
    left = _partials(tmp_path)
    assert left == [f".out.safetensors.emb-partial-{proc.pid}.safetensors"], left  # no .tmpXXXX
    result = emb(*RESIZE, "--write", str(out))
    assert result.exit_code == 0, result.stderr
    assert _partials(tmp_path) == []
    from safetensors import safe_open

    with safe_open(str(out), "np") as f:
        assert f.get_tensor("model.embed_tokens.weight").shape == (1100, 64)


def test_a_partial_file_of_a_running_writer_is_left_alone(emb, tmp_path: Path) -> None:
    """Another emb still writing the same path keeps its partial file."""
    out = tmp_path / "out.safetensors"
    proc = _start(SLOW_RESIZE, [*RESIZE, "--write", str(out)])
    try:
        _wait_written(proc)
        result = emb(*RESIZE, "--write", str(tmp_path / "other.safetensors"))
        assert result.exit_code == 0
        left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert left == [f".out.safetensors.emb-partial-{proc.pid}.safetensors"]
    finally:
        proc.kill()
        proc.wait()


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


@pytest.mark.parametrize("sigxfsz", ["ignored", "default"])
def test_a_write_past_the_file_size_limit_is_exit_2(tmp_path: Path, sigxfsz: str) -> None:
    """`ulimit -f`: 281 KB of output against a 100 KB limit. With SIGXFSZ at its default
    (core dump) emb ignores it itself while writing, so the write fails with EFBIG."""

    def limit() -> None:
        if sigxfsz == "ignored":
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        else:
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    out = tmp_path / "out.safetensors"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "emb_cli", *RESIZE, "--write", str(out)],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limit,
        timeout=CASE_SECONDS * 3,  # torch's import on a loaded machine
    )
    assert time.monotonic() - started < CASE_SECONDS * 3
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --write"), r.stderr
    assert "File too large" in lines[0]
    assert list(tmp_path.iterdir()) == []
