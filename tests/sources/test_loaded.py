"""Pad ids from every place a checkpoint names one."""

from __future__ import annotations

import json
from pathlib import Path

from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.config.spec import spec_from_hf_config
from emb_cli.sources.loaded import LoadedSource

EMBED = "model.embed_tokens.weight"


def _open(path: Path) -> LoadedSource:
    return LoadedSource(open_checkpoint(path), None, None, False)


# ---------------------------------------------------------------- tie defaults


def test_llava_top_level_pad_is_read(arange_file: Path) -> None:
    """llava-hf/llava-1.5-7b-hf: pad_token_id 32001 beside text_config, not inside it."""
    folder = arange_file.parent
    config = {
        "model_type": "llava",
        "pad_token_id": 5,
        "initializer_range": 0.01,
        "torch_dtype": "float16",
        "text_config": {"model_type": "llama", "vocab_size": 8, "hidden_size": 4},
    }
    (folder / "config.json").write_text(json.dumps(config))
    source = _open(folder)
    assert (source.info.pad_token_id, source.info.pad_source) == (5, "config")
    assert source.info.initializer_range == 0.01
    spec = spec_from_hf_config(config, name="llava", origin="config")
    assert (spec.pad_token_id, spec.init.std, spec.dtype, spec.tied) == (5, 0.01, "float16", False)


def test_text_config_pad_wins_over_the_outer_one(arange_file: Path) -> None:
    config = {
        "pad_token_id": 5,
        "text_config": {"vocab_size": 8, "hidden_size": 4, "pad_token_id": 2},
    }
    (arange_file.parent / "config.json").write_text(json.dumps(config))
    assert _open(arange_file.parent).info.pad_token_id == 2
