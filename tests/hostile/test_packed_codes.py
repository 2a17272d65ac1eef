"""Packed integer tables (MLX, GPTQ-style codes) whose parts or config disagree: scales of
the wrong shape, a group size that does not divide, bits outside the scheme, no config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import (
    ALL,
    COMMANDS,
    Builder,
    _dir,
    entry,
    run_refused,
    run_refused_as_path,
    st_bytes,
)


def _mlx(
    tmp: Path,
    quant: dict[str, Any] | None,
    *,
    scales: tuple[int, int] = (8, 2),
    biases: bool = True,
    hidden: int = 64,
    weight: tuple[str, list[int]] = ("U32", [8, 8]),
) -> list[str]:
    """An MLX-quantized table (4-bit codes in uint32 words, fp16 scales and biases per 32)
    as mlx_lm saves it, with one part or one config value wrong."""
    name = "model.embed_tokens"
    dtype, shape = weight
    parts: dict[str, tuple[str, list[int]]] = {
        f"{name}.weight": (dtype, shape),
        f"{name}.scales": ("F16", list(scales)),
    }
    if biases:
        parts[f"{name}.biases"] = ("F16", list(scales))
    size = {"U32": 4, "I32": 4, "F16": 2}
    header: dict[str, Any] = {}
    pos = 0
    for key, (dt, shp) in parts.items():
        n = size[dt] * shp[0] * shp[1]
        header[key] = entry(dt, shp, pos, pos + n)
        pos += n
    config: dict[str, Any] = {"model_type": "llama", "hidden_size": hidden, "vocab_size": 8}
    if quant is not None:
        config.update(quant)
    return _dir(
        tmp,
        {"model.safetensors": st_bytes(header, bytes(pos)), "config.json": json.dumps(config)},
    )


MLX4 = {"quantization": {"group_size": 32, "bits": 4}}


PACKED_CASES: dict[str, Builder] = {
    "mlx-scales-wrong-shape": lambda t: _mlx(t, MLX4, scales=(8, 3)),
    "mlx-group-not-dividing-width": lambda t: _mlx(
        t, {"quantization": {"group_size": 48, "bits": 4}}, scales=(8, 1)
    ),
    "mlx-bits-outside-scheme": lambda t: _mlx(t, {"quantization": {"group_size": 32, "bits": 7}}),
    "mlx-missing-biases": lambda t: _mlx(t, MLX4, biases=False),
    "mlx-missing-scales-config-says-quantized": lambda t: _dir(
        t,
        {
            "model.safetensors": st_bytes(
                {"model.embed_tokens.weight": entry("U32", [8, 8], 0, 256)}, bytes(256)
            ),
            "config.json": json.dumps({"model_type": "llama", **MLX4}),
        },
    ),
    "mlx-packed-width-vs-hidden-size": lambda t: _mlx(t, MLX4, hidden=100),
    "packed-codes-unknown-scheme": lambda t: _mlx(
        t, {"quantization_config": {"quant_method": "gptq", "bits": 4}}, weight=("I32", [8, 8])
    ),
    "packed-codes-no-config": lambda t: _mlx(t, None),
}


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(PACKED_CASES))
def test_bad_checkpoint(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = PACKED_CASES[case](tmp_path)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])


@pytest.mark.parametrize("case", sorted(PACKED_CASES))
def test_bad_checkpoint_info_diff_tokenize(emb: Any, tmp_path: Path, case: str) -> None:
    run_refused_as_path(emb, tmp_path, PACKED_CASES[case](tmp_path))
