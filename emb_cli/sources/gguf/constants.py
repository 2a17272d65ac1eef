"""GGUF's constants (llama.cpp's gguf.h, gguf-py's constants.py): the magic, the versions,
the metadata value types, and ggml's tensor types with their block sizes.
"""

from __future__ import annotations

import struct

MAGIC = b"GGUF"
VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4
U32 = struct.Struct("<I")  # every count and length is little-endian
U64 = struct.Struct("<Q")

# GGUF value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL = range(8)
STRING, ARRAY, UINT64, INT64, FLOAT64 = range(8, 13)
TYPE_NAMES = (
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
    "string", "array", "uint64", "int64", "float64",
)  # fmt: skip
# fixed-size value types: type -> (struct code, size)
SCALARS: dict[int, tuple[str, int]] = {
    UINT8: ("B", 1),
    INT8: ("b", 1),
    UINT16: ("H", 2),
    INT16: ("h", 2),
    UINT32: ("I", 4),
    INT32: ("i", 4),
    FLOAT32: ("f", 4),
    BOOL: ("?", 1),  # any non-zero byte is True, as numpy's bool_ view in GGUFReader
    UINT64: ("Q", 8),
    INT64: ("q", 8),
    FLOAT64: ("d", 8),
}
NUMPY_DTYPES = {
    UINT8: "u1", INT8: "i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
    FLOAT32: "<f4", BOOL: "?", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8",
}  # fmt: skip

# ggml type -> (name, values per block, bytes per block): gguf.constants.GGML_QUANT_SIZES
# as of gguf 0.19, copied so that opening a file does not import gguf (0.3 s); a type
# added later is looked up in the installed gguf (ggml_type_sizes).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}


def ggml_type_sizes(ggml_type: int) -> tuple[str, int, int] | None:
    """(name, values per block, bytes per block) of a ggml type, or None if unknown."""
    known = GGML_TYPES.get(ggml_type)
    if known is not None:
        return known
    try:  # a type newer than the table above: ask the installed gguf
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        qtype = GGMLQuantizationType(ggml_type)
        block, size = GGML_QUANT_SIZES[qtype]
    except (ImportError, ValueError, KeyError):
        return None
    return qtype.name, int(block), int(size)
