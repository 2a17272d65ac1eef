"""Quantized tables read as values: MLX affine and compressed-tensors checkpoints.

A quantized weight is stored as integer codes (packed into 32-bit words, or one per
byte) beside per-group scales and biases or zero points. `attach_quantization` finds
them by name and config.json, and hands out one `QuantizedTensor` per weight that reads
rows and chunks as float32, equal bit for bit to what the format's own library returns:

  MLX affine (`mx.dequantize`, CPU):   w = R(R(q * scale) + bias)
  compressed-tensors (`decompress`):  w = R((q - zero_point) * scale)

R rounds to the scales' dtype (float16, bfloat16; identity for float32): both libraries
compute in that dtype and round after each operation. Codes are packed least significant
bit first, one continuous bit stream per row; 3, 5 and 6 bits straddle words.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from emb_cli.errors import InputError
from emb_cli.sources import roles
from emb_cli.sources.base import Checkpoint, TensorRef
from emb_cli.sources.config.spec import config_dim, text_config
from emb_cli.sources.dtypes import INTEGER, SCALES, numpy_dtype
from emb_cli.sources.tensors import Files, FileTensor, Parts, RowBlocks, opened, read_part

if TYPE_CHECKING:
    import numpy as np

MLX_BITS = (2, 3, 4, 5, 6, 8)  # what mx.quantize accepts in affine mode
MLX_GROUP_SIZES = (32, 64, 128)
# mlx's defaults by mode (mlx.nn.layers.quantized._defaults_for_mode): (group_size, bits)
_MLX_DEFAULTS = {"affine": (64, 4), "mxfp4": (32, 4), "nvfp4": (16, 4), "mxfp8": (32, 8)}
_MLX_KEYS = frozenset({"group_size", "bits", "mode", "quant_method"})
CT_FORMATS = ("pack-quantized", "int-quantized", "naive-quantized", "float-quantized")
CT_STRATEGIES = ("tensor", "channel", "group", "block")
# Companions of a compressed-tensors weight, dropped from the tensor names once attached.
_CT_PARAMS = (
    "weight_packed",
    "weight_scale",
    "weight_zero_point",
    "weight_shape",
    "weight_g_idx",
    "weight_global_scale",
)
# Names beside a table that say it holds codes rather than values (MLX, compressed-tensors,
# GPTQ/AWQ, bitsandbytes, fp8): the guard lists them in its refusal.
_SCALE_LIKE = re.compile(
    r"(scales|biases|qweight|qzeros|g_idx|weight_scale|weight_scale_inv|weight_zero_point|"
    r"weight_packed|weight_shape|weight_global_scale|SCB|absmax|quant_map|quant_state.*|"
    r"nested_absmax|nested_quant_map)$"
)
# Values decoded per inner step: 256 Ki float32 (1 MiB) stay in cache across the numpy
# passes of one step; 16 rows of 4096 spent a fifth of the time in per-call overhead.
_STEP_VALUES = 1 << 18
# float16 rounding by bit arithmetic is exact for finite values below 65504 (checked per
# block); numpy's float32 -> float16 cast took 6 ns a value, 10x the rest of the decode.
_F16_MAX = 65504.0


@dataclass(frozen=True)
class QuantScheme:
    """How a quantized table is stored; the facts `info` reports."""

    name: str  # mlx-affine | compressed-tensors/pack-quantized | ...
    bits: int
    group_size: int | None  # columns per scale (block: its width); None: per row or tensor
    strategy: str  # group | channel | tensor | block
    scale_dtype: str
    zero: str  # bias (MLX) | zero_point (asymmetric) | none (symmetric)
    block: tuple[int, int] | None  # block strategy: (rows, cols) per scale
    stored_nbytes: int  # codes + scales + biases or zero points
    bytes_per_param: float  # stored_nbytes / (rows * cols)


@dataclass(frozen=True)
class _Side:
    """Scales, biases or zero points of a table: one stored row per `row_div` table rows.

    row_div 0: one row for the whole table (per-tensor strategy). packed_bits: zero points
    packed along rows into int32 (compressed-tensors pack-quantized, group and channel).
    """

    ref: FileTensor
    row_div: int
    col_div: int  # table columns per stored column: the group size, the block width
    packed_bits: int = 0


def _lanes(value: int, lane: int) -> int:
    """`value` repeated in every `lane`-bit lane of a 64-bit word."""
    return sum(value << k for k in range(0, 64, lane))


# bits -> the three (shift, mask) steps that spread 8 codes of `bits` to one byte each:
# move the upper half of the codes up 32 bits, then the upper quarter of each half up 16,
# then every odd code up 8.
_SPREAD = {
    b: tuple(
        (shift, _lanes((1 << keep * b) - 1, lane))
        for shift, lane, keep in ((32 - 4 * b, 32, 4), (16 - 2 * b, 16, 2), (8 - b, 8, 1))
    )
    for b in (1, 2, 4)
}


class _Scratch(threading.local):
    """Work arrays reused from step to step, one set per thread: allocating them afresh
    made the decode threads map and fault in new pages for every chunk (10x the faults)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        import numpy as np

        a = self.arrays.get(key)
        if a is None or a.shape != shape or a.dtype != np.dtype(dtype):
            a = self.arrays[key] = np.empty(shape, dtype=dtype)
        return a


