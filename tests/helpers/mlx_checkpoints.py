"""MLX-quantized checkpoints as mlx_lm writes them, made with mlx itself: the reference
for the quantized reader (tests/sources/test_quantized.py) and the commands on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

EMBED, HEAD = "model.embed_tokens.weight", "lm_head.weight"


def _table(rows: int, cols: int, seed: int, dtype: Any) -> Any:
    """Rows of very different scales (1e-3 to 50), as real tables have outlier rows."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)) * rng.uniform(1e-3, 50, (rows, 1))
    return mx.array(w.astype(np.float32)).astype(dtype)


def _save_mlx(folder: Path, tensors: dict[str, Any], quantization: Any, **config: Any) -> Path:
    """As mlx_lm saves: mx.save_safetensors with format mlx, config.json with quantization
    and quantization_config (the same dict)."""
    folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(folder / "model.safetensors"), tensors, metadata={"format": "mlx"})
    cfg = {"model_type": "llama", **config}
    if quantization is not None:
        cfg["quantization"] = cfg["quantization_config"] = quantization
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _quantized(prefix: str, w: Any, gs: int, bits: int) -> tuple[dict[str, Any], np.ndarray]:
    q, s, b = mx.quantize(w, group_size=gs, bits=bits)
    ref = mx.dequantize(q, s, b, group_size=gs, bits=bits)
    assert ref.dtype == w.dtype  # mlx returns the scales' dtype
    parts = {f"{prefix}.weight": q, f"{prefix}.scales": s, f"{prefix}.biases": b}
    return parts, np.array(ref.astype(mx.float32))
