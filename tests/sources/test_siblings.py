"""A weights file named alone reads the JSON beside it, as its folder and a URL's siblings are
read: one file, one answer. Checkpoints saved here by transformers' save_pretrained and
torch.save; all-MiniLM-L6-v2 as published."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_refused

pytestmark = pytest.mark.slow

NOTE = "read from beside the file (--no-siblings: the file alone)"


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GPT2LMHeadModel as save_pretrained writes it: safetensors drops the tied head."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("gpt2")
    GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2)).save_pretrained(
        folder
    )
    return folder


def _minus_name(report: dict[str, Any]) -> dict[str, Any]:
    """A report with the parts that name the input (path, kind, the note) taken out."""
    out = {k: v for k, v in report.items() if k != "source"}
    return out


def test_tie_of_a_file_is_the_tie_of_its_folder(emb: Any, gpt2: Path) -> None:
    folder = emb.json("tie", "--from", str(gpt2))
    file = emb.json("tie", "--from", str(gpt2 / "model.safetensors"))
    assert folder["verdict"] == file["verdict"] == "tied"
    assert _minus_name(file) == _minus_name(folder)
    assert file["source"]["notes"] == [f"config.json, generation_config.json {NOTE}"]
    assert folder["source"]["notes"] == []  # a folder's own files go without saying


def test_the_source_line_says_what_was_read_beside_the_file(emb: Any, gpt2: Path) -> None:
    r = emb("tie", "--from", str(gpt2 / "model.safetensors"), ok=True)
    lines = r.stdout.splitlines()
    assert lines[0].endswith("64 x 16 float32, pad none, tied")
    assert lines[1] == f"note: config.json, generation_config.json {NOTE}"


def test_no_siblings_reads_the_bare_file(emb: Any, gpt2: Path) -> None:
    got = emb.json("tie", "--from", str(gpt2 / "model.safetensors"), "--no-siblings")
    assert got["verdict"] == "no-head"
    assert got["config_tied"] is None and got["source"]["notes"] == []
    assert got["evidence"][0] == "no config.json: the tie flag is unknown"


def test_no_siblings_needs_a_file(emb: Any) -> None:
    r = emb("tie", "--no-siblings")
    assert_refused(r)
    assert "--no-siblings reads a checkpoint file alone; use it with --from PATH" in r.stderr


def test_every_table_command_takes_no_siblings(emb: Any) -> None:
    from emb_cli.cli import COMMANDS

    helps = {name: emb(name, "--help").stdout for name, _, _ in COMMANDS}
    with_source = [n for n, text in helps.items() if re.search(r"--tensor(?![-\w])", text)]
    assert len(with_source) >= 9  # every @with_source command: --tensor is a SourceArgs field
    for name in with_source:
        assert "--no-siblings" in helps[name], name


def test_padding_of_minilm_file_finds_the_config_pad(emb: Any, minilm_dir: Path) -> None:
    """config.json beside all-MiniLM-L6-v2's model.safetensors names pad 0."""
    got = emb.json("padding", "--from", str(minilm_dir / "model.safetensors"))
    assert (got["pad_token_id"], got["pad_source"]) == (0, "config")
    assert got["pad_ids_found"] == {"config": 0, "tokenizer": 0}
    assert got["verdict"] == "nonzero"
    bare = emb.json("padding", "--from", str(minilm_dir / "model.safetensors"), "--no-siblings")
    assert bare["verdict"] == "no-pad-token"


def test_diff_init_of_a_file_finds_its_config(emb: Any, minilm_dir: Path) -> None:
    file = emb.json("diff", str(minilm_dir / "model.safetensors"), "--init", "-k", "2")
    folder = emb.json("diff", str(minilm_dir), "--init", "-k", "2")
    assert file["rows_changed"] == folder["rows_changed"] == 30522
    assert file["row_norm_ratio"] == folder["row_norm_ratio"]


def test_text_of_a_file_uses_the_tokenizer_beside_it(emb: Any, minilm_dir: Path) -> None:
    got = emb.json("lookup", "--from", str(minilm_dir / "model.safetensors"), "--text", "dogs")
    assert (got["ids"], got["tokens"]) == ([6077], ["dogs"])


def test_a_torch_file_reads_its_folder(emb: Any, tmp_path: Path) -> None:
    """pytorch_model.bin saved by torch.save beside the config that says untied."""
    import torch

    from tests.models import tiny_llama

    model = tiny_llama(32, 8, tied=False, seed=1)
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    got = emb.json("tie", "--from", str(tmp_path / "pytorch_model.bin"))
    assert (got["verdict"], got["config_tied"], got["config_tied_source"]) == (
        "untied",
        False,
        "config",
    )
    assert got["source"]["pad_source"] == "config"
    bare = emb.json("tie", "--from", str(tmp_path / "pytorch_model.bin"), "--no-siblings")
    assert (bare["verdict"], bare["config_tied"]) == ("untied", None)


def test_a_gguf_file_reads_nothing_beside_it(emb: Any, tmp_path: Path) -> None:
    """llama.cpp reads a GGUF's own metadata only; a config.json beside it is not its own."""
    import gguf
    import numpy as np

    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    (tmp_path / "config.json").write_text('{"model_type": "llama", "pad_token_id": 2}')
    got = emb.json("padding", "--from", str(path))
    assert got["pad_token_id"] is None and got["source"]["notes"] == []
