"""Config keys translated once: tie defaults against transformers' own config classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.config.spec import _UNTIED_BY_DEFAULT, config_tied
from emb_cli.sources.loaded import LoadedSource

EMBED = "model.embed_tokens.weight"


def _open(path: Path) -> LoadedSource:
    return LoadedSource(open_checkpoint(path), None, None, False)


# ---------------------------------------------------------------- tie defaults


@pytest.mark.parametrize(
    "model_type", ["cohere", "falcon", "starcoder2", "gpt2", "bert", "t5", "gemma3", "llama"]
)
def test_tie_default_matches_transformers(model_type: str) -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    expected = transformers.AutoConfig.for_model(model_type).tie_word_embeddings
    assert config_tied({"model_type": model_type}) == (
        expected,
        f"default for model_type {model_type!r}",
    )


def test_untied_table_lists_only_untied_families() -> None:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    transformers.logging.set_verbosity_error()
    for model_type in ("gpt_oss", "olmoe", "glm4", "phi", "exaone", "deepseek_v3", "qwen3"):
        assert transformers.AutoConfig.for_model(model_type).tie_word_embeddings is False
        assert model_type in _UNTIED_BY_DEFAULT
    known = sorted(_UNTIED_BY_DEFAULT & set(CONFIG_MAPPING_NAMES))
    assert len(known) > 150
    tied = [m for m in known if transformers.AutoConfig.for_model(m).tie_word_embeddings]
    assert tied == []


def test_info_reads_hidden_size_through_text_config(emb: Any, arange_file: Path) -> None:
    """Gemma 3 keeps the language model's sizes in text_config; info reports them."""
    (arange_file.parent / "config.json").write_text(
        json.dumps(
            {
                "model_type": "gemma3",
                "architectures": ["Gemma3ForConditionalGeneration"],
                "text_config": {"vocab_size": 8, "hidden_size": 4, "model_type": "gemma3_text"},
            }
        )
    )
    cfg = emb.json("info", str(arange_file.parent))["config"]
    assert (cfg["hidden_size"], cfg["vocab_size"], cfg["model_type"]) == (4, 8, "gemma3_text")
    assert cfg["architectures"] == ["Gemma3ForConditionalGeneration"]
