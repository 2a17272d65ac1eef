"""compressed-tensors quantization (llm-compressor): config.json's quantization_config, and
the QuantizedTensor of a weight stored packed (`weight_packed`) or one code per byte, beside
`weight_scale` and, when asymmetric, `weight_zero_point`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emb_cli.errors import InputError
from emb_cli.sources import roles
from emb_cli.sources.base import QuantScheme, QuantStrategy, TensorRef
from emb_cli.sources.dtypes import INTEGER, SCALES, numpy_dtype
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
from emb_cli.sources.tensors import FileTensor, opened, read_part

CT_FORMATS = ("pack-quantized", "int-quantized", "naive-quantized", "float-quantized")

CT_STRATEGIES: tuple[QuantStrategy, ...] = ("tensor", "channel", "group", "block")

# Companions of a compressed-tensors weight, dropped from the tensor names once attached.
CT_PARAMS = (
    "weight_packed",
    "weight_scale",
    "weight_zero_point",
    "weight_shape",
    "weight_g_idx",
    "weight_global_scale",
)


def ct_quantization(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """compressed-tensors' quantization_config (quant_method: compressed-tensors)."""
    for cfg in config_sections(config):
        q = cfg.get("quantization_config")
        if isinstance(q, dict) and q.get("quant_method") == "compressed-tensors":
            return q
    return None


# How long the `re:` patterns of one config may take against one module name. A pattern
# that backtracks catastrophically took 112 s on a 43-character name; Python's re cannot be
# interrupted, so the matching runs in a forked child that is killed at the deadline.
REGEX_SECONDS = 2.0


def _regex_hits(patterns: list[str], name: str, where: str) -> set[str]:
    """Which `re:` targets match `name`, as compressed_tensors' match_name does
    (re.match on the text after `re:`), bounded by REGEX_SECONDS."""
    compiled = {}
    for p in patterns:
        try:
            compiled[p] = re.compile(p[3:])
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            raise InputError(
                f"{where}: config.json quantization_config pattern {p!r} is not a valid "
                f"regular expression: {exc}"
            ) from None
    if not compiled:
        return set()
    if not hasattr(os, "fork"):
        return {p for p, r in compiled.items() if r.match(name)}
    return {patterns[i] for i in _match_in_child(list(compiled.values()), name, where)}


