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


def test_no_embedding_error_names_every_pattern_the_readme_lists(
    emb: object, tmp_path: Path
) -> None:
    """The error and the README's --tensor row come from the one table, INPUT_SUFFIXES."""
    import re

    import torch
    from safetensors.torch import save_file

    from tests.helpers import assert_refused

    path = tmp_path / "model.safetensors"
    save_file({"encoder.layer.0.weight": torch.zeros(4, 4)}, str(path))
    r = emb("lookup", "1", "--from", str(path))  # type: ignore[operator]
    assert_refused(r)
    looked = r.stderr.split("looked for names ending in ", 1)[1].split(" (any prefix)")[0]
    assert looked.split(", ") == list(roles.INPUT_SUFFIXES)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `--tensor NAME` |"))
    chosen = row.split("with any prefix")[0]  # the rest names copies that are not chosen
    listed = re.findall(r"`([\w.]+\.weight)`", chosen)
    assert len(listed) == 10
    assert all(name.endswith(roles.INPUT_SUFFIXES) for name in listed)
    assert all(any(n.endswith(s) for n in listed) for s in roles.INPUT_SUFFIXES)
