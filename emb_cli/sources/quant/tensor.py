"""A quantized table read as values: QuantizedTensor, over its stored codes and scales.

A quantized weight is stored as integer codes (packed into 32-bit words, or one per
byte) beside per-group scales and biases or zero points. A QuantizedTensor reads rows
and chunks of every part through the row-reading core (tensors.py) and decodes them to
float32, equal bit for bit to what the format's own library returns:

  MLX affine (`mx.dequantize`, CPU):   w = R(R(q * scale) + bias)
  compressed-tensors (`decompress`):  w = R((q - zero_point) * scale)

R rounds to the scales' dtype (float16, bfloat16; identity for float32): both libraries
compute in that dtype and round after each operation. mlx.py and compressed_tensors.py
build one from config.json, with the checks on the parts kept at the end of this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from emb_cli.errors import InputError
from emb_cli.sources import roles
from emb_cli.sources.base import QuantScheme, TensorRef
from emb_cli.sources.config.spec import config_dim, text_config
from emb_cli.sources.dtypes import numpy_dtype
from emb_cli.sources.quant.codes import SCRATCH, round_f16_bits, unpack_codes, unpack_stream
from emb_cli.sources.tensors import Files, FileTensor, Parts, RowBlocks, read_part

if TYPE_CHECKING:
    import numpy as np

# Values decoded per inner step: 256 Ki float32 (1 MiB) stay in cache across the numpy
# passes of one step; 16 rows of 4096 spent a fifth of the time in per-call overhead.
_STEP_VALUES = 1 << 18

# float16 rounding by bit arithmetic is exact for finite values below 65504 (checked per
# block); numpy's float32 -> float16 cast took 6 ns a value, 10x the rest of the decode.
_F16_MAX = 65504.0


@dataclass(frozen=True)
class Side:
    """Scales, biases or zero points of a table: one stored row per `row_div` table rows.

    row_div 0: one row for the whole table (per-tensor strategy). packed_bits: zero points
    packed along rows into int32 (compressed-tensors pack-quantized, group and channel).
    """

    ref: FileTensor
    row_div: int
    col_div: int  # table columns per stored column: the group size, the block width
    packed_bits: int = 0


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
    family: Literal["mlx", "ct"]  # MLX affine, compressed-tensors
    scales: Side
    offsets: Side | None = None  # MLX biases or compressed-tensors zero points
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

    def _side_read(self, side: Side, files: Files, first: int, n: int) -> np.ndarray:
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
        self, side: Side, got: np.ndarray, first: int, n: int, raw: bool
    ) -> np.ndarray:
        """A side per table row: float32 (n, stored cols), or its stored bytes when raw."""
        import numpy as np

        ft = side.ref
        if side.row_div == 0:
            one = got if raw else self._values(ft, got)
            return np.broadcast_to(one.reshape(1, -1), (n, one.size))
        if side.packed_bits:
            b = side.packed_bits
            vals = unpack_stream(got.view("<i4"), b, first * b - first * b // 32 * 32, n)
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
        buf = SCRATCH.get("bf16", (rows, cols), numpy_dtype(sd)) if how == "bfloat16" else None
        tmp = SCRATCH.get("f16", (rows, cols), np.uint32) if how == "float16" else None
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
        then round_f16_bits is exact."""
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
            round_f16_bits(x, tmp)
        elif how == "cast":
            x[...] = x.astype(numpy_dtype(self.scheme.scale_dtype)).astype(np.float32)


# The checks both builders (mlx.py, compressed_tensors.py) make of a weight's parts ------


def config_sections(config: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The config and, for multimodal ones, its text_config: quantization may sit in either."""
    if not isinstance(config, dict):
        return []
    inner = config.get("text_config")
    return [config, inner] if isinstance(inner, dict) else [config]


def config_int(value: Any, what: str, name: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{name} in {where}: config.json {what} is {value!r}, not an integer")
    return value


def file_part(ref: TensorRef, where: str) -> FileTensor:
    if not isinstance(ref, FileTensor):
        raise InputError(
            f"{ref.name} in {where} is quantized in a file emb reads only from safetensors; "
            "convert the checkpoint to safetensors"
        )
    return ref


def check_width(name: str, cols: int, how: str, hint: str, config: Any, where: str) -> None:
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


def part_ref(
    get: Callable[[str], TensorRef], names: set[str], cname: str, what: str, owner: str, where: str
) -> FileTensor:
    if cname not in names:
        raise InputError(
            f"{owner} in {where} is quantized but its {what} {cname} is missing; the checkpoint "
            "is incomplete: download or convert it again"
        )
    return file_part(get(cname), where)


def need_dtype(ref: FileTensor, allowed: Sequence[str], what: str, owner: str, where: str) -> None:
    if ref.dtype not in allowed:
        raise InputError(
            f"{ref.name} in {where} ({what} of {owner}) is {ref.dtype}; expected "
            f"{' or '.join(allowed)}"
        )


def need_shape(ref: FileTensor, shape: tuple[int, ...], what: str, owner: str, where: str) -> None:
    if tuple(ref.shape) != shape:
        raise InputError(
            f"{ref.name} in {where} has shape {list(ref.shape)}, but the {what} of {owner} "
            f"must be {list(shape)}"
        )
