"""Which tensor is the embedding, which the head, across families."""

from __future__ import annotations

from pathlib import Path

import pytest

from emb_cli.sources import roles
from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.loaded import LoadedSource

EMBED = "model.embed_tokens.weight"


def _open(path: Path) -> LoadedSource:
    return LoadedSource(open_checkpoint(path), None, None, False)


# ---------------------------------------------------------------- tie defaults


@pytest.mark.parametrize("prefix", ["", "model."])
def test_t5_bart_shared_and_its_copies_choose_shared(prefix: str) -> None:
    names = [
        f"{prefix}shared.weight",
        f"{prefix}encoder.embed_tokens.weight",
        f"{prefix}decoder.embed_tokens.weight",
        "lm_head.weight",
    ]
    choice = roles.choose(names, roles.ROLE_INPUT, "t5", required=True)
    assert choice.name == f"{prefix}shared.weight"
    assert "copies of it" in choice.reason


def test_two_unrelated_tables_still_ask_for_tensor() -> None:
    names = ["shared.weight", "encoder.embed_tokens.weight", "other.embed_tokens.weight"]
    with pytest.raises(roles.TensorNotFound, match="several input embedding candidates"):
        roles.choose(names, roles.ROLE_INPUT, "x", required=True)
