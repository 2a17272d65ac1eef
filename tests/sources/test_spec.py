"""Config keys translated once: tie defaults against transformers' own config classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.config.spec import config_tied
from emb_cli.sources.config.tie_defaults import (
    NO_TIE_FLAG,
    TIED_BY_DEFAULT,
    TRANSFORMERS_VERSION,
    UNTIED_BY_DEFAULT,
)
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


def _transformers_tie_default(model_type: str) -> bool | None:
    """What transformers' config class for the type defaults to; None: it has no tie flag."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        config: object = transformers.AutoConfig.for_model(model_type)
    except Exception:  # some configs need arguments to build: the class default then
        config = CONFIG_MAPPING[model_type]
    value = getattr(config, "tie_word_embeddings", None)
    assert value in (True, False, None), (model_type, value)
    return value  # type: ignore[no-any-return]


@pytest.mark.slow
def test_every_transformers_model_type_has_its_tie_default() -> None:
    """Each of transformers' model types, as its config class defaults (17 s for ~830)."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    transformers.logging.set_verbosity_error()
    assert transformers.__version__ == TRANSFORMERS_VERSION  # constraints.txt pins it
    wrong = []
    for model_type in sorted(CONFIG_MAPPING_NAMES):
        expected = _transformers_tie_default(model_type)
        tied, why = config_tied({"model_type": model_type})
        if tied is not expected or (expected is None) != ("no tie flag" in why):
            wrong.append((model_type, expected, tied, why))
    assert wrong == []
    known = TIED_BY_DEFAULT | UNTIED_BY_DEFAULT | NO_TIE_FLAG
    assert sorted(known - set(CONFIG_MAPPING_NAMES)) == ["internlm2", "kimi_k2", "minicpm"]


def test_a_type_transformers_does_not_have_claims_no_default() -> None:
    """tiny_pellm (a test model's own type) and a config without model_type: no default,
    said in words, and no tie verdict built on one."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    assert "tiny_pellm" not in CONFIG_MAPPING_NAMES
    with pytest.raises(ValueError):
        transformers.AutoConfig.for_model("tiny_pellm")
    assert config_tied({"model_type": "tiny_pellm"}) == (
        None,
        f"model_type 'tiny_pellm' is not a transformers {TRANSFORMERS_VERSION} model type: "
        "no tie default",
    )
    assert config_tied({}) == (None, "model_type absent: no tie default")
    assert config_tied({"model_type": "tiny_pellm", "tie_word_embeddings": False}) == (
        False,
        "config",
    )


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
