"""The machinery of tests/hostile: the command matrix, safetensors written by hand, the
snapshot that proves inputs untouched, the 10 s alarm, and a run as an unprivileged user.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emb_cli.cli import COMMANDS as CLI_COMMANDS
from tests.helpers import assert_refused

ROOT = Path(__file__).resolve().parents[2]  # the checkout: PYTHONPATH of `python -m emb_cli`

_OUT = Path(tempfile.mkdtemp(prefix="emb-hostile-out-"))
# Arguments a command needs before its source options; every other command runs bare.
ARGS: dict[str, list[str]] = {
    "lookup": ["0"],
    "init-stats": ["--no-hist"],
    "neighbors": ["0"],
    "resize": ["10"],
    # writers: an output in a folder of this session (the cases that succeed replace it)
    "report": ["-o", str(_OUT / "report.html"), "--force"],
    "export": ["--npy", str(_OUT / "export.npy"), "--force"],
}
# Commands that take a checkpoint but no table options; the file cases run them below.
PATH_COMMANDS = ("info", "diff", "tokenize")


def _source_commands() -> dict[str, list[str]]:
    """Every command of the app that takes --from, with the arguments it needs.

    Built from cli.COMMANDS, so a new command is in the hostile matrix from its first day.
    """
    import inspect

    out = {}
    for name, fn, _ in CLI_COMMANDS:
        params = inspect.signature(fn).parameters
        if "from_" in params and "tensor" in params:  # the shared table-source options
            out[name] = [name, *ARGS.get(name, [])]
        else:
            assert name in (*PATH_COMMANDS, "presets", "cache"), f"{name}: add it to the matrix"
    return out


COMMANDS = _source_commands()
ALL = tuple(COMMANDS)
# commands that allocate a built table
BUILDING = ("lookup", "init-stats", "padding", "tie", "undertrained", "neighbors")


# ---------------------------------------------------------------- safetensors by hand


def st_bytes(header: dict[str, Any] | bytes, data: bytes = b"", n: int | None = None) -> bytes:
    """A safetensors file: 8-byte little-endian header length, header, data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if n is None else n) + raw + data


def f32_table(rows: int, cols: int, name: str = "model.embed_tokens.weight") -> bytes:
    data = struct.pack(f"<{rows * cols}f", *range(rows * cols))
    header = {name: {"dtype": "F32", "shape": [rows, cols], "data_offsets": [0, len(data)]}}
    return st_bytes(header, data)


def entry(dtype: str, shape: list[Any], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


EMB = "model.embed_tokens.weight"
GOOD = f32_table(8, 4)


# Each builder makes its files under `tmp` and returns the source options to pass.
Builder = Callable[[Path], list[str]]


def _file(tmp: Path, content: bytes, name: str = "model.safetensors") -> list[str]:
    path = tmp / name
    path.write_bytes(content)
    return ["--from", str(path)]


def _dir(tmp: Path, files: dict[str, bytes | str]) -> list[str]:
    folder = tmp / "model"
    folder.mkdir()
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return ["--from", str(folder)]


def _config(tmp: Path, content: str, name: str = "config.json") -> list[str]:
    path = tmp / name
    path.write_text(content)
    return ["--config", str(path)]


DEEP = "[" * 100_000 + "]" * 100_000


# ---------------------------------------------------------------- assertions


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime under root: inputs must come out untouched.

    Regular files only, not followed through symlinks (/dev/zero is one case's input).
    """
    out = {}
    for p in sorted(root.rglob("*")):
        with contextlib.suppress(OSError):  # names too long, symlink loops
            if not p.is_symlink() and p.is_file():
                out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


# No command may take longer than this on a hostile file (a FIFO once blocked forever,
# /dev/zero behind a symlink took 8-22 s to end in MemoryError).
CASE_SECONDS = 10


def run_refused(emb: Any, tmp_path: Path, args: list[str], *needles: str) -> None:
    before = snapshot(tmp_path)
    with time_limit(CASE_SECONDS):
        result = emb(*args)
    assert_refused(result, *needles)
    assert snapshot(tmp_path) == before, "an input file changed"


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """SIGALRM after `seconds`: a hang fails the case instead of stalling the suite."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the command ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_refused_as_path(emb: Any, tmp_path: Path, src: list[str]) -> None:
    """`info PATH`, `diff A B` and `tokenize --from`: the same files, the same refusal."""
    flag, path, *extra = src
    assert flag == "--from" and extra[:1] in ([], ["--tensor"]), extra
    good = tmp_path / "good-side.safetensors"
    good.write_bytes(GOOD)

    def tensor(option: str) -> list[str]:  # info takes --tensor; diff names the side
        return [option, *extra[1:]] if extra else []

    run_refused(emb, tmp_path, ["info", path, *tensor("--tensor")])
    run_refused(emb, tmp_path, ["diff", path, str(good), *tensor("--tensor-a")])
    run_refused(emb, tmp_path, ["diff", str(good), path, *tensor("--tensor-b")])
    if not extra:  # tokenize takes no --tensor
        run_refused(emb, tmp_path, ["tokenize", "--from", path, "hello"])


# ---------------------------------------------------------------- permissions

UNPRIVILEGED = 65534  # nobody


def _as_unprivileged(args: list[str]) -> tuple[int, str, str]:
    """Run `emb ARGS` as a user without our permissions; root passes every check.

    As root: fork, drop to uid/gid 65534 in the child, run in-process (the interpreter
    under /root may be unreadable to nobody, so no exec). Otherwise: run as ourselves.
    """
    from typer.testing import CliRunner

    import emb_cli.cli

    # Everything the commands import lazily, loaded before the fork drops privileges.
    import emb_cli.commands.info  # noqa: F401
    import emb_cli.render.info  # noqa: F401
    import emb_cli.sources.checkpoint  # noqa: F401
    import emb_cli.sources.loaded  # noqa: F401
    from emb_cli.cli import app

    del emb_cli
    if os.geteuid() != 0:
        r = CliRunner().invoke(app, args)
        return r.exit_code, r.stdout, r.stderr
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(UNPRIVILEGED)
            os.setuid(UNPRIVILEGED)
            r = CliRunner().invoke(app, args)
            os.write(write, json.dumps([r.exit_code, r.stdout, r.stderr]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and data, "the unprivileged child failed"
    rc, out, err = json.loads(data)
    return int(rc), str(out), str(err)
