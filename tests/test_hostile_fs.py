"""Hostile input from a real file system: outputs that are inputs, races, permissions,
sparse giants, terminal escapes. Each class of issue 15 is one small generated case.

Exit 3 is never an accepted outcome here; a hang fails the case (10 s alarm, or a
subprocess timeout where a C call could block past the alarm).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emb_cli.errors import EmbError, InputError, escape_controls
from emb_cli.sources.files import inputs
from emb_cli.sources.files.output import write_new_file
from tests.helpers import assert_refused
from tests.test_hostile import (
    CASE_SECONDS,
    EMB,
    GOOD,
    entry,
    f32_table,
    snapshot,
    st_bytes,
    time_limit,
)

ROOT = Path(__file__).resolve().parent.parent


def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return str(tok.to_str())


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A sharded checkpoint with every file a source reads: two shards, configs, tokenizer."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model-1.safetensors").write_bytes(GOOD)
    (folder / "model-2.safetensors").write_bytes(f32_table(2, 2, name="other.weight"))
    (folder / "model.safetensors.index.json").write_text(
        json.dumps(
            {"weight_map": {EMB: "model-1.safetensors", "other.weight": "model-2.safetensors"}}
        )
    )
    (folder / "config.json").write_text(
        json.dumps({"vocab_size": 8, "hidden_size": 4, "model_type": "llama"})
    )
    (folder / "generation_config.json").write_text(json.dumps({"pad_token_id": 0}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 8}))
    (folder / "tokenizer.json").write_text(_tokenizer_json())
    return folder


def _refused(emb: Any, root: Path, *args: str, needle: str = "") -> None:
    before = snapshot(root)
    with time_limit(CASE_SECONDS):
        result = emb(*args)
    assert_refused(result, *([needle] if needle else []))
    assert snapshot(root) == before, "an input file changed"


# ---------------------------------------------------------------- outputs never inputs

READ_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "model.safetensors.index.json",
    "model-1.safetensors",
    "model-2.safetensors",  # holds neither table nor head: never opened, still an input
)


@pytest.mark.parametrize("name", READ_FILES)
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_resize_write_never_replaces_an_input(
    emb: Any, tmp_path: Path, model_dir: Path, name: str, force: bool
) -> None:
    out = model_dir / name
    args = ["resize", "10", "--from", str(model_dir), "--write", str(out)]
    _refused(emb, tmp_path, *args, *(["--force"] if force else []), needle="input")


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_resize_write_through_a_link_to_an_input(
    emb: Any, tmp_path: Path, model_dir: Path, link: str
) -> None:
    out = tmp_path / "out.safetensors"
    target = model_dir / "model-1.safetensors"
    out.symlink_to(target) if link == "symlink" else os.link(target, out)
    args = ["resize", "10", "--from", str(model_dir), "--write", str(out), "--force"]
    _refused(emb, tmp_path, *args, needle="input")


def test_resize_write_force_replaces_an_unrelated_file(
    emb: Any, tmp_path: Path, model_dir: Path
) -> None:
    from safetensors.numpy import load_file

    out = tmp_path / "old.safetensors"
    out.write_bytes(b"old")
    args = ["resize", "10", "--from", str(model_dir), "--write", str(out)]
    _refused(emb, tmp_path, *args, needle="--force")
    emb(*args, "--force", ok=True)
    assert load_file(out)[EMB].shape == (10, 4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".old")], "temp file left"


def test_concurrent_writes_one_wins(tmp_path: Path) -> None:
    """Two `resize --write` to one new path at once: exactly one succeeds, nothing replaced."""
    src = tmp_path / "model.safetensors"
    src.write_bytes(GOOD)
    out = tmp_path / "out.safetensors"
    cmd = [sys.executable, "-m", "emb_cli", "resize", "10", "--from", str(src)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [*cmd, "--write", str(out), "--seed", str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in (1, 2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()
    assert sorted(rc for rc, _ in results) == [0, 2], results
    assert "exists" in next(err for rc, err in results if rc == 2)
    from safetensors.numpy import load_file

    assert load_file(out)[EMB].shape == (10, 4)


def test_write_new_file_loses_a_race_without_replacing(tmp_path: Path) -> None:
    """The other writer creates OUT while ours is being written: ours must not replace it."""
    out = tmp_path / "out.bin"

    def write(tmp: Path) -> None:
        tmp.write_bytes(b"ours")
        out.write_bytes(b"theirs")  # appeared after the check, before the link

    with pytest.raises(EmbError, match="exists"):
        write_new_file(out, write, force=False)
    assert out.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"], "temp file left"


def test_write_new_file_mode_follows_umask(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    write_new_file(out, lambda tmp: tmp.write_bytes(b"x"), force=False)
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


# ---------------------------------------------------------------- --plot, same rules


@pytest.fixture
def plot_src(tmp_path: Path) -> Path:
    pytest.importorskip("matplotlib")
    path = tmp_path / "model.safetensors"
    path.write_bytes(GOOD)
    return path


def test_plot_symlink_to_the_checkpoint(emb: Any, tmp_path: Path, plot_src: Path) -> None:
    fig = tmp_path / "fig.png"
    fig.symlink_to(plot_src)
    _refused(emb, tmp_path, "init-stats", "--from", str(plot_src), "--plot", str(fig))


def test_plot_onto_an_input_named_png(emb: Any, tmp_path: Path, plot_src: Path) -> None:
    png = tmp_path / "model.png"
    plot_src.rename(png)
    _refused(emb, tmp_path, "init-stats", "--from", str(png), "--plot", str(png), needle="input")


def test_plot_onto_an_input_config(emb: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(GOOD)
    (folder / "config.png").write_text(json.dumps({"vocab_size": 8}))
    (folder / "config.json").symlink_to(folder / "config.png")
    args = ["init-stats", "--from", str(folder), "--plot", str(folder / "config.png")]
    _refused(emb, tmp_path, *args, needle="input")


def test_plot_existing_unrelated_file_needs_force(emb: Any, tmp_path: Path, plot_src: Path) -> None:
    fig = tmp_path / "fig.png"
    fig.write_bytes(b"someone's figure")
    _refused(emb, tmp_path, "init-stats", "--from", str(plot_src), "--plot", str(fig))


def test_plot_new_file_is_written(emb: Any, tmp_path: Path, plot_src: Path) -> None:
    fig = tmp_path / "fig.png"
    emb("init-stats", "--from", str(plot_src), "--plot", str(fig), ok=True)
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "model.safetensors"]


# ---------------------------------------------------------------- sparse giants

SPARSE = 50 * 2**30  # 50 GB of holes: costs no disk, and read() would need 50 GB of memory


@pytest.fixture
def sparse_dir() -> Iterator[Path]:
    """Outside tmp_path: snapshot() would read the holes."""
    folder = Path(tempfile.mkdtemp(prefix="emb-sparse-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    "name",
    [
        "config.json",
        "generation_config.json",
        "tokenizer_config.json",
        "tokenizer.json",
        "model.safetensors.index.json",
    ],
)
def test_sparse_50gb_json_in_dir(emb: Any, sparse_dir: Path, name: str) -> None:
    folder = sparse_dir / "model"
    folder.mkdir()
    if name != "model.safetensors.index.json":
        (folder / "model.safetensors").write_bytes(GOOD)
    with open(folder / name, "wb") as fh:
        fh.truncate(SPARSE)
    with time_limit(CASE_SECONDS):
        result = emb("info", str(folder))
    assert_refused(result, "bytes")
    assert (folder / name).stat().st_size == SPARSE


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_sparse_50gb_config_flag(emb: Any, sparse_dir: Path, suffix: str) -> None:
    path = sparse_dir / f"c{suffix}"
    with open(path, "wb") as fh:
        fh.truncate(SPARSE)
    with time_limit(CASE_SECONDS):
        result = emb("stats", "--config", str(path))
    assert_refused(result, "bytes")


# ---------------------------------------------------------------- FIFOs, as processes

FIFO_NAMES = ("model.safetensors", "model.gguf", "model.pt", "model.safetensors.index.json")


@pytest.mark.parametrize("name", FIFO_NAMES)
def test_fifo_never_blocks_a_process(tmp_path: Path, name: str) -> None:
    """torch.load and gguf open files in C, where SIGALRM cannot interrupt: a real process."""
    os.mkfifo(tmp_path / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EMB_DEBUG", None)
    r = subprocess.run(
        [sys.executable, "-m", "emb_cli", "info", str(tmp_path / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=CASE_SECONDS + 10,  # start-up included
    )
    assert r.returncode == 2, r.stderr
    assert r.stdout == "" and "pipe" in r.stderr and len(r.stderr.splitlines()) == 1


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


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the unprivileged user can reach (tmp_path's parents are root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="emb-perm-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for p in [folder, *folder.rglob("*")]:
            if not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(folder)


def _perm_case(folder: Path, case: str) -> str:
    model = folder / "model"
    model.mkdir()
    model.chmod(0o755)
    weights = model / "model.safetensors"
    weights.write_bytes(GOOD)
    weights.chmod(0o644)
    if case == "config-unreadable":
        (model / "config.json").write_text("{}")
        (model / "config.json").chmod(0)
        return str(model)
    if case == "weights-unreadable":
        weights.chmod(0)
        return str(weights)
    if case == "folder-unreadable":  # no r: cannot list for *.safetensors
        weights.rename(model / "only.safetensors")
        model.chmod(0o311)
        return str(model)
    if case == "folder-untraversable":  # no x: cannot stat anything inside
        model.chmod(0o644)
        return str(weights)
    if case == "index-shard-unreadable":
        (model / "model.safetensors.index.json").write_text(
            json.dumps({"weight_map": {EMB: "model.safetensors"}})
        )
        (model / "model.safetensors.index.json").chmod(0o644)
        weights.chmod(0)
        return str(model)
    raise AssertionError(case)


PERM_CASES = (
    "config-unreadable",
    "weights-unreadable",
    "folder-unreadable",
    "folder-untraversable",
    "index-shard-unreadable",
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("case", PERM_CASES)
def test_permission_denied_is_one_clean_line(shared_dir: Path, case: str) -> None:
    path = _perm_case(shared_dir, case)
    rc, out, err = _as_unprivileged(["info", path])
    assert rc == 2 and out == "", (rc, out, err)
    assert err.startswith("Error: ") and len(err.splitlines()) == 1, err
    assert "permission denied" in err, err


# ---------------------------------------------------------------- terminal escapes


def test_tensor_names_with_escapes_stay_escaped(emb: Any, tmp_path: Path) -> None:
    evil = "\x1b]0;owned\x07\x1b[2J\u202eevil"
    path = tmp_path / "model.safetensors"
    path.write_bytes(
        st_bytes({EMB: entry("F32", [8, 4], 0, 128), evil: entry("F32", [4], 128, 144)}, bytes(144))
    )
    result = emb("lookup", "0", "--from", str(path), "--tensor", "nope")
    assert_refused(result, "\\x1b]0;owned\\x07\\x1b[2J\\u202eevil")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_escape_controls() -> None:
    assert escape_controls("plain é ü 中") == "plain é ü 中"
    assert escape_controls("a\x1bb\x07c\x00d\x7f\x9b") == "a\\x1bb\\x07c\\x00d\\x7f\\x9b"
    assert escape_controls("x\u202ey\u2028z") == "x\\u202ey\\u2028z"
    assert InputError("name \x1b[31m").message == "name \\x1b[31m"


# ---------------------------------------------------------------- the opening module


def test_json_depth_guard() -> None:
    flat = inputs.parse_json(b'{"a": [1, {"b": 2}]}', "x")
    assert flat == {"a": [1, {"b": 2}]}
    assert inputs.json_depth(flat) == 3
    ok = "[" * inputs.MAX_JSON_DEPTH + "]" * inputs.MAX_JSON_DEPTH
    assert inputs.json_depth(inputs.parse_json(ok, "x")) == inputs.MAX_JSON_DEPTH
    for depth in (inputs.MAX_JSON_DEPTH + 1, 100_000):
        with pytest.raises(InputError, match="deep"):
            inputs.parse_json("[" * depth + "]" * depth, "x")


def test_files_read_records_every_input(model_dir: Path) -> None:
    from emb_cli.sources.checkpoint import open_checkpoint

    inputs.forget_reads()
    open_checkpoint(model_dir)
    assert {Path(p).name for p in inputs.files_read()} >= set(READ_FILES)


def test_kind_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    assert inputs.kind(tmp_path) == "dir"
    assert inputs.kind(tmp_path / "missing") is None
    for path, needle in (
        (tmp_path / "p", "pipe"),
        (Path("/dev/null"), "device"),
        (tmp_path / ("x" * 300), "too long"),
    ):
        with pytest.raises(InputError, match=needle):
            inputs.kind(path)
    with pytest.raises(InputError, match="pipe"):
        inputs.open_input(tmp_path / "p")


# ---------------------------------------------------------------- ids and escapes, fuzzed


@given(st.text(max_size=12))
def test_token_ids_are_ascii_digits_only(text: str) -> None:
    import re

    from emb_cli.sources.config.spec import parse_token_id

    plain = re.fullmatch(r"-?[0-9]+", text) is not None
    assert parse_token_id(text) == (int(text) if plain else None)


@given(st.text(max_size=40))
def test_escaped_messages_are_one_printable_line(text: str) -> None:
    message = InputError(f"tensor {text} is bad").message
    assert all(c.isprintable() or c == " " for c in message)
    assert "\n" not in message and "\x1b" not in message
