"""PyTorch state dicts written here with torch.save, read back through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.loaded import LoadedSource
from tests.helpers import assert_refused

pytestmark = pytest.mark.usefixtures("only_loopback")

V, D = 10, 6


def weights(dtype: str = "float32") -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(0)
    return {
        "model.embed_tokens.weight": torch.randn(V, D, generator=gen).to(getattr(torch, dtype)),
        "model.norm.weight": torch.ones(D),
        "lm_head.weight": torch.randn(V, D, generator=gen),
    }


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth"])
def test_lookup_gives_the_stored_values(emb: Any, tmp_path: Path, dtype: str, suffix: str) -> None:
    import torch

    sd = weights(dtype)
    path = tmp_path / f"model{suffix}"
    torch.save({**sd, "step": 3, "note": "non-tensor entries are ignored"}, path)
    got = emb.json("lookup", "7", "0", "7", "--from", str(path))
    assert got["shape"] == [1, 3, D]
    assert got["dtype"] == dtype
    expected = sd["model.embed_tokens.weight"].float()[[7, 0, 7]].numpy()
    np.testing.assert_array_equal(np.array(got["vectors"], dtype=np.float32), expected)
    assert got["source"]["origin"] == "torch"


@pytest.mark.parametrize("key", ["state_dict", "model"])
def test_a_nested_state_dict_is_found(emb: Any, tmp_path: Path, key: str) -> None:
    import torch

    sd = weights()
    path = tmp_path / "ckpt.pt"
    torch.save({key: sd, "epoch": 2, "optimizer": {"lr": 0.1}}, path)
    got = emb.json("lookup", "2", "--from", str(path))
    np.testing.assert_array_equal(
        np.array(got["vectors"], dtype=np.float32), sd["model.embed_tokens.weight"][[2]].numpy()
    )


def test_tie_compares_the_stored_head(emb: Any, tmp_path: Path) -> None:
    import torch

    sd = weights()
    untied, copied = tmp_path / "untied.bin", tmp_path / "copied.bin"
    torch.save(sd, untied)
    torch.save({**sd, "lm_head.weight": sd["model.embed_tokens.weight"].clone()}, copied)
    got = emb.json("tie", "--from", str(untied))
    assert (got["verdict"], got["head_tensor"]) == ("untied", "lm_head.weight")
    assert emb.json("tie", "--from", str(copied))["comparison"]["bitwise_equal"] is True


def test_sharded_index_loads_only_the_shard_asked_for(emb: Any, tmp_path: Path) -> None:
    import torch

    sd = weights()
    torch.save({"model.embed_tokens.weight": sd["model.embed_tokens.weight"]}, tmp_path / "a.bin")
    # The head's shard is not a state dict at all: a lookup must never open it.
    (tmp_path / "b.bin").write_bytes(b"not a pickle")
    index = tmp_path / "pytorch_model.bin.index.json"
    index.write_text(
        json.dumps(
            {"weight_map": {"model.embed_tokens.weight": "a.bin", "lm_head.weight": "b.bin"}}
        )
    )
    got = emb.json("lookup", "4", "--from", str(index))
    np.testing.assert_array_equal(
        np.array(got["vectors"], dtype=np.float32), sd["model.embed_tokens.weight"][[4]].numpy()
    )
    assert_refused(emb("tie", "--from", str(index)))


class _Marker:
    """Unpickling this calls open(path, "w"): the file appears if the pickle runs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def test_a_pickle_that_runs_code_is_refused(emb: Any, tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    torch.save({**weights(), "payload": _Marker(marker)}, path)
    assert not marker.exists()
    r = emb("lookup", "1", "--from", str(path))
    assert_refused(r)
    assert "weights_only" in r.stderr and "code" in r.stderr
    assert not marker.exists()


def test_a_damaged_file_is_an_input_error(emb: Any, tmp_path: Path) -> None:
    import torch

    path = tmp_path / "model.bin"
    torch.save(weights(), path)
    path.write_bytes(path.read_bytes()[:200])
    assert_refused(emb("lookup", "1", "--from", str(path)))


def test_a_file_without_a_state_dict_is_an_input_error(emb: Any, tmp_path: Path) -> None:
    import torch

    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2, 2)], path)
    r = emb("lookup", "1", "--from", str(path))
    assert_refused(r)
    assert "state dict" in r.stderr


def _open(path: Path) -> LoadedSource:
    return LoadedSource(open_checkpoint(path), None, None, False)


def test_t5_state_dict_opens(tmp_path: Path) -> None:
    """torch.save(model.state_dict()) of a T5 writes shared.weight under three names."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    cfg = T5Config(vocab_size=64, d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8)
    model = T5ForConditionalGeneration(cfg)
    sd = model.state_dict()
    assert {"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"} <= set(
        sd
    )
    torch.save(sd, tmp_path / "t5.bin")
    source = _open(tmp_path / "t5.bin")
    assert source.info.tensor_name == "shared.weight"
    np.testing.assert_array_equal(
        source.rows([3, 63]), model.shared.weight.detach()[[3, 63]].numpy()
    )
