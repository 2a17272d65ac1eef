"""Fuzzing the checkpoint readers: any bytes give the right rows or an EmbError, nothing else.

The library is called directly (no CLI) so that a few thousand examples run in seconds.
EMB_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_readers.py  runs a deeper search.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emb_cli.errors import EmbError
from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.loaded import LoadedSource
from emb_cli.sources.safetensors_file import read_header
from emb_cli.sources.sharded import read_index

# Per test: 9 tests x 500 examples run in about 10 s on one core.
CI_EXAMPLES = 500
settings.register_profile(
    "emb-fuzz-ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "emb-fuzz-deep",
    parent=settings.get_profile("emb-fuzz-ci"),
    max_examples=int(os.environ.get("EMB_FUZZ_EXAMPLES") or CI_EXAMPLES),
)
FUZZ = settings.get_profile(
    "emb-fuzz-deep" if os.environ.get("EMB_FUZZ_EXAMPLES") else "emb-fuzz-ci"
)

EMB = "model.embed_tokens.weight"
HEAD = "lm_head.weight"


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One folder for the whole module: hypothesis reruns a test body, not its fixtures."""
    with tempfile.TemporaryDirectory(prefix="emb-fuzz-") as d:
        yield Path(d)


# ---------------------------------------------------------------- the check


def exercise(path: Path) -> None:
    """Read the header, open the table, read rows and chunks; compare with safetensors."""
    try:
        read_header(path)
    except EmbError:
        pass
    try:
        source = LoadedSource(open_checkpoint(path), None, None, False)
        info = source.info
        ids = [0, info.vocab_size - 1, 0]
        rows = source.rows(ids)
        chunks = [block for _, block in source.chunks(3)]
    except EmbError:
        return
    v, d = info.vocab_size, info.embed_dim
    # exact widening: float32 for every dtype up to 32 bits, float64 stays float64
    wide = np.float64 if info.dtype == "float64" else np.float32
    assert rows.shape == (3, d) and rows.dtype == wide
    table = np.concatenate(chunks)
    assert table.shape == (v, d) and table.dtype == wide
    np.testing.assert_array_equal(rows, table[ids])  # NaN compares equal here
    if path.suffix == ".safetensors" and info.tensor_name is not None:
        expected = reference(path, info.tensor_name)
        if expected is not None and not scaled(source):
            np.testing.assert_array_equal(table, expected)


def scaled(source: LoadedSource) -> bool:
    """fp8 tables with `_scale_inv` blocks are scaled on read; safetensors gives raw values."""
    return getattr(source.embedding(), "scale", None) is not None


def reference(path: Path, name: str) -> np.ndarray | None:
    """The tensor as the safetensors library reads it, or None if it refuses the file."""
    import torch
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            t = fh.get_tensor(name)
    except Exception:  # the Rust side raises its own SafetensorError and friends
        return None
    return (t if t.dtype == torch.float64 else t.float()).numpy()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- safetensors files


def st_bytes(header: dict[str, Any] | bytes, data: bytes = b"", n: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if n is None else n) + raw + data


SAFETENSORS_DTYPES = {
    "F32": np.float32,
    "F16": np.float16,
    "F64": np.float64,
    "BF16": None,
    "F8_E4M3": None,
    "I32": np.int32,
    "U8": np.uint8,
}
ITEMSIZE = {"F32": 4, "F16": 2, "F64": 8, "BF16": 2, "F8_E4M3": 1, "I32": 4, "U8": 1}


@st.composite
def valid_file(draw: st.DrawFn, empty_scales: bool = False) -> tuple[dict[str, Any], bytes]:
    """A well-formed header and data section: a table, maybe a head, maybe fp8 scales.

    empty_scales: the fp8 scale tensor may have a zero dimension (well-formed, not usable).
    """
    dtype = draw(st.sampled_from(sorted(ITEMSIZE)))
    rows = draw(st.integers(1, 9))
    cols = draw(st.integers(1, 6))
    size = rows * cols * ITEMSIZE[dtype]
    data = draw(st.binary(min_size=size, max_size=size))
    header: dict[str, Any] = {
        EMB: {"dtype": dtype, "shape": [rows, cols], "data_offsets": [0, size]}
    }
    if draw(st.booleans()):
        header[HEAD] = {"dtype": dtype, "shape": [rows, cols], "data_offsets": [size, 2 * size]}
        data += draw(st.binary(min_size=size, max_size=size))
    if dtype == "F8_E4M3" and draw(st.booleans()):
        lo = 0 if empty_scales else 1
        sr, sc = draw(st.integers(lo, 2)), draw(st.integers(lo, 2))
        scale = np.full((sr, sc), draw(st.floats(-4, 4, width=32)), dtype=np.float32).tobytes()
        header[EMB + "_scale_inv"] = {
            "dtype": "F32",
            "shape": [sr, sc],
            "data_offsets": [len(data), len(data) + len(scale)],
        }
        data += scale
    if draw(st.booleans()):
        header["__metadata__"] = {"format": "pt"}
    return header, data


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
)
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)
SIZE = st.one_of(st.integers(-3, 12), st.sampled_from([2**31, 2**32, 2**62, 2**63, 2**64 + 1]))
FIELD_VALUES = {
    "dtype": st.one_of(
        st.sampled_from(list(ITEMSIZE) + ["F31", "", "f32", "Q8_0", "F8_E5M2", "BOOL", "U64"]),
        JSON_ANY,
    ),
    "shape": st.one_of(st.lists(SIZE, max_size=4), JSON_ANY),
    "data_offsets": st.one_of(
        st.lists(SIZE, min_size=0, max_size=3),
        st.lists(st.integers(-(2**65), 2**65), min_size=2, max_size=2),
        JSON_ANY,
    ),
}


