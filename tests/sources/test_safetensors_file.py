"""safetensors headers: fp8 block scales applied as torch would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.loaded import LoadedSource

EMBED = "model.embed_tokens.weight"


def _open(path: Path) -> LoadedSource:
    return LoadedSource(open_checkpoint(path), None, None, False)


# ---------------------------------------------------------------- tie defaults


def _fp8_reference(rows: int, cols: int, block: int, seed: int) -> tuple[Any, Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g).to(torch.float8_e4m3fn)
    scale = torch.rand(-(-rows // block), -(-cols // block), generator=g) + 0.5
    # DeepSeek-V3's weight_dequant: every 128 x 128 block times its scale_inv.
    full = scale.repeat_interleave(block, 0)[:rows].repeat_interleave(block, 1)[:, :cols]
    return w, scale, (w.to(torch.float32) * full).numpy()


@pytest.mark.parametrize(
    ("rows", "cols", "block", "config"),
    [(300, 200, 128, False), (256, 384, 128, False), (300, 200, 64, True)],
)
def test_fp8_scales_match_a_torch_dequantisation(
    tmp_path: Path, rows: int, cols: int, block: int, config: bool
) -> None:
    from safetensors.torch import save_file

    w, scale, ref = _fp8_reference(rows, cols, block, seed=rows + block)
    save_file({EMBED: w, EMBED + "_scale_inv": scale}, str(tmp_path / "model.safetensors"))
    if config:
        quant = {"quant_method": "fp8", "weight_block_size": [block, block]}
        (tmp_path / "config.json").write_text(json.dumps({"quantization_config": quant}))
    source = _open(tmp_path)
    streamed = np.concatenate([b for _, b in source.chunks(50)])
    np.testing.assert_array_equal(streamed, ref)
    ids = [0, block - 1, block, rows - 1, block, 0]
    np.testing.assert_array_equal(source.rows(ids), ref[ids])


def test_fp8_bf16_scales_are_applied(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    w, scale, _ = _fp8_reference(130, 16, 128, seed=1)
    scale = scale.to(torch.bfloat16)
    ref = w.to(torch.float32).numpy() * np.repeat(scale.to(torch.float32).numpy(), 128, 0)[:130]
    save_file({EMBED: w, EMBED + "_scale_inv": scale}, str(tmp_path / "model.safetensors"))
    np.testing.assert_array_equal(_open(tmp_path).rows([0, 129]), ref[[0, 129]])


def test_fp8_scales_in_another_shard_are_attached(emb: Any, tmp_path: Path) -> None:
    """A sharded index may keep `X.weight_scale_inv` in another shard than `X.weight`."""
    import json

    from safetensors.torch import save_file

    w, scale, ref = _fp8_reference(300, 200, 128, seed=7)
    save_file({EMBED: w}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({EMBED + "_scale_inv": scale}, str(tmp_path / "model-00002-of-00002.safetensors"))
    index = {
        "metadata": {},
        "weight_map": {
            EMBED: "model-00001-of-00002.safetensors",
            EMBED + "_scale_inv": "model-00002-of-00002.safetensors",
        },
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    doc = emb.json("lookup", "0", "150", "299", "--from", str(tmp_path))
    got = np.array(doc["vectors"], dtype=np.float32)
    np.testing.assert_array_equal(got, ref[[0, 150, 299]])
