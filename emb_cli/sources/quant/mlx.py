"""MLX affine quantization (mlx_lm): config.json's `quantization`, and the QuantizedTensor
of a weight stored as uint32 words beside `scales` and `biases`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emb_cli.errors import InputError
from emb_cli.sources.base import QuantScheme, TensorRef
from emb_cli.sources.config.spec import config_dim, text_config
from emb_cli.sources.dtypes import SCALES
from emb_cli.sources.quant.tensor import (
    QuantizedTensor,
    Side,
    check_width,
    config_int,
    config_sections,
    file_part,
    need_dtype,
    need_shape,
    part_ref,
)
from emb_cli.sources.tensors import FileTensor

MLX_BITS = (2, 3, 4, 5, 6, 8)  # what mx.quantize accepts in affine mode

MLX_GROUP_SIZES = (32, 64, 128)

# mlx's defaults by mode (mlx.nn.layers.quantized._defaults_for_mode): (group_size, bits)
_MLX_DEFAULTS = {"affine": (64, 4), "mxfp4": (32, 4), "nvfp4": (16, 4), "mxfp8": (32, 8)}

_MLX_KEYS = frozenset({"group_size", "bits", "mode", "quant_method"})


def mlx_quantization(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """MLX's quantization dict: `quantization`, or a `quantization_config` with no quant_method
    (mlx_lm writes both, the same)."""
    for cfg in config_sections(config):
        q = cfg.get("quantization")
        if isinstance(q, dict):
            return q
        q = cfg.get("quantization_config")
        if isinstance(q, dict) and "quant_method" not in q and ("bits" in q or "group_size" in q):
            return q
    return None


def _mlx_params(
    q: dict[str, Any], module: str, name: str, where: str
) -> tuple[int, int, str] | None:
    """(group_size, bits, mode) as mlx_lm's load applies them; None: not quantized.

    A per-layer entry ("model.embed_tokens": {...} or false) wins over the top level; a
    per-layer dict without `mode` means affine, as nn.quantize passes it to to_quantized.
    """
    src: dict[str, Any] = q
    if module in q and module not in _MLX_KEYS:
        layer = q[module]
        if layer is False:
            return None
        if isinstance(layer, dict):
            src = {"mode": "affine", **layer}
        elif layer is not True:
            raise InputError(
                f"{name} in {where}: config.json quantization[{module!r}] is {layer!r}; "
                "mlx_lm writes a dict of group_size and bits, or false"
            )
    mode = src.get("mode", "affine")
    if not isinstance(mode, str) or mode not in _MLX_DEFAULTS:
        raise InputError(
            f"{name} in {where}: config.json quantization mode {mode!r} is not an MLX mode "
            f"({', '.join(_MLX_DEFAULTS)})"
        )
    gs_default, bits_default = _MLX_DEFAULTS[mode]
    gs = src.get("group_size") or gs_default  # mlx: `group_size or default`
    bits = src.get("bits") or bits_default
    return (
        config_int(gs, "quantization group_size", name, where),
        config_int(bits, "quantization bits", name, where),
        mode,
    )


def build_mlx(
    name: str,
    module: str,
    get: Callable[[str], TensorRef],
    names: set[str],
    q: dict[str, Any],
    config: Any,
    where: str,
) -> QuantizedTensor:
    """The weight `name` as stored by mx.quantize: uint32 words, scales and biases per group."""
    gs, bits = _affine_settings(q, module, name, where)
    words, cols = _words(name, module, get, bits, gs, config, where)
    rows = words.shape[0]
    scales = part_ref(get, names, f"{module}.scales", "scales", name, where)
    biases = part_ref(get, names, f"{module}.biases", "biases", name, where)
    need_dtype(scales, SCALES, "scales", name, where)
    need_dtype(biases, (scales.dtype,), "biases", name, where)
    need_shape(scales, (rows, cols // gs), f"scales ({gs}-value groups)", name, where)
    need_shape(biases, (rows, cols // gs), f"biases ({gs}-value groups)", name, where)
    stored = words.nbytes + scales.nbytes + biases.nbytes
    scheme = QuantScheme(
        name="mlx-affine",
        bits=bits,
        group_size=gs,
        strategy="group",
        scale_dtype=scales.dtype,
        zero="bias",
        block=None,
        stored_nbytes=stored,
        bytes_per_param=stored / max(1, rows * cols),
    )
    return QuantizedTensor(
        name=name,
        dtype=f"mlx-q{bits}",
        shape=(rows, cols),
        scheme=scheme,
        codes=words,
        family="mlx",
        scales=Side(scales, 1, gs),
        offsets=Side(biases, 1, gs),
    )


def _affine_settings(q: dict[str, Any], module: str, name: str, where: str) -> tuple[int, int]:
    """(group_size, bits) of a weight stored in affine mode, as MLX can store them."""
    params = _mlx_params(q, module, name, where)
    if params is None:
        raise InputError(
            f"{name} in {where}: config.json quantization says {module!r} is not quantized "
            f"(false), yet {module}.scales is stored; the config and the weights disagree"
        )
    gs, bits, mode = params
    if mode != "affine":
        raise InputError(
            f"{name} in {where} is quantized in MLX mode {mode!r}; emb reads affine mode only: "
            "dequantize it first (mlx_lm.convert --dequantize)"
        )
    if bits not in MLX_BITS:
        raise InputError(
            f"{name} in {where}: config.json says {bits}-bit MLX affine quantization; MLX "
            f"affine stores {', '.join(map(str, MLX_BITS))} bits"
        )
    if gs not in MLX_GROUP_SIZES:
        raise InputError(
            f"{name} in {where}: config.json says group size {gs}; MLX affine groups are "
            f"{', '.join(map(str, MLX_GROUP_SIZES))} values"
        )
    return gs, bits


def _words(
    name: str,
    module: str,
    get: Callable[[str], TensorRef],
    bits: int,
    gs: int,
    config: Any,
    where: str,
) -> tuple[FileTensor, int]:
    """The stored uint32 words and the columns they hold at `bits` (checked against the
    config's hidden size: wrong bits give another width)."""
    words = file_part(get(name), where)
    if words.dtype != "uint32" or len(words.shape) != 2:
        raise InputError(
            f"{name} in {where} is {words.dtype} {list(words.shape)} beside {module}.scales; "
            "MLX stores quantized weights as 2-D uint32 words"
        )
    width = words.shape[1]
    if width * 32 % bits:
        raise InputError(
            f"{name} in {where}: {width} uint32 words per row do not hold a whole number of "
            f"{bits}-bit values; config.json's bits are wrong for this tensor"
        )
    cols = width * 32 // bits
    others = [b for b in MLX_BITS if b != bits and width * 32 % b == 0]
    dim = config_dim(text_config(config)) if isinstance(config, dict) else None
    fit = [b for b in others if dim is not None and width * 32 // b == dim]
    hint = f" (at {fit[0]} bits they would give {dim})" if fit else ""
    check_width(name, cols, f"{width} uint32 words per row at {bits} bits", hint, config, where)
    if cols % gs:
        raise InputError(
            f"{name} in {where}: group size {gs} does not divide the {cols} columns that "
            f"{width} words hold at {bits} bits"
        )
    return words, cols