def _write(scratch: Path, content: bytes, name: str = "model.safetensors") -> Path:
    path = scratch / name
    path.write_bytes(content)
    return path


@FUZZ
@given(content=st.binary(max_size=300))
def test_random_bytes(scratch: Path, content: bytes) -> None:
    exercise(_write(scratch, content))


@FUZZ
@given(
    header=st.binary(max_size=200),
    data=st.binary(max_size=64),
    lie=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
)
def test_random_header_bytes(scratch: Path, header: bytes, data: bytes, lie: int | None) -> None:
    """A plausible length prefix in front of arbitrary header bytes (or a lying length)."""
    exercise(_write(scratch, st_bytes(header, data, lie)))


@FUZZ
@given(
    header=st.dictionaries(st.text(max_size=30), JSON_ANY, max_size=4), data=st.binary(max_size=64)
)
def test_random_json_header(scratch: Path, header: dict[str, Any], data: bytes) -> None:
    exercise(_write(scratch, st_bytes(json.dumps(header).encode(), data)))


@FUZZ
@given(base=valid_file(empty_scales=True), st_data=st.data())
def test_mutated_fields(
    scratch: Path, base: tuple[dict[str, Any], bytes], st_data: st.DataObject
) -> None:
    header, data = base
    names = sorted(k for k in header if k != "__metadata__")
    for _ in range(st_data.draw(st.integers(1, 3))):
        name = st_data.draw(st.sampled_from(names))
        key = st_data.draw(
            st.sampled_from([*FIELD_VALUES, "drop", "replace", "metadata", "rename"])
        )
        if key == "drop" and isinstance(header[name], dict):
            header[name].pop(st_data.draw(st.sampled_from(list(FIELD_VALUES))), None)
        elif key == "replace":
            header[name] = st_data.draw(JSON_ANY)
        elif key == "metadata":
            header["__metadata__"] = st_data.draw(
                st.one_of(JSON_ANY, st.dictionaries(st.text(max_size=5), JSON_ANY, max_size=3))
            )
        elif key == "rename":
            new = st_data.draw(
                st.sampled_from([HEAD, "wte.weight", "x", EMB + "_scale_inv", "__metadata__"])
            )
            header[new] = header.pop(name)
            names = sorted(k for k in header if k != "__metadata__")
            if not names:
                break
        elif isinstance(header[name], dict):
            header[name][key] = st_data.draw(FIELD_VALUES[key])
    exercise(_write(scratch, st_bytes(json.dumps(header).encode(), data)))


@FUZZ
@given(base=valid_file(empty_scales=True), st_data=st.data())
def test_mutated_bytes(
    scratch: Path, base: tuple[dict[str, Any], bytes], st_data: st.DataObject
) -> None:
    """Flip bytes anywhere (length prefix, JSON, data), then maybe truncate or extend."""
    header, data = base
    content = bytearray(st_bytes(header, data))
    for _ in range(st_data.draw(st.integers(0, 4))):
        i = st_data.draw(st.integers(0, len(content) - 1))
        content[i] ^= st_data.draw(st.integers(1, 255))
    cut = st_data.draw(st.one_of(st.none(), st.integers(0, len(content))))
    if cut is not None:
        del content[cut:]
    content += st_data.draw(st.binary(max_size=16))
    exercise(_write(scratch, bytes(content)))


@FUZZ
@given(base=valid_file(empty_scales=True))
def test_valid_files_read_exactly(scratch: Path, base: tuple[dict[str, Any], bytes]) -> None:
    """Well-formed files open and agree with safetensors value for value; fp8 tables are
    scaled block by block; a scale tensor with no elements is refused, not divided by."""
    header, data = base
    path = _write(scratch, st_bytes(header, data))
    scale_entry = header.get(EMB + "_scale_inv")
    if scale_entry is not None and 0 in scale_entry["shape"]:
        with pytest.raises(EmbError, match="no scales"):
            open_checkpoint(path)
        return
    source = LoadedSource(open_checkpoint(path), None, None, False, raw=True)  # ints too
    table = np.concatenate([b for _, b in source.chunks(4)])
    expected = reference(path, EMB)
    assert expected is not None
    if scaled(source):
        scales = reference(path, EMB + "_scale_inv")
        assert scales is not None
        rows, cols = expected.shape
        br, bc = -(-rows // scales.shape[0]), -(-cols // scales.shape[1])
        expected = expected * np.repeat(np.repeat(scales, br, 0), bc, 1)[:rows, :cols]
    np.testing.assert_array_equal(table, expected)


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), JSON_ANY.map(lambda v: json.dumps(v).encode())))
def test_sharded_index(scratch: Path, content: bytes) -> None:
    path = _write(scratch, content, "model.safetensors.index.json")
    try:
        read_index(path)
    except EmbError:
        pass
    exercise(path)


