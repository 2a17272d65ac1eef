"""Which tensors of a checkpoint are quantized: each weight config.json calls quantized
is attached as one QuantizedTensor (MLX or compressed-tensors), and a table of codes emb
cannot decode (GPTQ, AWQ, bitsandbytes, an MLX table without its config) is refused
rather than read as numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from emb_cli.errors import InputError
from emb_cli.sources.base import Checkpoint, TensorRef
from emb_cli.sources.dtypes import INTEGER
from emb_cli.sources.quant.compressed_tensors import CT_PARAMS, build_ct, ct_quantization
from emb_cli.sources.quant.mlx import build_mlx, mlx_quantization
from emb_cli.sources.quant.tensor import QuantizedTensor, config_sections
from emb_cli.sources.tensors import FileTensor

# Names beside a table that say it holds codes rather than values (MLX, compressed-tensors,
# GPTQ/AWQ, bitsandbytes, fp8): the guard lists them in its refusal.
_SCALE_LIKE = re.compile(
    r"(scales|biases|qweight|qzeros|g_idx|weight_scale|weight_scale_inv|weight_zero_point|"
    r"weight_packed|weight_shape|weight_global_scale|SCB|absmax|quant_map|quant_state.*|"
    r"nested_absmax|nested_quant_map)$"
)


class QuantizedTensors(Mapping[str, TensorRef]):
    """A checkpoint's tensors by name, each quantized weight as one QuantizedTensor.

    Names come from the names and config.json alone; a QuantizedTensor is built (and its
    parts' headers read) on first access, so a sharded or remote checkpoint opens no extra
    shard. Companions (scales, biases, weight_scale, weight_zero_point, weight_shape) leave
    the names; compressed-tensors' `X.weight_packed` is listed as `X.weight`.
    """

    def __init__(
        self,
        names: Sequence[str],
        get: Callable[[str], TensorRef],
        config: dict[str, Any] | None,
        where: str,
    ) -> None:
        self._get, self._config, self._where = get, config, where
        self._mlx = mlx_quantization(config)
        self._ct = ct_quantization(config)
        self._all = set(names)
        self._plan: dict[str, tuple[str, str]] = {}  # weight name -> (family, module)
        self.companions: dict[str, tuple[str, ...]] = {}
        self._built: dict[str, TensorRef] = {}
        for n in names:
            module, _, param = n.rpartition(".")
            if self._mlx is not None and param == "scales" and f"{module}.weight" in self._all:
                extra = [f"{module}.biases"] if f"{module}.biases" in self._all else []
                self._plan[f"{module}.weight"] = ("mlx", module)
                self.companions[f"{module}.weight"] = (n, *extra)
            if self._ct is not None and (
                param == "weight_packed"
                or (param == "weight_scale" and f"{module}.weight" in self._all)
            ):
                self._plan[f"{module}.weight"] = ("ct", module)
                self.companions[f"{module}.weight"] = tuple(
                    f"{module}.{p}" for p in CT_PARAMS if f"{module}.{p}" in self._all
                )
        dropped = {c for cs in self.companions.values() for c in cs}
        listed: dict[str, None] = {}  # insertion-ordered set
        for n in names:
            if n not in dropped:
                listed.setdefault(n, None)
            elif n.endswith(".weight_packed"):  # listed as X.weight, where it stood
                listed.setdefault(n[: -len("_packed")], None)
        self._names = list(listed)
        self._listed = set(listed)

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._listed

    def __getitem__(self, name: str) -> TensorRef:
        if name in self._built:
            return self._built[name]
        if name not in self._listed:
            raise KeyError(name)
        plan = self._plan.get(name)
        if plan is None:
            ref = self._get(name)
            self._refuse_bare(ref)
            return ref
        family, module = plan
        if family == "mlx":
            assert self._mlx is not None
            built: TensorRef = build_mlx(
                name, module, self._get, self._all, self._mlx, self._config, self._where
            )
        else:
            assert self._ct is not None
            built = build_ct(module, self._get, self._all, self._ct, self._config, self._where)
        self._built[name] = built
        return built

    def _refuse_bare(self, ref: TensorRef) -> None:
        """A 2-D code table the config calls quantized, with no scales beside it."""
        if len(ref.shape) != 2:
            return
        module = ref.name.rsplit(".", 1)[0]
        if self._mlx is not None and ref.dtype == "uint32":
            raise InputError(
                f"{ref.name} in {self._where} is uint32 words and config.json states MLX "
                f"quantization, but {module}.scales is missing; the checkpoint is incomplete: "
                "download or convert it again"
            )
        if self._ct is not None and ref.dtype in ("int8", "int32", "float8_e4m3fn"):
            raise InputError(
                f"{ref.name} in {self._where} is {ref.dtype} and quantization_config is "
                f"compressed-tensors, but {module}.weight_scale is missing; the checkpoint is "
                "incomplete: download or convert it again"
            )


def attach_quantization(
    tensors: Mapping[str, TensorRef] | Sequence[str],
    config: dict[str, Any] | None,
    where: str,
    get: Callable[[str], TensorRef] | None = None,
) -> QuantizedTensors:
    """Every tensor of a checkpoint, each quantized weight replaced by a QuantizedTensor.

    tensors: refs by name (one safetensors file), or the names alone with `get` opening
    one on demand (sharded and remote checkpoints). Raises InputError, naming the tensor,
    when a quantized weight's parts or the config are inconsistent: on access of that
    weight, so a broken layer elsewhere does not stop reading the embedding.
    """
    if isinstance(tensors, Mapping):
        return QuantizedTensors(list(tensors), get or tensors.__getitem__, config, where)
    if get is None:
        raise TypeError("attach_quantization(names, ...) needs get=")
    return QuantizedTensors(list(tensors), get, config, where)


def quantized_checkpoint(ckpt: Checkpoint) -> Checkpoint:
    """The checkpoint with each quantized weight as one QuantizedTensor (when its config
    states MLX or compressed-tensors quantization); file_of follows the packed parts.
    """
    if mlx_quantization(ckpt.config) is None and ct_quantization(ckpt.config) is None:
        return ckpt
    view = attach_quantization(ckpt.names, ckpt.config, str(ckpt.path), get=ckpt.get)
    file_of = ckpt.file_of

    def file_of_part(name: str) -> str:
        parts = view.companions.get(name)
        if parts and name not in view._all:  # X.weight listed for X.weight_packed
            return file_of(parts[0])
        return file_of(name)

    ckpt.names, ckpt.get, ckpt.file_of = view.names, view.__getitem__, file_of_part
    return ckpt


def refuse_unknown_packed(
    ref: TensorRef, companions_seen: Sequence[str], config_keys_seen: Sequence[str]
) -> None:
    """Refuse a table of integer or packed codes that emb cannot turn into values.

    Statistics of raw integers (GPTQ qweight, bitsandbytes uint8, an MLX table without its
    config) would be numbers about nothing. Float tables pass; fp8 passes unless scales
    sit beside it and none were applied.
    """
    if isinstance(ref, QuantizedTensor):
        return
    fp8_unscaled = (
        ref.dtype.startswith("float8")
        and bool(companions_seen)
        and not (isinstance(ref, FileTensor) and ref.scale is not None)
    )
    if ref.dtype not in INTEGER and ref.dtype != "bool" and not fp8_unscaled:
        return
    beside = f"; beside it: {', '.join(companions_seen)}" if companions_seen else ""
    keys = (
        f"; config.json has {', '.join(config_keys_seen)}"
        if config_keys_seen
        else "; config.json states no quantization"
    )
    raise InputError(
        f"tensor {ref.name} is {ref.dtype} {list(ref.shape)}: quantized codes, not values"
        f"{beside}{keys}; emb dequantizes MLX affine and compressed-tensors checkpoints only: "
        "dequantize this one with its own library first, or pass --tensor with a float table"
    )


def guard_table(ref: TensorRef, names: Sequence[str], config: dict[str, Any] | None) -> None:
    """refuse_unknown_packed with what the checkpoint shows beside the tensor."""
    refuse_unknown_packed(ref, scale_like_companions(ref.name, names), quantization_keys(config))


def quantization_keys(config: dict[str, Any] | None) -> list[str]:
    """The config's quantization keys, `quantization_config (quant_method gptq)` style,
    for messages."""
    seen: list[str] = []
    for i, cfg in enumerate(config_sections(config)):
        prefix = "text_config." if i else ""
        for key in ("quantization", "quantization_config"):
            q = cfg.get(key)
            if q is None:
                continue
            method = q.get("quant_method") if isinstance(q, dict) else None
            seen.append(f"{prefix}{key}" + (f" (quant_method {method})" if method else ""))
    return seen


def scale_like_companions(name: str, names: Sequence[str]) -> list[str]:
    """Tensors beside `name` (same module) whose names say scales, zero points or codes."""
    module = name.rsplit(".", 1)[0] if name.endswith(".weight") else name
    return [
        n
        for n in names
        if n != name and n.startswith(module + ".") and _SCALE_LIKE.search(n[len(module) + 1 :])
    ]