def _match_in_child(regexes: list[re.Pattern[str]], name: str, where: str) -> list[int]:
    import json
    import select
    import signal

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: match, write the hits, exit without cleanup
        code = 1
        try:
            os.close(read)
            hits = [i for i, r in enumerate(regexes) if r.match(name)]
            os.write(write, json.dumps(hits).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    try:
        if not select.select([read], [], [], REGEX_SECONDS)[0]:
            os.kill(pid, signal.SIGKILL)
            shown = ", ".join(repr("re:" + r.pattern) for r in regexes)
            raise InputError(
                f"{where}: matching config.json quantization_config patterns ({shown[:200]}) "
                f"against {name!r} ran past {REGEX_SECONDS:.0f} s: a pattern backtracks "
                "catastrophically; simplify it"
            )
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    found: list[int] = json.loads(data) if data else []
    return found


def _module_classes(module: str) -> tuple[str, ...]:
    """Class names a module of this name has in transformers, for class targets."""
    role = roles.classify(module + ".weight")
    embedding = (
        roles.ROLE_INPUT,
        roles.ROLE_EXTRA_INPUT,
        roles.ROLE_POSITION,
        roles.ROLE_TOKEN_TYPE,
    )
    return ("Embedding", "Module") if role in embedding else ("Linear", "Module")


def _ct_scheme(q: dict[str, Any], module: str, where: str) -> dict[str, Any] | None:
    """The config group that applies to `module`, as apply_quantization_config picks it:
    not ignored; among matching targets, exact names, then regexes, then class names."""
    ignore = q.get("ignore") or []
    if not isinstance(ignore, list):
        raise InputError(
            f"{where}: config.json quantization_config.ignore is a {type(ignore).__name__}, "
            "not a list of module names"
        )
    classes = _module_classes(module)
    groups = q.get("config_groups") or {}
    if not isinstance(groups, dict):
        raise InputError(f"{where}: config.json quantization_config.config_groups is not an object")
    by_target: dict[str, dict[str, Any]] = {}
    for group in groups.values():
        targets = group.get("targets") if isinstance(group, dict) else None
        for t in targets if isinstance(targets, list) else []:
            if isinstance(t, str):
                by_target[t] = group
    names = [t for t in ignore if isinstance(t, str)]
    regexes = sorted({t for t in [*names, *by_target] if t.startswith("re:")})
    matched = _regex_hits(regexes, module, where)

    def match(t: str) -> bool:
        return t in matched if t.startswith("re:") else t == module

    if any(match(t) or t in classes for t in names):
        return None
    order = sorted(by_target, key=lambda t: ("re:" in t, t))
    hits = [t for t in order if match(t)] + [t for t in order if t in classes]
    return by_target[hits[0]] if hits else None


@dataclass(frozen=True)
class _Settings:
    """The `weights` entry of the config group that quantizes one module, checked."""

    fmt: str  # one of CT_FORMATS
    bits: int
    kind: str  # int | float
    strategy: QuantStrategy
    symmetric: bool
    args: dict[str, Any]


@dataclass(frozen=True)
class _Codes:
    ref: FileTensor
    rows: int
    cols: int  # unpacked
    dtype: str  # emb's name for it: int4-pack, int8-scaled, fp8-scaled
    offset: int  # pack-quantized stores u for the value u - 2**(bits-1)


@dataclass(frozen=True)
class _Layout:
    """Where the scales sit: their stored shape, and the table rows and columns of each."""

    shape: tuple[int, ...]
    row_div: int  # table rows per scale row; 0: one scale row for the whole table
    groups: int  # scale columns
    width: int  # table columns per scale column
    group_size: int | None  # what `info` reports: the group, or a block's width
    block: tuple[int, int] | None


def build_ct(
    module: str,
    get: Callable[[str], TensorRef],
    names: set[str],
    q: dict[str, Any],
    config: Any,
    where: str,
) -> TensorRef:
    """`module.weight` as quantization_config says it is stored: a QuantizedTensor, or the
    plain tensor where the format is dense or the values are stored already."""
    import numpy as np

    name = f"{module}.weight"
    s = _settings(module, get, names, q, where)
    if s is None:
        return get(name)
    codes = _codes(module, get, names, s, config, where)
    if isinstance(codes, FileTensor):
        return codes
    rows, cols = codes.rows, codes.cols
    scales = part_ref(get, names, f"{module}.weight_scale", "scales", name, where)
    need_dtype(scales, SCALES, "scales", name, where)
    layout = _layout(s, rows, cols, name, where)
    expect = layout.shape
    if s.strategy == "tensor" and int(np.prod(scales.shape)) == 1:
        expect = tuple(scales.shape)  # the one scale, stored as (1,), (1, 1) or ()
    need_shape(scales, expect, f"{s.strategy} scales", name, where)
    offsets = _zero_points(module, get, names, s, rows, layout, scales, where)
    total = codes.ref.nbytes + scales.nbytes + (offsets.ref.nbytes if offsets else 0)
    scheme = QuantScheme(
        name=f"compressed-tensors/{s.fmt}",
        bits=s.bits,
        group_size=layout.group_size,
        strategy=s.strategy,
        scale_dtype=scales.dtype,
        zero="none" if s.symmetric else "zero_point",
        block=layout.block,
        stored_nbytes=total,
        bytes_per_param=total / max(1, rows * cols),
    )
    return QuantizedTensor(
        name=name,
        dtype=codes.dtype,
        shape=(rows, cols),
        scheme=scheme,
        codes=codes.ref,
        family="ct",
        scales=Side(scales, layout.row_div, layout.width),
        offsets=offsets,
        code_offset=codes.offset,
    )


def _settings(
    module: str, get: Callable[[str], TensorRef], names: set[str], q: dict[str, Any], where: str
) -> _Settings | None:
    """The settings apply_quantization_config would give the module; None: format dense."""
    name = f"{module}.weight"
    stored = [f"{module}.{p}" for p in CT_PARAMS if f"{module}.{p}" in names]
    group = _ct_scheme(q, module, where)
    if group is None:
        raise InputError(
            f"{name} in {where}: {', '.join(stored)} are stored, but quantization_config "
            f"ignores {module} or no config group targets it; the config and weights disagree"
        )
    args = group.get("weights")
    if not isinstance(args, dict):
        raise InputError(
            f"{name} in {where}: the config group for {module} quantizes no weights, yet "
            f"{', '.join(stored)} are stored"
        )
    packed = f"{module}.weight_packed" in names
    fmt = group.get("format") or q.get("format")
    if fmt in (None, "mixed-precision"):
        fmt = "pack-quantized" if packed else "naive-quantized"
    if fmt == "dense":
        return None
    if fmt not in CT_FORMATS:
        raise InputError(
            f"{name} in {where} is compressed-tensors format {fmt!r}; emb reads "
            f"{', '.join(CT_FORMATS)}: decompress the checkpoint first (compressed-tensors "
            "CompressedTensorsDequantizer)"
        )
    if f"{module}.weight_g_idx" in names:
        raise InputError(
            f"{name} in {where} has activation-ordered groups ({module}.weight_g_idx); "
            "emb does not read them: decompress the checkpoint first"
        )
    bits = config_int(args.get("num_bits"), "weights.num_bits", name, where)
    strategy = args.get("strategy")
    if strategy not in CT_STRATEGIES:
        raise InputError(
            f"{name} in {where}: weight strategy {strategy!r}; emb reads {', '.join(CT_STRATEGIES)}"
        )
    symmetric = args.get("symmetric", True) is not False
    return _Settings(fmt, bits, args.get("type", "int"), strategy, symmetric, args)


def _codes(
    module: str,
    get: Callable[[str], TensorRef],
    names: set[str],
    s: _Settings,
    config: Any,
    where: str,
) -> _Codes | FileTensor:
    """The stored codes, packed into int32 words or one per byte (a FileTensor of values
    when quantization_status is frozen: the scales sit beside values already applied)."""
    name, bits, kind = f"{module}.weight", s.bits, s.kind
    if s.fmt == "pack-quantized":
        if kind != "int" or not 1 <= bits <= 8:
            raise InputError(
                f"{name} in {where}: pack-quantized {kind} with {bits} bits; compressed-tensors "
                "packs int weights of 1 to 8 bits"
            )
        ref = part_ref(get, names, f"{module}.weight_packed", "packed weight", name, where)
        need_dtype(ref, ("int32",), "packed weight", name, where)
        if len(ref.shape) != 2:
            raise InputError(f"{ref.name} in {where} is {list(ref.shape)}, not 2-D")
        rows, width = ref.shape
        cols = _ct_cols(module, get, names, ref, bits, s.args, config, where)
        if width != -(-cols * bits // 32):
            raise InputError(
                f"{ref.name} in {where}: {width} int32 words per row, but {cols} columns at "
                f"{bits} bits pack into {-(-cols * bits // 32)} (compressed-tensors packs "
                "densely across words; a checkpoint packed the older way must be decompressed "
                "first)"
            )
        codes = _Codes(ref, rows, cols, f"int{bits}-pack", 1 << (bits - 1))
    else:
        ref = file_part(get(name), where)
        if ref.dtype in SCALES or ref.dtype == "float64":
            return ref  # quantization_status frozen: values stored, scales beside them
        readable = (kind == "int" and bits <= 8) or (kind == "float" and bits == 8)
        if not readable:
            raise InputError(
                f"{name} in {where}: {s.fmt} {kind} with {bits} bits; emb reads int up to 8 "
                "bits and float 8 (fp8 e4m3)"
            )
        want = "int8" if kind == "int" else "float8_e4m3fn"
        need_dtype(ref, (want,), "quantized weight", name, where)
        if len(ref.shape) != 2:
            raise InputError(f"{name} in {where} is {list(ref.shape)}, not 2-D")
        rows, cols = ref.shape
        codes = _Codes(ref, rows, cols, "fp8-scaled" if kind == "float" else f"int{bits}-scaled", 0)
    check_width(name, cols, "the stored weight", "", config, where)
    return codes


def _layout(s: _Settings, rows: int, cols: int, name: str, where: str) -> _Layout:
    """The scales' layout for the strategy: per group, per row, one, or per block."""
    if s.strategy == "group":
        gs = config_int(s.args.get("group_size"), "weights.group_size", name, where)
        if gs <= 0 or cols % gs:
            raise InputError(
                f"{name} in {where}: group size {gs} does not divide the {cols} columns"
            )
        return _Layout((rows, cols // gs), 1, cols // gs, gs, gs, None)
    if s.strategy == "channel":
        return _Layout((rows, 1), 1, 1, cols, None, None)
    if s.strategy == "tensor":
        return _Layout((1,), 0, 1, cols, None, None)
    bs = s.args.get("block_structure")
    if not (isinstance(bs, list) and len(bs) == 2):
        raise InputError(f"{name} in {where}: block strategy without block_structure [rows, cols]")
    bh, bw = (config_int(b, "weights.block_structure", name, where) for b in bs)
    if bh <= 0 or bw <= 0:
        raise InputError(f"{name} in {where}: block_structure {bs} must be positive")
    blocks = (-(-rows // bh), -(-cols // bw))
    return _Layout(blocks, bh, blocks[1], bw, bw, (bh, bw))


def _zero_points(
    module: str,
    get: Callable[[str], TensorRef],
    names: set[str],
    s: _Settings,
    rows: int,
    layout: _Layout,
    scales: FileTensor,
    where: str,
) -> Side | None:
    """An asymmetric scheme's zero points: packed along rows into int32 (pack-quantized,
    group and channel), else one per scale; None when symmetric."""
    if s.symmetric:
        return None
    name = f"{module}.weight"
    zp = part_ref(get, names, f"{module}.weight_zero_point", "zero points", name, where)
    if s.fmt == "pack-quantized" and s.strategy in ("group", "channel"):
        need_dtype(zp, ("int32",), "packed zero points", name, where)
        packed = (-(-rows * s.bits // 32), layout.groups)
        need_shape(zp, packed, "packed zero points", name, where)
        return Side(zp, 1, layout.width, packed_bits=s.bits)
    need_dtype(zp, ("int8", "int32", *SCALES), "zero points", name, where)
    need_shape(zp, tuple(scales.shape), "zero points", name, where)
    return Side(zp, layout.row_div, layout.width)


def _ct_cols(
    module: str,
    get: Callable[[str], TensorRef],
    names: set[str],
    codes: FileTensor,
    bits: int,
    args: dict[str, Any],
    config: Any,
    where: str,
) -> int:
    """The unpacked width: weight_shape (int64 [rows, cols]) as stored, read here."""
    import numpy as np

    sname = f"{module}.weight_shape"
    if sname not in names:
        raise InputError(
            f"{module}.weight in {where} is pack-quantized but {sname} is missing; the "
            "checkpoint is incomplete: download or convert it again"
        )
    ref = file_part(get(sname), where)
    if ref.dtype not in INTEGER or ref.nbytes != 2 * ref.itemsize:
        raise InputError(
            f"{sname} in {where} is {ref.dtype} {list(ref.shape)}; expected 2 integers"
        )
    with opened() as files:
        raw = read_part(ref, files, 0, 1)
    rows, cols = (int(v) for v in raw.view(numpy_dtype(ref.dtype)).reshape(-1).astype(np.int64))
    if rows != codes.shape[0] or cols <= 0:
        raise InputError(
            f"{sname} in {where} says [{rows}, {cols}], but {codes.name} has {codes.shape[0]} rows"
        )
    return cols
