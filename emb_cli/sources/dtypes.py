"""Every dtype emb reads, named once: its size, numpy type, and code in each file format.

One row per dtype, as gguf-py's constants.py keeps ggml's: safetensors headers, GGUF
tensor infos, the quantized readers and the size arithmetic all look their dtype up here.
emb's name is torch's (float32, bfloat16, float8_e4m3fn ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class DType:
    name: str  # emb's name, torch's too
    itemsize: int
    numpy: str  # numpy's name; "ml_dtypes.X" for the types numpy lacks
    safetensors: str | None  # the code in a safetensors header: F32, BF16, F8_E4M3 ...
    ggml: str | None  # the ggml type of a plain (not block-quantised) GGUF tensor
    kind: Literal["float", "int", "bool"]
    scale: bool = False  # quantization scales are stored in it (MLX, compressed-tensors, fp8)


DTYPES: tuple[DType, ...] = (
    DType("float64", 8, "float64", "F64", "F64", "float"),
    DType("float32", 4, "float32", "F32", "F32", "float", scale=True),
    DType("float16", 2, "float16", "F16", "F16", "float", scale=True),
    DType("bfloat16", 2, "ml_dtypes.bfloat16", "BF16", "BF16", "float", scale=True),
    DType("float8_e4m3fn", 1, "ml_dtypes.float8_e4m3fn", "F8_E4M3", None, "float"),
    DType("float8_e5m2", 1, "ml_dtypes.float8_e5m2", "F8_E5M2", None, "float"),
    DType("int64", 8, "int64", "I64", "I64", "int"),
    DType("int32", 4, "int32", "I32", "I32", "int"),
    DType("int16", 2, "int16", "I16", "I16", "int"),
    DType("int8", 1, "int8", "I8", "I8", "int"),
    DType("uint8", 1, "uint8", "U8", None, "int"),
    DType("uint16", 2, "uint16", "U16", None, "int"),
    DType("uint32", 4, "uint32", "U32", None, "int"),
    DType("uint64", 8, "uint64", "U64", None, "int"),
    DType("bool", 1, "bool", "BOOL", None, "bool"),
)
BY_NAME = {d.name: d for d in DTYPES}
BY_SAFETENSORS = {d.safetensors: d for d in DTYPES if d.safetensors is not None}
BY_GGML = {d.ggml: d for d in DTYPES if d.ggml is not None}
# Integer dtypes hold codes or counts: never read as a table's values unasked.
INTEGER = frozenset(d.name for d in DTYPES if d.kind == "int")
SCALES = tuple(d.name for d in DTYPES if d.scale)


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The numpy dtype of emb's `name` (ml_dtypes' for bfloat16 and fp8)."""
    import numpy as np

    known = BY_NAME.get(name)
    module, _, attr = (known.numpy if known is not None else name).rpartition(".")
    if module == "ml_dtypes":
        import ml_dtypes

        dt: np.dtype[Any] = np.dtype(getattr(ml_dtypes, attr))
        return dt
    return np.dtype(attr)