_SCRATCH = _Scratch()


def unpack_codes(raw: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Codes 0..2**bits-1 of each row's LSB-first bit stream: uint8 (rows, count).

    `raw` holds each row's stored bytes (little-endian words viewed as bytes), as MLX and
    compressed-tensors pack them: code i sits at bits i*bits .. i*bits+bits-1 of the row.
    """
    import numpy as np

    rows = raw.shape[0]
    if bits == 8:
        return raw[:, :count]
    if bits in (1, 2, 4):
        # Eight codes sit in `bits` bytes: widen each such unit to 64 bits and spread the
        # codes to one byte each (_SPREAD); a byte lookup table took half as long again.
        units = -(-count // 8)
        need = units * bits
        if raw.shape[1] < need:
            raw = np.concatenate([raw, np.zeros((rows, need - raw.shape[1]), np.uint8)], axis=1)
        x = _SCRATCH.get("unpack", (rows, units), "<u8")
        np.copyto(x, np.ascontiguousarray(raw[:, :need]).view(f"<u{bits}"), casting="safe")
        t = _SCRATCH.get("unpack-tmp", (rows, units), "<u8")
        for shift, mask in _SPREAD[bits]:
            np.left_shift(x, np.uint64(shift), out=t)
            np.bitwise_or(x, t, out=x)
            np.bitwise_and(x, np.uint64(mask), out=x)
        return x.view(np.uint8).reshape(rows, units * 8)[:, :count]
    # 3, 5, 6, 7 bits: every 8 codes fill `bits` whole bytes.
    packs = -(-count // 8)
    need = packs * bits
    if raw.shape[1] < need:
        raw = np.concatenate([raw, np.zeros((rows, need - raw.shape[1]), np.uint8)], axis=1)
    b = raw[:, :need].reshape(rows, packs, bits).astype(np.uint16)
    out8 = np.empty((rows, packs, 8), dtype=np.uint16)
    low = np.uint16((1 << bits) - 1)
    for k in range(8):
        i, o = divmod(k * bits, 8)
        v = b[:, :, i] >> np.uint16(o)
        if o + bits > 8:
            v |= b[:, :, i + 1] << np.uint16(8 - o)
        out8[:, :, k] = v & low
    return out8.reshape(rows, packs * 8)[:, :count].astype(np.uint8)


def _unpack_stream(words: np.ndarray, bits: int, start_bit: int, count: int) -> np.ndarray:
    """`count` values from bit `start_bit` of each column's bit stream, words packed along rows.

    compressed-tensors packs asymmetric zero points along dim 0: column g of the int32
    words holds the zero points of every table row for group g. Returns int16 (count, cols).
    """
    import numpy as np

    cols = words.shape[1]
    stream = np.ascontiguousarray(words.T).view(np.uint8)  # (cols, 4 * word rows)
    allbits = np.unpackbits(stream, axis=1, bitorder="little")
    sel = allbits[:, start_bit : start_bit + count * bits].reshape(cols, count, bits)
    weights = (1 << np.arange(bits, dtype=np.int16)).astype(np.int16)
    vals = (sel.astype(np.int16) * weights).sum(axis=2, dtype=np.int16)
    return np.ascontiguousarray(vals.T)


def _round_f16_bits(x: np.ndarray, tmp: np.ndarray) -> None:
    """Round float32 `x` in place to float16's 11 significant bits, nearest even.

    Exact for finite |x| below 65504, float16 subnormals included: every value rounded
    here is a float16 times a small integer or a sum of two float16s, a multiple of 2**-24,
    so one below 2**-14 (float16's subnormals) is already a float16 and stays unchanged.
    """
    import numpy as np

    u = x.view(np.uint32)
    np.right_shift(u, np.uint32(13), out=tmp)
    np.bitwise_and(tmp, np.uint32(1), out=tmp)
    np.add(tmp, np.uint32(0xFFF), out=tmp)
    np.add(u, tmp, out=u)
    np.bitwise_and(u, np.uint32(0xFFFFE000), out=u)


@dataclass(eq=False)
class QuantizedTensor(RowBlocks):
    """A quantized 2-D weight behind the TensorRef protocol: float32 rows on read.

    shape is the dequantized (rows, cols); dtype names the scheme (mlx-q4, int4-pack,
    int8-scaled, fp8-scaled); nbytes counts everything stored (codes, scales, biases or
    zero points). read_rows reads only those rows of every part; iter_chunks decodes one
    chunk at a time. raw=True yields each row's stored bytes (codes, then its scales,
    biases or zero points) as uint8: equal bytes mean equal stored rows.
    """

    name: str
    dtype: str
    shape: tuple[int, int]
    scheme: QuantScheme
    codes: FileTensor  # (rows, stored width): uint32/int32 words, int8 or fp8 values
    family: str  # mlx | ct
    scales: _Side
    offsets: _Side | None = None  # MLX biases or compressed-tensors zero points
    code_offset: int = 0  # compressed-tensors pack: stored u, value u - 2**(bits-1)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    decode_threads: ClassVar[bool] = True  # unpacking codes is most of a pass

    @property
    def nbytes(self) -> int:
        return self.scheme.stored_nbytes

    @property
    def file(self) -> str:
        return self.codes.file

    def main_part(self) -> FileTensor:
        return self.codes

    # Reading ---------------------------------------------------------------------------

    def _side_read(self, side: _Side, files: Files, first: int, n: int) -> np.ndarray:
        """The stored bytes of a side behind table rows first..first+n (I/O only)."""
        ft = side.ref
        if side.row_div == 0:  # one row for the whole table: read once
            if ft.name not in self._cache:
                self._cache[ft.name] = read_part(ft, files, 0, 1)
            got: np.ndarray = self._cache[ft.name]
            return got
        if side.packed_bits:
            b = side.packed_bits
            w0, w1 = first * b // 32, -(-(first + n) * b // 32)
            return read_part(ft, files, w0, w1 - w0)
        lo, hi = first // side.row_div, (first + n - 1) // side.row_div + 1
        return read_part(ft, files, lo, hi - lo)

    def _side_values(
        self, side: _Side, got: np.ndarray, first: int, n: int, raw: bool
    ) -> np.ndarray:
        """A side per table row: float32 (n, stored cols), or its stored bytes when raw."""
        import numpy as np

        ft = side.ref
        if side.row_div == 0:
            one = got if raw else self._values(ft, got)
            return np.broadcast_to(one.reshape(1, -1), (n, one.size))
        if side.packed_bits:
            b = side.packed_bits
            vals = _unpack_stream(got.view("<i4"), b, first * b - first * b // 32 * 32, n)
            if raw:
                return vals.astype(np.uint8)
            # stored u, zero point u - 2**(bits-1), as compressed-tensors unpacks it
            return (vals - (1 << (b - 1))).astype(np.float32)
        out = got if raw else self._values(ft, got)
        if side.row_div > 1:
            out = out[np.arange(first, first + n) // side.row_div - first // side.row_div]
        return out

    def _values(self, ft: FileTensor, raw: np.ndarray) -> np.ndarray:
        import numpy as np

        return raw.view(numpy_dtype(ft.dtype)).astype(np.float32)

    def read_block(self, files: Files, first: int, n: int) -> Parts:
        """The stored bytes of rows first..first+n of every part (I/O only)."""
        parts = [read_part(self.codes, files, first, n)]
        parts.append(self._side_read(self.scales, files, first, n))
        if self.offsets is not None:
            parts.append(self._side_read(self.offsets, files, first, n))
        return tuple(parts)

    def decode_block(
        self, first: int, n: int, parts: Parts, raw: bool, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows decoded from their stored bytes: float32 (n, cols); raw: uint8 (n, row bytes)."""
        import numpy as np

        sides = [self.scales] if self.offsets is None else [self.scales, self.offsets]
        vals = [
            self._side_values(sd, got, first, n, raw)
            for sd, got in zip(sides, parts[1:], strict=True)
        ]
        if raw:
            rows = [parts[0], *(v.view(np.uint8) for v in vals)]
            return np.concatenate([np.ascontiguousarray(p).reshape(n, -1) for p in rows], 1)
        return self.decode(parts[0], vals[0], vals[1] if len(vals) > 1 else None, out)

    def decode(
        self,
        codes: np.ndarray,
        scales: np.ndarray,
        offsets: np.ndarray | None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Stored code bytes (n, row bytes) + float32 scales and offsets -> float32 rows.

        Works through `_STEP_VALUES` at a time so that the passes stay in cache, in work
        arrays this thread reuses; `out` (n, cols) float32 receives the rows.
        """
        import numpy as np

        n, cols = codes.shape[0], self.shape[1]
        if out is None:
            out = np.empty((n, cols), dtype=np.float32)
        if n == 0:
            return out
        sd = self.scheme.scale_dtype
        how = "float32" if sd == "float32" else sd
        if sd == "float16" and not self._f16_safe(scales, offsets):
            how = "cast"  # float16 by numpy's cast: slow, exact for anything
        elif self.codes.dtype.startswith("float8") and sd != "float32":
            how = "cast"
        st = self.codes.dtype
        step = max(1, _STEP_VALUES // cols)
        rows = min(n, step)
        buf = _SCRATCH.get("bf16", (rows, cols), numpy_dtype(sd)) if how == "bfloat16" else None
        tmp = _SCRATCH.get("f16", (rows, cols), np.uint32) if how == "float16" else None
        with np.errstate(all="ignore"):  # inf scales give inf and nan, as in mlx and torch
            for a in range(0, n, step):
                b = min(n, a + step)
                if st in ("uint32", "int32"):
                    c = unpack_codes(codes[a:b], self.scheme.bits, cols)
                elif st == "int8":
                    c = codes[a:b].view(np.int8)[:, :cols]
                else:  # float8_e4m3fn: exact in float32
                    c = codes[a:b].view(numpy_dtype(st))[:, :cols].astype(np.float32)
                off = None if offsets is None else offsets[a:b]
                self._decode_step(c, scales[a:b], off, out[a:b], how, buf, tmp)
        return out

    def _f16_safe(self, scales: np.ndarray, offsets: np.ndarray | None) -> bool:
        """Integer codes, finite parameters, every intermediate below float16's max:
        then _round_f16_bits is exact."""
        import numpy as np

        if self.codes.dtype not in ("uint32", "int32", "int8"):
            return False  # fp8 codes times float16 scales can need subnormal rounding
        if not np.isfinite(scales).all():
            return False
        top = float(2**self.scheme.bits)  # |code| < 2**bits, with room for rounding up
        m = 0.0
        if offsets is not None:
            if not np.isfinite(offsets).all():
                return False
            m = float(np.abs(offsets).max(initial=0.0))
        s = float(np.abs(scales).max(initial=0.0))
        bound = top * s + m if self.family == "mlx" else (top + m) * s
        return bound < _F16_MAX

    def _decode_step(
        self,
        codes: np.ndarray,
        scales: np.ndarray,
        offsets: np.ndarray | None,
        out: np.ndarray,
        how: str,
        buf: np.ndarray | None,
        tmp: np.ndarray | None,
    ) -> None:
        """One step in place, from codes (uint8, int8 or fp8 values). how: float32 |
        bfloat16 (ufuncs write bfloat16, rounding as they store) | float16 (bit rounding)
        | cast (numpy's casts, the exact fallback)."""
        import numpy as np

        m, cols = out.shape
        c = codes
        g, width = scales.shape[1], self.scales.col_div
        if width * g == cols:
            c3, o3 = c.reshape(m, g, width), out.reshape(m, g, width)
            s = scales[:, :, None]
            o = None if offsets is None else offsets[:, :, None]
        else:  # block strategy, last block narrower
            c3, o3 = c, out
            s = np.repeat(scales, width, axis=1)[:, :cols]
            o = None if offsets is None else np.repeat(offsets, width, axis=1)[:, :cols]
        b3 = None if buf is None else buf[:m].reshape(o3.shape)
        t = None if tmp is None else tmp[:m]
        if self.family == "mlx":
            assert o is not None, "MLX affine always stores biases"
            if b3 is not None:  # bfloat16: q * s and + b each rounded as stored
                np.multiply(c3, s, out=b3, casting="unsafe")
                np.add(b3, o, out=b3, casting="unsafe")
                np.copyto(o3, b3)
                return
            np.multiply(c3, s, out=o3)
            self._round(out, how, t)
            np.add(o3, o, out=o3)
            self._round(out, how, t)
            return
        # compressed-tensors: (q - zero_point) in the scales' dtype is exact, one rounding
        if self.code_offset or o is not None:
            shift = np.float32(self.code_offset)
            np.subtract(c3, shift if o is None else o + shift, out=o3)
            src = o3
        else:
            src = c3
        if b3 is not None:
            np.multiply(src, s, out=b3, casting="unsafe")
            np.copyto(o3, b3)
            return
        np.multiply(src, s, out=o3)
        self._round(out, how, t)

    def _round(self, x: np.ndarray, how: str, tmp: np.ndarray | None) -> None:
        import numpy as np

        if how == "float16" and tmp is not None:
            _round_f16_bits(x, tmp)
        elif how == "cast":
            x[...] = x.astype(numpy_dtype(self.scheme.scale_dtype)).astype(np.float32)


# Building from config.json -------------------------------------------------------------


def _sections(config: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The config and, for multimodal ones, its text_config: quantization may sit in either."""
    if not isinstance(config, dict):
        return []
    inner = config.get("text_config")
    return [config, inner] if isinstance(inner, dict) else [config]


def mlx_quantization(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """MLX's quantization dict: `quantization`, or a `quantization_config` with no quant_method
    (mlx_lm writes both, the same)."""
    for cfg in _sections(config):
        q = cfg.get("quantization")
        if isinstance(q, dict):
            return q
        q = cfg.get("quantization_config")
        if isinstance(q, dict) and "quant_method" not in q and ("bits" in q or "group_size" in q):
            return q
    return None


def ct_quantization(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """compressed-tensors' quantization_config (quant_method: compressed-tensors)."""
    for cfg in _sections(config):
        q = cfg.get("quantization_config")
        if isinstance(q, dict) and q.get("quant_method") == "compressed-tensors":
            return q
    return None


def quantization_keys(config: dict[str, Any] | None) -> list[str]:
    """The config's quantization keys, `quantization_config (quant_method gptq)` style,
    for messages."""
    seen: list[str] = []
    for i, cfg in enumerate(_sections(config)):
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


def _int(value: Any, what: str, name: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{name} in {where}: config.json {what} is {value!r}, not an integer")
    return value


def _file_tensor(ref: TensorRef, where: str) -> FileTensor:
    if not isinstance(ref, FileTensor):
        raise InputError(
            f"{ref.name} in {where} is quantized in a file emb reads only from safetensors; "
            "convert the checkpoint to safetensors"
        )
    return ref


def _check_width(name: str, cols: int, how: str, hint: str, config: Any, where: str) -> None:
    """The input table and the head are hidden_size wide: a packed width that decodes to
    another width means the bits (or weight_shape) are wrong for this tensor."""
    if roles.classify(name) not in (roles.ROLE_INPUT, roles.ROLE_HEAD):
        return
    dim = config_dim(text_config(config)) if isinstance(config, dict) else None
    if dim is not None and dim != cols:
        raise InputError(
            f"{name} in {where}: {how} gives {cols} columns, but config.json's hidden size is "
            f"{dim}{hint}; the quantization settings in config.json do not match this tensor"
        )


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
        _int(gs, "quantization group_size", name, where),
        _int(bits, "quantization bits", name, where),
        mode,
    )


def _side_ref(
    get: Callable[[str], TensorRef], names: set[str], cname: str, what: str, owner: str, where: str
) -> FileTensor:
    if cname not in names:
        raise InputError(
            f"{owner} in {where} is quantized but its {what} {cname} is missing; the checkpoint "
            "is incomplete: download or convert it again"
        )
    return _file_tensor(get(cname), where)


def _need_dtype(ref: FileTensor, allowed: Sequence[str], what: str, owner: str, where: str) -> None:
    if ref.dtype not in allowed:
        raise InputError(
            f"{ref.name} in {where} ({what} of {owner}) is {ref.dtype}; expected "
            f"{' or '.join(allowed)}"
        )


def _need_shape(ref: FileTensor, shape: tuple[int, ...], what: str, owner: str, where: str) -> None:
    if tuple(ref.shape) != shape:
        raise InputError(
            f"{ref.name} in {where} has shape {list(ref.shape)}, but the {what} of {owner} "
            f"must be {list(shape)}"
        )


def _build_mlx(
    name: str,
    module: str,
    get: Callable[[str], TensorRef],
    names: set[str],
    q: dict[str, Any],
    config: Any,
    where: str,
) -> QuantizedTensor:
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
    words = _file_tensor(get(name), where)
    if words.dtype != "uint32" or len(words.shape) != 2:
        raise InputError(
            f"{name} in {where} is {words.dtype} {list(words.shape)} beside {module}.scales; "
            "MLX stores quantized weights as 2-D uint32 words"
        )
    rows, width = words.shape
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
    _check_width(name, cols, f"{width} uint32 words per row at {bits} bits", hint, config, where)
    if cols % gs:
        raise InputError(
            f"{name} in {where}: group size {gs} does not divide the {cols} columns that "
            f"{width} words hold at {bits} bits"
        )
    groups = cols // gs
    scales = _side_ref(get, names, f"{module}.scales", "scales", name, where)
    biases = _side_ref(get, names, f"{module}.biases", "biases", name, where)
    _need_dtype(scales, SCALES, "scales", name, where)
    _need_dtype(biases, (scales.dtype,), "biases", name, where)
    _need_shape(scales, (rows, groups), f"scales ({gs}-value groups)", name, where)
    _need_shape(biases, (rows, groups), f"biases ({gs}-value groups)", name, where)
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
        scales=_Side(scales, 1, gs),
        offsets=_Side(biases, 1, gs),
    )


def _match_name(name: str, target: str) -> bool:
    """compressed_tensors.utils.match.match_name: `re:` prefix is a regex, else exact."""
    if target.startswith("re:"):
        return re.match(target[3:], name) is not None
    return target == name


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
    classes = _module_classes(module)
    if any(isinstance(t, str) and (_match_name(module, t) or t in classes) for t in ignore):
        return None
    groups = q.get("config_groups") or {}
    if not isinstance(groups, dict):
        raise InputError(f"{where}: config.json quantization_config.config_groups is not an object")
    by_target: dict[str, dict[str, Any]] = {}
    for group in groups.values():
        targets = group.get("targets") if isinstance(group, dict) else None
        for t in targets if isinstance(targets, list) else []:
            if isinstance(t, str):
                by_target[t] = group
    order = sorted(by_target, key=lambda t: ("re:" in t, t))
    hits = [t for t in order if _match_name(module, t)] + [t for t in order if t in classes]
    return by_target[hits[0]] if hits else None


def _build_ct(
    module: str,
    get: Callable[[str], TensorRef],
    names: set[str],
    q: dict[str, Any],
    config: Any,
    where: str,
) -> TensorRef:
    import numpy as np

    name = f"{module}.weight"
    stored = [f"{module}.{p}" for p in _CT_PARAMS if f"{module}.{p}" in names]
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
        return get(name)
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
    bits = _int(args.get("num_bits"), "weights.num_bits", name, where)
    kind = args.get("type", "int")
    strategy = args.get("strategy")
    symmetric = args.get("symmetric", True) is not False
    if strategy not in CT_STRATEGIES:
        raise InputError(
            f"{name} in {where}: weight strategy {strategy!r}; emb reads {', '.join(CT_STRATEGIES)}"
        )
    if fmt == "pack-quantized":
        if kind != "int" or not 1 <= bits <= 8:
            raise InputError(
                f"{name} in {where}: pack-quantized {kind} with {bits} bits; compressed-tensors "
                "packs int weights of 1 to 8 bits"
            )
        codes = _side_ref(get, names, f"{module}.weight_packed", "packed weight", name, where)
        _need_dtype(codes, ("int32",), "packed weight", name, where)
        if len(codes.shape) != 2:
            raise InputError(f"{codes.name} in {where} is {list(codes.shape)}, not 2-D")
        rows, width = codes.shape
        cols = _ct_cols(module, get, names, codes, bits, args, config, where)
        if width != -(-cols * bits // 32):
            raise InputError(
                f"{codes.name} in {where}: {width} int32 words per row, but {cols} columns at "
                f"{bits} bits pack into {-(-cols * bits // 32)} (compressed-tensors packs "
                "densely across words; a checkpoint packed the older way must be decompressed "
                "first)"
            )
        dtype, offset = f"int{bits}-pack", 1 << (bits - 1)
    else:
        codes = _file_tensor(get(name), where)
        if codes.dtype in SCALES or codes.dtype == "float64":
            return codes  # quantization_status frozen: values stored, scales beside them
        want = "int8" if kind == "int" else "float8_e4m3fn"
        if (
            (kind == "int" and bits > 8)
            or (kind == "float" and bits != 8)
            or kind not in ("int", "float")
        ):
            raise InputError(
                f"{name} in {where}: {fmt} {kind} with {bits} bits; emb reads int up to 8 "
                "bits and float 8 (fp8 e4m3)"
            )
        _need_dtype(codes, (want,), "quantized weight", name, where)
        if len(codes.shape) != 2:
            raise InputError(f"{name} in {where} is {list(codes.shape)}, not 2-D")
        rows, cols = codes.shape
        dtype, offset = ("fp8-scaled" if kind == "float" else f"int{bits}-scaled"), 0
    _check_width(name, cols, "the stored weight", "", config, where)
    scales = _side_ref(get, names, f"{module}.weight_scale", "scales", name, where)
    _need_dtype(scales, SCALES, "scales", name, where)
    gs: int | None = None
    block: tuple[int, int] | None = None
    sshape: tuple[int, ...]
    if strategy == "group":
        gs = _int(args.get("group_size"), "weights.group_size", name, where)
        if gs <= 0 or cols % gs:
            raise InputError(
                f"{name} in {where}: group size {gs} does not divide the {cols} columns"
            )
        sshape, row_div, g, width = (rows, cols // gs), 1, cols // gs, gs
    elif strategy == "channel":
        sshape, row_div, g, width = (rows, 1), 1, 1, cols
    elif strategy == "tensor":
        sshape, row_div, g, width = (1,), 0, 1, cols
    else:
        bs = args.get("block_structure")
        if not (isinstance(bs, list) and len(bs) == 2):
            raise InputError(
                f"{name} in {where}: block strategy without block_structure [rows, cols]"
            )
        bh, bw = (_int(b, "weights.block_structure", name, where) for b in bs)
        if bh <= 0 or bw <= 0:
            raise InputError(f"{name} in {where}: block_structure {bs} must be positive")
        block = (bh, bw)
        sshape, row_div, g, width = (-(-rows // bh), -(-cols // bw)), bh, -(-cols // bw), bw
    if strategy == "tensor" and int(np.prod(scales.shape)) == 1:
        sshape = tuple(scales.shape)
    _need_shape(scales, sshape, f"{strategy} scales", name, where)
    offsets: _Side | None = None
    zp_bytes = 0
    if not symmetric:
        zp = _side_ref(get, names, f"{module}.weight_zero_point", "zero points", name, where)
        zp_bytes = zp.nbytes
        if fmt == "pack-quantized" and strategy in ("group", "channel"):
            _need_dtype(zp, ("int32",), "packed zero points", name, where)
            _need_shape(zp, (-(-rows * bits // 32), g), "packed zero points", name, where)
            offsets = _Side(zp, 1, width, packed_bits=bits)
        else:
            _need_dtype(zp, ("int8", "int32", *SCALES), "zero points", name, where)
            _need_shape(zp, tuple(scales.shape), "zero points", name, where)
            offsets = _Side(zp, row_div, width)
    total = codes.nbytes + scales.nbytes + zp_bytes
    scheme = QuantScheme(
        name=f"compressed-tensors/{fmt}",
        bits=bits,
        group_size=gs if strategy == "group" else (block[1] if block else None),
        strategy=strategy,
        scale_dtype=scales.dtype,
        zero="none" if symmetric else "zero_point",
        block=block,
        stored_nbytes=total,
        bytes_per_param=total / max(1, rows * cols),
    )
    return QuantizedTensor(
        name=name,
        dtype=dtype,
        shape=(rows, cols),
        scheme=scheme,
        codes=codes,
        family="ct",
        scales=_Side(scales, row_div, width),
        offsets=offsets,
        code_offset=offset,
    )


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
    ref = _file_tensor(get(sname), where)
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


# The checkpoint's tensors, quantized ones attached --------------------------------------


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
                    f"{module}.{p}" for p in _CT_PARAMS if f"{module}.{p}" in self._all
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
            built: TensorRef = _build_mlx(
                name, module, self._get, self._all, self._mlx, self._config, self._where
            )
        else:
            assert self._ct is not None
            built = _build_ct(module, self._get, self._all, self._ct, self._config, self._where)
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
        and getattr(ref, "scale", None) is None
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


def guard_table(ref: TensorRef, names: Sequence[str], config: dict[str, Any] | None) -> None:
    """refuse_unknown_packed with what the checkpoint shows beside the tensor."""
    refuse_unknown_packed(ref, scale_like_companions(ref.name, names), quantization_keys(config))


def scheme_facts(ref: TensorRef) -> dict[str, Any] | None:
    """A quantized tensor's scheme as JSON-ready facts; None for a plain table."""
    scheme = getattr(ref, "scheme", None)
    if not isinstance(scheme, QuantScheme):
        return None
    from dataclasses import asdict

    return asdict(scheme)
