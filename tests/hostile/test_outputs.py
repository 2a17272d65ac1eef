"""Outputs are never inputs: `resize --write` and `--plot` refuse a path emb reads (or a link
to one), replace another file only with --force, and lose a race without replacing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emb_cli.errors import EmbError
from emb_cli.sources.files import inputs
from emb_cli.sources.files.output import write_new_file
from tests.helpers import assert_refused
from tests.helpers.hostile import CASE_SECONDS, EMB, GOOD, ROOT, f32_table, snapshot, time_limit


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


def test_files_read_records_every_input(model_dir: Path) -> None:
    from emb_cli.sources.checkpoint import open_checkpoint

    inputs.forget_reads()
    open_checkpoint(model_dir)
    assert {Path(p).name for p in inputs.files_read()} >= set(READ_FILES)
