"""What a file system hands over instead of a checkpoint: missing paths, names too long,
symlink loops, FIFOs, endless devices, sparse 50 GB files, files the user may not read.

A hang fails the case (10 s alarm, or a subprocess timeout where a C call could block past
the alarm).
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

from emb_cli.errors import InputError
from emb_cli.sources.files import inputs
from tests.helpers import assert_refused
from tests.helpers.hostile import (
    ALL,
    CASE_SECONDS,
    COMMANDS,
    EMB,
    GOOD,
    ROOT,
    Builder,
    _as_unprivileged,
    _dir,
    run_refused,
    run_refused_as_path,
    time_limit,
)


def _symlink_loop(tmp: Path) -> list[str]:
    (tmp / "a.safetensors").symlink_to(tmp / "b.safetensors")
    (tmp / "b.safetensors").symlink_to(tmp / "a.safetensors")
    return ["--from", str(tmp / "a.safetensors")]


def _fifo(tmp: Path, name: str) -> list[str]:
    """A named pipe: open() for reading blocks until a writer comes, i.e. forever."""
    os.mkfifo(tmp / name)
    return ["--from", str(tmp / name)]


def _fifo_in_dir(tmp: Path, name: str) -> list[str]:
    src = _dir(tmp, {"model.safetensors": GOOD} if name != "model.safetensors" else {})
    os.mkfifo(tmp / "model" / name)
    return src


def _device(tmp: Path, device: str, name: str) -> list[str]:
    """An endless device behind an innocent name: read whole, it fills memory."""
    (tmp / name).symlink_to(device)
    return ["--from", str(tmp / name)]


def _device_in_dir(tmp: Path, device: str, name: str) -> list[str]:
    src = _dir(tmp, {"model.safetensors": GOOD})
    (tmp / "model" / name).symlink_to(device)
    return src


SPECIAL_CASES: dict[str, Builder] = {
    "missing-path": lambda t: ["--from", str(t / "nope.safetensors")],
    "name-too-long": lambda t: ["--from", str(t / ("x" * 300 + ".safetensors"))],
    "path-too-long": lambda t: ["--from", str(t / ("d/" * 3000) / "model.safetensors")],
    "symlink-loop": lambda t: _symlink_loop(t),
    "fifo-safetensors": lambda t: _fifo(t, "model.safetensors"),
    "fifo-gguf": lambda t: _fifo(t, "model.gguf"),
    "fifo-pt": lambda t: _fifo(t, "model.pt"),
    "fifo-index": lambda t: _fifo(t, "model.safetensors.index.json"),
    "fifo-bin-index": lambda t: _fifo(t, "pytorch_model.bin.index.json"),
    "dir-fifo-weights": lambda t: _fifo_in_dir(t, "model.safetensors"),
    "dir-fifo-config": lambda t: _fifo_in_dir(t, "config.json"),
    "dir-fifo-gguf": lambda t: (_dir(t, {}), os.mkfifo(t / "model" / "x.gguf"))[0],
    "dev-zero-as-index": lambda t: _device(t, "/dev/zero", "model.safetensors.index.json"),
    "dev-urandom-as-index": lambda t: _device(t, "/dev/urandom", "model.safetensors.index.json"),
    "dev-zero-as-safetensors": lambda t: _device(t, "/dev/zero", "model.safetensors"),
    "dev-null-as-gguf": lambda t: _device(t, "/dev/null", "model.gguf"),
    "dir-dev-zero-config": lambda t: _device_in_dir(t, "/dev/zero", "config.json"),
    "dir-dev-zero-tokenizer": lambda t: _device_in_dir(t, "/dev/zero", "tokenizer.json"),
}


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(SPECIAL_CASES))
def test_bad_checkpoint(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = SPECIAL_CASES[case](tmp_path)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])


@pytest.mark.parametrize("case", sorted(SPECIAL_CASES))
def test_bad_checkpoint_info_diff_tokenize(emb: Any, tmp_path: Path, case: str) -> None:
    run_refused_as_path(emb, tmp_path, SPECIAL_CASES[case](tmp_path))


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
