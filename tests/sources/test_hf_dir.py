"""Hugging Face model directories written by save_pretrained: what info() answers from
headers and config.json alone, and which files it opens.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # build from configs only; never fetch weights

from emb_cli.sources import sharded as sharded_mod  # noqa: E402
from emb_cli.sources.checkpoint import open_checkpoint  # noqa: E402
from emb_cli.sources.loaded import LoadedSource  # noqa: E402
from tests.models import tiny_llama

EMBED, HEAD = "model.embed_tokens.weight", "lm_head.weight"


def _llama(tied: bool, dtype: Any = None) -> Any:
    model = tiny_llama(256, 32, tied=tied, heads=2, initializer_range=0.01)
    return model.to(dtype) if dtype is not None else model


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    root = tmp_path_factory.mktemp("hfdir")
    out = {"tied": root / "tied", "untied": root / "untied", "sharded": root / "sharded"}
    _llama(True).save_pretrained(out["tied"])
    _llama(False).save_pretrained(out["untied"])
    # 20 kB shards: the 16 kB bf16 table sits alone in one of several shards.
    _llama(False, torch.bfloat16).save_pretrained(out["sharded"], max_shard_size="20KB")
    return out


def _source(path: Path, pad: int | None = None, pad_given: bool = False) -> LoadedSource:
    return LoadedSource(open_checkpoint(path), None, pad, pad_given)


def test_info_from_a_tied_save_pretrained_dir(dirs: dict[str, Path]) -> None:
    ckpt = open_checkpoint(dirs["tied"])
    assert ckpt.kind == "hf-dir"
    assert ckpt.weights_path == dirs["tied"] / "model.safetensors"
    assert ckpt.config_path == dirs["tied"] / "config.json"
    assert ckpt.generation_config is not None
    assert ckpt.tokenizer.file is None
    info = LoadedSource(ckpt, None, None, False).info
    assert (info.vocab_size, info.embed_dim, info.dtype) == (256, 32, "float32")
    assert info.tensor_name == EMBED
    assert info.head_name is None  # save_pretrained stores a tied head once
    assert (info.tied, info.tied_source) == (True, "config")
    assert (info.pad_token_id, info.pad_source) == (0, "config")
    assert info.initializer_range == 0.01
    assert info.config_vocab_size == 256
    assert info.model_type == "llama"
    assert info.notes == ()


def test_info_untied_names_the_head(dirs: dict[str, Path]) -> None:
    info = _source(dirs["untied"]).info
    assert info.head_name == HEAD
    assert (info.tied, info.tied_source) == (False, "config")


def test_tie_default_when_config_omits_the_key(dirs: dict[str, Path], tmp_path: Path) -> None:
    """transformers' LlamaConfig defaults tie_word_embeddings to False; emb must agree."""
    from transformers import LlamaConfig

    path = tmp_path / "no-key"
    shutil.copytree(dirs["untied"], path)
    cfg = json.loads((path / "config.json").read_text())
    del cfg["tie_word_embeddings"]
    (path / "config.json").write_text(json.dumps(cfg))
    assert LlamaConfig.from_pretrained(path).tie_word_embeddings is False
    info = _source(path).info
    assert (info.tied, info.tied_source) == (False, "default for model_type 'llama'")


def test_pad_flag_beats_config(dirs: dict[str, Path]) -> None:
    source = _source(dirs["tied"], pad=5, pad_given=True)
    assert (source.info.pad_token_id, source.info.pad_source) == (5, "flag")
    assert source.pad.found["config"] == 0


def test_sharded_info_reads_one_shard_header(
    dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    index = json.loads((dirs["sharded"] / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 3
    opened: list[str] = []
    real = sharded_mod.read_header

    def spy(path: Path) -> Any:
        opened.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(sharded_mod, "read_header", spy)
    ckpt = open_checkpoint(dirs["sharded"])
    assert ckpt.kind == "hf-dir"
    assert opened == []  # the index alone lists the names
    info = LoadedSource(ckpt, None, None, False).info
    assert opened == [index["weight_map"][EMBED]]
    assert (info.vocab_size, info.embed_dim, info.dtype) == (256, 32, "bfloat16")
    assert info.head_name == HEAD


def test_save_model_dir_reads_the_table_through_the_back_pointer(
    dirs: dict[str, Path], tmp_path: Path
) -> None:
    """safetensors' save_model drops embed_tokens of a tied model and keeps lm_head."""
    from safetensors.torch import save_model

    model = _llama(True)
    save_model(model, str(tmp_path / "model.safetensors"))
    shutil.copy(dirs["tied"] / "config.json", tmp_path / "config.json")
    source = _source(tmp_path)
    assert source.info.tensor_name == HEAD
    assert source.info.head_name is None
    assert (
        source.choice_reason
        == f"{EMBED} was dropped at save as a copy of {HEAD} (safetensors metadata)"
    )
    assert source.rows([3, 4]).tolist() == model.model.embed_tokens.weight[[3, 4]].tolist()