# ---------------------------------------------------------------- GGUF


@pytest.fixture(scope="module")
def gguf_base(scratch: Path) -> bytes:
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    path = scratch / "base.gguf"
    writer = GGUFWriter(str(path), "llama")
    writer.add_uint32("llama.embedding_length", 32)
    writer.add_tensor("token_embd.weight", np.arange(4 * 32, dtype=np.float32).reshape(4, 32) / 50)
    q = quantize(
        np.linspace(-1, 1, 4 * 32, dtype=np.float32).reshape(4, 32), GGMLQuantizationType.Q8_0
    )
    writer.add_tensor("output.weight", q, raw_dtype=GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def exercise_gguf(path: Path) -> None:
    try:
        ckpt = open_checkpoint(path)
        source = LoadedSource(ckpt, None, None, False)
        info = source.info
        rows = source.rows([0, info.vocab_size - 1])
        table = np.concatenate([b for _, b in source.chunks(2)])
        head = source.head()
        if head is not None and len(head.shape) == 2:
            list(head.iter_chunks(2, raw=True))
            head.read_rows([0])
    except EmbError:
        return
    assert rows.shape == (2, info.embed_dim)
    assert table.shape == (info.vocab_size, info.embed_dim)


@FUZZ
@given(st_data=st.data())
def test_gguf_mutated_bytes(scratch: Path, gguf_base: bytes, st_data: st.DataObject) -> None:
    content = bytearray(gguf_base)
    for _ in range(st_data.draw(st.integers(0, 4))):
        # Most of the file is tensor data; aim half the flips at the header and metadata.
        hi = st_data.draw(st.sampled_from([min(200, len(content)), len(content)]))
        i = st_data.draw(st.integers(0, hi - 1))
        content[i] ^= st_data.draw(st.integers(1, 255))
    cut = st_data.draw(st.one_of(st.none(), st.integers(4, len(content))))
    if cut is not None:
        del content[cut:]
    content += st_data.draw(st.binary(max_size=16))
    exercise_gguf(_write(scratch, bytes(content), "model.gguf"))


@FUZZ
@given(content=st.binary(max_size=300))
def test_gguf_random_bytes(scratch: Path, gguf_base: bytes, content: bytes) -> None:
    exercise_gguf(_write(scratch, b"GGUF" + content, "model.gguf"))


# ---------------------------------------------------------------- quantized tables


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    words=st.integers(1, 6),
    word_dtype=st.sampled_from(["U32", "I32", "U8"]),
    scale_cols=st.integers(0, 5),
    scale_dtype=st.sampled_from(["F16", "BF16", "F32", "I32"]),
    biases=st.booleans(),
    bits=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 16]),
    group=st.sampled_from([0, 8, 16, 32, 48, 64, 128]),
    hidden=st.sampled_from([None, 8, 32, 64, 100]),
    mode=st.sampled_from([None, "affine", "mxfp4"]),
)
def test_any_mlx_quantization_reads_or_is_refused(
    rows: int,
    words: int,
    word_dtype: str,
    scale_cols: int,
    scale_dtype: str,
    biases: bool,
    bits: int,
    group: int,
    hidden: int | None,
    mode: str | None,
) -> None:
    """Parts and config.json of every shape: the values come out finite or float-valued,
    or an InputError names the problem; never another exception."""
    size = {"U32": 4, "I32": 4, "U8": 1, "F16": 2, "BF16": 2, "F32": 4}
    parts = {
        f"{EMB[: -len('.weight')]}.weight": (word_dtype, [rows, words]),
        f"{EMB[: -len('.weight')]}.scales": (scale_dtype, [rows, scale_cols]),
    }
    if biases:
        parts[f"{EMB[: -len('.weight')]}.biases"] = (scale_dtype, [rows, scale_cols])
    header: dict[str, Any] = {}
    blob = bytearray()
    rng = np.random.default_rng(rows * 131 + words)
    for key, (dt, shape) in parts.items():
        n = size[dt] * shape[0] * shape[1]
        header[key] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + n]}
        blob += rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    quant: dict[str, Any] = {"group_size": group, "bits": bits}
    if mode is not None:
        quant["mode"] = mode
    config: dict[str, Any] = {"model_type": "llama", "quantization": quant}
    if hidden is not None:
        config["hidden_size"] = hidden
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "model.safetensors").write_bytes(st_bytes(header, bytes(blob)))
        (folder / "config.json").write_text(json.dumps(config))
        try:
            source = LoadedSource(open_checkpoint(folder), None, None, False)
            table = np.concatenate([b for _, b in source.chunks(2)])
        except EmbError:
            return
        assert table.shape == (source.info.vocab_size, source.info.embed_dim)
        assert table.dtype == np.float32
        np.testing.assert_array_equal(table, source.rows(range(source.info.vocab_size)))
