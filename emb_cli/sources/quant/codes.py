"""Packed integer codes: unpacking the bit streams MLX and compressed-tensors write, and
float16 rounding by bit arithmetic. Pure numpy; the work arrays are reused per thread.

Codes are packed least significant bit first, one continuous bit stream per row; 3, 5
and 6 bits straddle words.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


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


SCRATCH = _Scratch()


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
        x = SCRATCH.get("unpack", (rows, units), "<u8")
        np.copyto(x, np.ascontiguousarray(raw[:, :need]).view(f"<u{bits}"), casting="safe")
        t = SCRATCH.get("unpack-tmp", (rows, units), "<u8")
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


def unpack_stream(words: np.ndarray, bits: int, start_bit: int, count: int) -> np.ndarray:
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


def round_f16_bits(x: np.ndarray, tmp: np.ndarray) -> None:
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
