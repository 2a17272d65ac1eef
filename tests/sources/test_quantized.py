"""Quantized checkpoints read as values: every row equal, bit for bit, to what the format's
own library decodes: mx.dequantize for MLX (tables made by mx.quantize and saved as mlx_lm
saves them), compressed-tensors' decompress for checkpoints its ModelCompressor wrote.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np
import pytest

from emb_cli.errors import InputError
from emb_cli.sources.quant.guard import (
    QuantizedTensors,
    attach_quantization,
    quantization_keys,
    refuse_unknown_packed,
    scale_like_companions,
)
from emb_cli.sources.quant.tensor import QuantizedTensor
from emb_cli.sources.safetensors_file import read_header
from emb_cli.sources.tensors import FileTensor
from tests.helpers.mlx_checkpoints import EMBED, HEAD, _quantized, _save_mlx, _table

MX_DTYPES = {"float16": mx.float16, "bfloat16": mx.bfloat16, "float32": mx.float32}


def _open(folder: Path) -> QuantizedTensors:
    config = json.loads((folder / "config.json").read_text())
    return attach_quantization(read_header(folder / "model.safetensors").tensors, config, "ckpt")


def _rows(t: Any, ids: list[int]) -> np.ndarray:
    out: np.ndarray = t.read_rows(ids)
    return out


def _chunks(t: Any, n: int) -> np.ndarray:
    got = list(t.iter_chunks(n))
    assert [s for s, _ in got] == list(range(0, t.shape[0], n))
    return np.concatenate([b for _, b in got])


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == np.float32 and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), int((a != b).sum())


# MLX -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(MX_DTYPES))
@pytest.mark.parametrize("gs", [32, 64, 128])
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 8])
def test_mlx_rows_and_chunks_equal_mx_dequantize(
    tmp_path: Path, bits: int, gs: int, dtype: str
) -> None:
    w, h = _table(37, 256, 1, MX_DTYPES[dtype]), _table(37, 256, 2, MX_DTYPES[dtype])
    embed, ref = _quantized("model.embed_tokens", w, gs, bits)
    head, href = _quantized("lm_head", h, gs, bits)
    folder = _save_mlx(
        tmp_path, {**embed, **head}, {"group_size": gs, "bits": bits}, hidden_size=256
    )
    view = _open(folder)
    assert sorted(view) == [HEAD, EMBED]  # scales and biases leave the names
    for name, expect in ((EMBED, ref), (HEAD, href)):
        t = view[name]
        assert isinstance(t, QuantizedTensor)
        assert (t.dtype, t.shape) == (f"mlx-q{bits}", (37, 256))
        ids = [36, 0, 17, 17, 5, 35, 1]
        _same(_rows(t, ids), expect[ids])
        _same(_chunks(t, 5), expect)  # 37 rows: the last chunk is short
        _same(_chunks(t, 64), expect)
    sch = view[EMBED].scheme  # type: ignore[attr-defined]
    item = np.dtype(dtype).itemsize if dtype != "bfloat16" else 2
    stored = 37 * 256 * bits // 8 + 2 * 37 * (256 // gs) * item
    assert (sch.name, sch.bits, sch.group_size, sch.scale_dtype) == ("mlx-affine", bits, gs, dtype)
    assert sch.stored_nbytes == view[EMBED].nbytes == stored
    assert sch.bytes_per_param == stored / (37 * 256)


def test_mlx_float16_extremes(tmp_path: Path) -> None:
    """float16 rows near its max (65504) and rows of subnormal scales: the fast bit rounding
    and numpy's cast must both give mlx's values."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((24, 128)).astype(np.float32)
    w[:6] *= 2e4  # 8 bits: q * scale reaches ~6e4
    w[6:12] *= 1e-6  # scales ~1e-8: float16 subnormals
    w[12:14] = 0.0
    w[14] = 60000.0
    for bits in (4, 8):
        parts, ref = _quantized("model.embed_tokens", mx.array(w).astype(mx.float16), 64, bits)
        folder = _save_mlx(tmp_path / str(bits), parts, {"group_size": 64, "bits": bits})
        t = _open(folder)[EMBED]
        _same(_chunks(t, 4), ref)
        _same(_chunks(t, 24), ref)
        _same(_rows(t, [14, 0, 7]), ref[[14, 0, 7]])


def test_f16_bit_rounding_matches_the_cast() -> None:
    """The fast float16 rounding, on what it rounds: every finite float16 times every 8-bit
    code, and sums of random float16 pairs; numpy's cast is the reference."""
    from emb_cli.sources.quant.codes import round_f16_bits

    s = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    s = s[np.isfinite(s)]
    for q in range(1, 256):
        x = s * np.float32(q)
        x = x[np.abs(x) < 65504]
        got = x.copy()
        round_f16_bits(got, np.empty(got.shape, np.uint32))
        _same(got, x.astype(np.float16).astype(np.float32))
    rng = np.random.default_rng(14)
    a, b = (rng.integers(0, 1 << 16, 1 << 20, dtype=np.uint16).view(np.float16) for _ in "ab")
    with np.errstate(all="ignore"):  # inf + -inf among the random pairs
        x = a.astype(np.float32) + b.astype(np.float32)
    x = x[np.isfinite(x) & (np.abs(x) < 65504)]
    got = x.copy()
    round_f16_bits(got, np.empty(got.shape, np.uint32))
    _same(got, x.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("bits", range(1, 9))
def test_unpack_codes_reads_the_lsb_first_stream(bits: int) -> None:
    """Code i at bits i*bits.. of the row, words little-endian: np.unpackbits agrees."""
    from emb_cli.sources.quant.codes import unpack_codes

    rng = np.random.default_rng(bits)
    for count in (1, 7, 8, 9, 31, 32, 33, 100, 256):
        raw = rng.integers(0, 256, (3, -(-count * bits // 32) * 4), dtype=np.uint8)
        stream = np.unpackbits(raw, axis=1, bitorder="little")[:, : count * bits]
        weights = 1 << np.arange(bits, dtype=np.uint32)
        expect = (stream.reshape(3, count, bits) * weights).sum(-1)
        got = unpack_codes(raw, bits, count)
        assert got.dtype == np.uint8 and np.array_equal(got, expect), count


def test_mlx_per_layer_overrides(tmp_path: Path) -> None:
    """mlx_lm's mixed recipes: a dict under the layer path wins; false means not quantized."""
    w, h = _table(40, 128, 4, mx.bfloat16), _table(40, 128, 5, mx.bfloat16)
    embed, ref = _quantized("model.embed_tokens", w, 32, 8)
    quant = {"group_size": 64, "bits": 4, "model.embed_tokens": {"group_size": 32, "bits": 8}}
    quant["lm_head"] = False
    folder = _save_mlx(tmp_path, {**embed, HEAD: h}, quant, hidden_size=128)
    view = _open(folder)
    t = view[EMBED]
    assert t.dtype == "mlx-q8" and t.scheme.group_size == 32  # type: ignore[attr-defined]
    _same(_chunks(t, 16), ref)
    head = view[HEAD]
    assert isinstance(head, FileTensor) and head.dtype == "bfloat16"
    _same(_rows(head, [0, 39]), np.array(h.astype(mx.float32))[[0, 39]])


def test_ranges_through_a_range_reader(tmp_path: Path) -> None:
    """Remote checkpoints read through a RangeReader: the same rows, ranges merged."""
    from emb_cli.sources.tensors import LocalReader

    parts, ref = _quantized("model.embed_tokens", _table(300, 128, 13, mx.bfloat16), 64, 4)
    folder = _save_mlx(tmp_path, parts, {"group_size": 64, "bits": 4})
    reader = LocalReader(str(folder / "model.safetensors"))
    try:
        header = read_header(reader)
        config = json.loads((folder / "config.json").read_text())
        t = attach_quantization(header.tensors, config, "remote")[EMBED]
        assert t.codes.reader is reader  # type: ignore[attr-defined]
        ids = [299, 3, 150, 4, 0]
        _same(_rows(t, ids), ref[ids])
        _same(_chunks(t, 64), ref)
    finally:
        reader.close()


def test_lazy_names_and_get(tmp_path: Path) -> None:
    """Names alone build the view: no tensor opened until asked, then only its parts."""
    parts, _ = _quantized("model.embed_tokens", _table(8, 64, 6, mx.bfloat16), 32, 4)
    hparts, _ = _quantized("lm_head", _table(8, 64, 7, mx.bfloat16), 32, 4)
    folder = _save_mlx(tmp_path, {**parts, **hparts}, {"group_size": 32, "bits": 4})
    header = read_header(folder / "model.safetensors")
    asked: list[str] = []

    def get(name: str) -> FileTensor:
        asked.append(name)
        return header.tensors[name]

    config = json.loads((folder / "config.json").read_text())
    view = attach_quantization(sorted(header.tensors), config, "ckpt", get=get)
    assert list(view) == [HEAD, EMBED] and asked == []
    assert view.companions[EMBED] == ("model.embed_tokens.scales", "model.embed_tokens.biases")
    assert "model.embed_tokens.scales" not in view
    with pytest.raises(KeyError):
        view["model.embed_tokens.scales"]
    view[EMBED]
    assert sorted(asked) == sorted(
        [EMBED, "model.embed_tokens.scales", "model.embed_tokens.biases"]
    )


def test_raw_chunks_are_the_stored_rows(tmp_path: Path) -> None:
    """raw=True: each row's words, scales and biases bytes; equal bytes, equal stored rows."""
    parts, _ = _quantized("model.embed_tokens", _table(10, 64, 8, mx.bfloat16), 32, 4)
    head = {k.replace("model.embed_tokens", "lm_head"): v for k, v in parts.items()}
    biases = np.array(head["lm_head.biases"].astype(mx.float32))
    biases[3, 1] += 1.0
    head["lm_head.biases"] = mx.array(biases).astype(mx.bfloat16)
    view = _open(_save_mlx(tmp_path, {**parts, **head}, {"group_size": 32, "bits": 4}))
    a = np.concatenate([b for _, b in view[EMBED].iter_chunks(4, raw=True)])
    b = np.concatenate([b for _, b in view[HEAD].iter_chunks(4, raw=True)])
    assert a.dtype == np.uint8 and a.shape == (10, 64 // 2 + 2 * 2 + 2 * 2)
    assert a[:, :32].tobytes() == np.array(parts[EMBED]).view(np.uint8).tobytes()
    differ = [i for i in range(10) if a[i].tobytes() != b[i].tobytes()]
    assert differ == [3]


def _bad_mlx(tmp_path: Path, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> str:
    parts, _ = _quantized("model.embed_tokens", _table(37, 256, 9, mx.bfloat16), 64, 4)
    quant: dict[str, Any] = {"group_size": 64, "bits": 4}
    config: dict[str, Any] = {"hidden_size": 256}
    edit(parts, {"quantization": quant, "config": config})
    folder = _save_mlx(tmp_path, parts, quant, **config)
    with pytest.raises(InputError) as exc:
        _open(folder)[EMBED]
    return exc.value.message


def test_mlx_scales_of_the_wrong_shape(tmp_path: Path) -> None:
    def edit(p: dict[str, Any], _: dict[str, Any]) -> None:
        p["model.embed_tokens.scales"] = p["model.embed_tokens.scales"][:, :-1]

    msg = _bad_mlx(tmp_path, edit)
    assert "model.embed_tokens.scales" in msg and "[37, 3]" in msg and "must be [37, 4]" in msg


def test_mlx_group_size_that_does_not_divide_the_width(tmp_path: Path) -> None:
    w = _table(5, 96, 10, mx.bfloat16)  # 96 columns: groups of 32 fit, 64 do not
    parts, _ = _quantized("model.embed_tokens", w, 32, 4)
    folder = _save_mlx(tmp_path, parts, {"group_size": 64, "bits": 4})
    with pytest.raises(InputError, match="group size 64 does not divide the 96 columns"):
        _open(folder)[EMBED]


def test_mlx_bits_outside_the_scheme(tmp_path: Path) -> None:
    msg = _bad_mlx(tmp_path, lambda p, c: c["quantization"].update(bits=7))
    assert EMBED in msg and "7-bit" in msg and "2, 3, 4, 5, 6, 8 bits" in msg


def test_mlx_group_size_outside_the_scheme(tmp_path: Path) -> None:
    msg = _bad_mlx(tmp_path, lambda p, c: c["quantization"].update(group_size=16))
    assert EMBED in msg and "group size 16" in msg and "32, 64, 128" in msg


def test_mlx_packed_width_against_hidden_size(tmp_path: Path) -> None:
    """4-bit words read as 8-bit give 128 columns; the config's hidden size says 256."""
    msg = _bad_mlx(tmp_path, lambda p, c: c["quantization"].update(bits=8))
    assert EMBED in msg and "gives 128 columns" in msg and "hidden size is 256" in msg
    assert "at 4 bits they would give 256" in msg


def test_mlx_missing_biases(tmp_path: Path) -> None:
    msg = _bad_mlx(tmp_path, lambda p, c: p.pop("model.embed_tokens.biases"))
    assert EMBED in msg and "biases model.embed_tokens.biases is missing" in msg


def test_mlx_missing_scales(tmp_path: Path) -> None:
    def edit(p: dict[str, Any], _: dict[str, Any]) -> None:
        del p["model.embed_tokens.scales"], p["model.embed_tokens.biases"]

    msg = _bad_mlx(tmp_path, edit)
    assert EMBED in msg and "uint32" in msg and "model.embed_tokens.scales is missing" in msg


def test_mlx_modes_other_than_affine_are_refused(tmp_path: Path) -> None:
    msg = _bad_mlx(tmp_path, lambda p, c: c["quantization"].update(mode="mxfp4"))
    assert EMBED in msg and "mode 'mxfp4'" in msg and "affine" in msg


def test_mlx_layer_marked_unquantized_with_scales(tmp_path: Path) -> None:
    msg = _bad_mlx(tmp_path, lambda p, c: c["quantization"].update({"model.embed_tokens": False}))
    assert EMBED in msg and "not quantized" in msg


def test_mlx_scales_must_be_floats(tmp_path: Path) -> None:
    def edit(p: dict[str, Any], _: dict[str, Any]) -> None:
        p["model.embed_tokens.scales"] = p["model.embed_tokens.scales"].astype(mx.int32)

    msg = _bad_mlx(tmp_path, edit)
    assert "model.embed_tokens.scales" in msg and "int32" in msg and "bfloat16" in msg


# The guard: integer tables emb cannot decode --------------------------------------------


def test_guard_refuses_codes_it_cannot_decode(tmp_path: Path) -> None:
    parts, _ = _quantized("model.embed_tokens", _table(8, 64, 11, mx.bfloat16), 32, 4)
    folder = _save_mlx(tmp_path, parts, None)  # config.json without quantization
    names = sorted(read_header(folder / "model.safetensors").tensors)
    view = _open(folder)
    assert list(view) == names  # nothing attached without the config
    ref = view[EMBED]
    seen = scale_like_companions(EMBED, names)
    assert seen == ["model.embed_tokens.biases", "model.embed_tokens.scales"]
    with pytest.raises(InputError) as exc:
        refuse_unknown_packed(ref, seen, quantization_keys(None))
    msg = exc.value.message
    assert EMBED in msg and "uint32" in msg and "model.embed_tokens.scales" in msg
    assert "config.json states no quantization" in msg

    gptq = {"quantization_config": {"quant_method": "gptq", "bits": 4}}
    qw = FileTensor("model.embed_tokens.qweight", "int32", (8, 8), "f", 0, 4)
    with pytest.raises(InputError, match="quantization_config \\(quant_method gptq\\)"):
        refuse_unknown_packed(qw, ["model.embed_tokens.scales"], quantization_keys(gptq))
    fp8 = FileTensor(EMBED, "float8_e4m3fn", (8, 8), "f", 0, 1)
    with pytest.raises(InputError, match="model.embed_tokens.weight_scale"):
        refuse_unknown_packed(fp8, ["model.embed_tokens.weight_scale"], [])
    refuse_unknown_packed(fp8, [], [])  # fp8 alone: values
    refuse_unknown_packed(FileTensor(EMBED, "bfloat16", (8, 8), "f", 0, 2), seen, [])
    config = json.loads((folder / "config.json").read_text())
    config["quantization"] = {"group_size": 32, "bits": 4}
    quant = attach_quantization(read_header(folder / "model.safetensors").tensors, config, "c")
    refuse_unknown_packed(quant[EMBED], seen, quantization_keys(config))


# compressed-tensors ---------------------------------------------------------------------


def _ct_checkpoint(
    folder: Path,
    groups: dict[str, dict[str, Any]],
    dtype: str = "bfloat16",
    ignore: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A tiny Llama quantized and saved by compressed-tensors itself (ModelCompressor):
    scales from each weight's own min/max, the way an observer sets them."""
    import torch
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import (
        QuantizationArgs,
        QuantizationConfig,
        QuantizationScheme,
        apply_quantization_config,
    )
    from compressed_tensors.quantization.utils.helpers import calculate_qparams

    from tests.models import tiny_llama

    model = tiny_llama(67, 64, tied=False, heads=2).to(getattr(torch, dtype))
    schemes = {
        k: QuantizationScheme(
            targets=g["targets"],
            weights=QuantizationArgs(**g["weights"]),
            input_activations=QuantizationArgs(**g["acts"]) if g.get("acts") else None,
        )
        for k, g in groups.items()
    }
    config = QuantizationConfig(config_groups=schemes, ignore=list(ignore))
    apply_quantization_config(model, config, show_progress=False)
    for _, m in model.named_modules():
        s = getattr(m, "quantization_scheme", None)
        if s is None:
            continue
        w, a = m.weight.data, s.weights
        if a.strategy == "block":
            bh, bw = a.block_structure
            r, c = -(-w.shape[0] // bh), -(-w.shape[1] // bw)
            pad = torch.zeros(r * bh, c * bw, dtype=w.dtype)
            pad[: w.shape[0], : w.shape[1]] = w.abs()
            amax = pad.reshape(r, bh, c, bw).amax(dim=(1, 3))
            scale, zp = calculate_qparams(-amax, amax, a)
        elif a.strategy == "group":
            g = w.reshape(w.shape[0], -1, a.group_size)
            scale, zp = calculate_qparams(g.amin(-1), g.amax(-1), a)
        elif a.strategy == "channel":
            scale, zp = calculate_qparams(w.amin(1, keepdim=True), w.amax(1, keepdim=True), a)
        else:
            scale, zp = calculate_qparams(w.amin(), w.amax(), a)
        m.weight_scale.data = scale.reshape(m.weight_scale.shape).to(m.weight_scale.dtype)
        if hasattr(m, "weight_zero_point"):
            zp = zp.reshape(m.weight_zero_point.shape).to(m.weight_zero_point.dtype)
            m.weight_zero_point.data = zp
    compressor = ModelCompressor.from_pretrained_model(model)
    compressor.compress_model(model)
    model.save_pretrained(folder)
    compressor.update_config(str(folder))
    return schemes


def _ct_reference(folder: Path, module: str, group: str = "group_0") -> np.ndarray:
    """compressed-tensors' own decompression of one module, from the saved tensors."""
    from compressed_tensors.compressors import BaseCompressor
    from compressed_tensors.quantization import QuantizationConfig
    from safetensors.torch import load_file

    tensors = load_file(folder / "model.safetensors")
    qc = QuantizationConfig.model_validate(
        json.loads((folder / "config.json").read_text())["quantization_config"]
    )
    scheme = qc.config_groups[group]
    compressor = BaseCompressor.get_value_from_registry(scheme.format)
    local = {n: tensors[f"{module}.{n}"] for n in compressor.compression_param_names(scheme)}
    out: np.ndarray = compressor.decompress(local, scheme)["weight"].float().numpy()
    return out


INT8_ACTS = {"num_bits": 8, "type": "int", "strategy": "token", "symmetric": True, "dynamic": True}
FP8_ACTS = {**INT8_ACTS, "type": "float"}
CT_CASES: dict[str, tuple[dict[str, Any], dict[str, Any] | None, str, str]] = {
    "int4 group sym": (
        {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32},
        None,
        "pack-quantized",
        "int4-pack",
    ),
    "int4 group asym": (
        {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32, "symmetric": False},
        None,
        "pack-quantized",
        "int4-pack",
    ),
    "int3 group asym": (
        {"num_bits": 3, "type": "int", "strategy": "group", "group_size": 16, "symmetric": False},
        None,
        "pack-quantized",
        "int3-pack",
    ),
    "int5 channel asym": (
        {"num_bits": 5, "type": "int", "strategy": "channel", "symmetric": False},
        None,
        "pack-quantized",
        "int5-pack",
    ),
    "int2 group sym": (
        {"num_bits": 2, "type": "int", "strategy": "group", "group_size": 64},
        None,
        "pack-quantized",
        "int2-pack",
    ),
    "int8 channel sym": (
        {"num_bits": 8, "type": "int", "strategy": "channel"},
        None,
        "pack-quantized",
        "int8-pack",
    ),
    "int4 tensor asym": (
        {"num_bits": 4, "type": "int", "strategy": "tensor", "symmetric": False},
        None,
        "pack-quantized",
        "int4-pack",
    ),
    "w8a8 int channel": (
        {"num_bits": 8, "type": "int", "strategy": "channel"},
        INT8_ACTS,
        "int-quantized",
        "int8-scaled",
    ),
    "w4afp8 int group": (
        {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32},
        FP8_ACTS,
        "int-quantized",
        "int4-scaled",
    ),
    "fp8 tensor": (
        {"num_bits": 8, "type": "float", "strategy": "tensor"},
        FP8_ACTS,
        "float-quantized",
        "fp8-scaled",
    ),
    "fp8 channel": (
        {"num_bits": 8, "type": "float", "strategy": "channel"},
        FP8_ACTS,
        "float-quantized",
        "fp8-scaled",
    ),
    "fp8 block 24x40": (
        {"num_bits": 8, "type": "float", "strategy": "block", "block_structure": [24, 40]},
        FP8_ACTS,
        "float-quantized",
        "fp8-scaled",
    ),
    "fp8 weights only": (
        {"num_bits": 8, "type": "float", "strategy": "channel"},
        None,
        "naive-quantized",
        "fp8-scaled",
    ),
}


# Every case in bfloat16 (what llm-compressor saves from bf16 models); float16 and float32
# scales for one case of each strategy and storage.
CT_OTHER_DTYPES = ["int4 group asym", "int3 group asym", "int4 tensor asym", "w8a8 int channel"]
CT_OTHER_DTYPES += ["fp8 block 24x40"]


@pytest.mark.parametrize(
    ("case", "dtype"),
    [(c, "bfloat16") for c in CT_CASES]
    + [(c, d) for c in CT_OTHER_DTYPES for d in ("float16", "float32")],
)
def test_ct_rows_and_chunks_equal_decompress(tmp_path: Path, case: str, dtype: str) -> None:
    """Embedding and head both targeted (Linear and Embedding), 67 rows: chunks of 7."""
    weights, acts, fmt, name = CT_CASES[case]
    group = {"targets": ["Linear", "Embedding"], "weights": weights, "acts": acts}
    _ct_checkpoint(tmp_path, {"group_0": group}, dtype)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["quantization_config"]["format"] == fmt
    view = _open(tmp_path)
    assert "lm_head.weight_packed" not in view and "lm_head.weight_scale" not in view
    for module in ("model.embed_tokens", "lm_head"):
        ref = _ct_reference(tmp_path, module)
        t = view[module + ".weight"]
        assert isinstance(t, QuantizedTensor) and (t.dtype, t.shape) == (name, (67, 64))
        assert t.scheme.scale_dtype == dtype
        ids = [66, 0, 5, 5, 33, 64]
        _same(_rows(t, ids), ref[ids])
        _same(_chunks(t, 7), ref)


def test_ct_head_ignored_and_regex_target_wins(tmp_path: Path) -> None:
    """Class targets skip what `ignore` names; a regex target beats a class target."""
    four = {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32}
    eight = {"num_bits": 8, "type": "int", "strategy": "channel"}
    groups = {
        "group_0": {"targets": ["Linear"], "weights": four},
        "group_1": {"targets": ["re:.*o_proj$"], "weights": eight},
    }
    _ct_checkpoint(tmp_path, groups, ignore=("lm_head",))
    view = _open(tmp_path)
    assert isinstance(view[HEAD], FileTensor) and view[HEAD].dtype == "bfloat16"
    assert isinstance(view[EMBED], FileTensor)
    o_proj = view["model.layers.0.self_attn.o_proj.weight"]
    q_proj = view["model.layers.0.self_attn.q_proj.weight"]
    assert (o_proj.dtype, q_proj.dtype) == ("int8-pack", "int4-pack")
    _same(
        _chunks(o_proj, 16), _ct_reference(tmp_path, "model.layers.0.self_attn.o_proj", "group_1")
    )


@pytest.fixture(scope="module")
def ct_asym(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ct")
    weights = {
        "num_bits": 4,
        "type": "int",
        "strategy": "group",
        "group_size": 32,
        "symmetric": False,
    }
    _ct_checkpoint(folder, {"group_0": {"targets": ["Linear", "Embedding"], "weights": weights}})
    return folder


def _bad_ct(
    src: Path,
    dst: Path,
    tensors: Callable[[dict[str, Any]], None] | None = None,
    config: Callable[[dict[str, Any]], None] | None = None,
    name: str = HEAD,
) -> str:
    from safetensors.torch import load_file, save_file

    dst.mkdir(exist_ok=True)
    state = load_file(src / "model.safetensors")
    cfg = json.loads((src / "config.json").read_text())
    if tensors:
        tensors(state)
    if config:
        config(cfg)
    save_file(state, dst / "model.safetensors")
    (dst / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError) as exc:
        _open(dst)[name]
    return exc.value.message


def _weights(cfg: dict[str, Any]) -> dict[str, Any]:
    w: dict[str, Any] = cfg["quantization_config"]["config_groups"]["group_0"]["weights"]
    return w


def test_ct_missing_scales(ct_asym: Path, tmp_path: Path) -> None:
    msg = _bad_ct(ct_asym, tmp_path, tensors=lambda s: s.pop("lm_head.weight_scale"))
    assert HEAD in msg and "scales lm_head.weight_scale is missing" in msg


def test_ct_missing_zero_points(ct_asym: Path, tmp_path: Path) -> None:
    msg = _bad_ct(ct_asym, tmp_path, tensors=lambda s: s.pop("lm_head.weight_zero_point"))
    assert HEAD in msg and "zero points lm_head.weight_zero_point is missing" in msg


def test_ct_scales_of_the_wrong_shape(ct_asym: Path, tmp_path: Path) -> None:
    msg = _bad_ct(ct_asym, tmp_path, config=lambda c: _weights(c).update(group_size=16))
    assert "lm_head.weight_scale" in msg and "[67, 2]" in msg and "must be [67, 4]" in msg


def test_ct_group_size_that_does_not_divide_the_width(ct_asym: Path, tmp_path: Path) -> None:
    msg = _bad_ct(ct_asym, tmp_path, config=lambda c: _weights(c).update(group_size=48))
    assert HEAD in msg and "group size 48 does not divide the 64 columns" in msg


def test_ct_bits_outside_the_scheme(ct_asym: Path, tmp_path: Path) -> None:
    msg = _bad_ct(ct_asym, tmp_path, config=lambda c: _weights(c).update(num_bits=9))
    assert HEAD in msg and "9 bits" in msg and "1 to 8 bits" in msg


def test_ct_packed_width_against_weight_shape(ct_asym: Path, tmp_path: Path) -> None:
    import torch

    def edit(s: dict[str, Any]) -> None:
        s["lm_head.weight_shape"] = torch.tensor([67, 100])

    msg = _bad_ct(ct_asym, tmp_path, tensors=edit)
    assert "lm_head.weight_packed" in msg and "8 int32 words per row" in msg
    assert "100 columns at 4 bits pack into 13" in msg


def test_ct_packed_width_against_hidden_size(ct_asym: Path, tmp_path: Path) -> None:
    msg = _bad_ct(ct_asym, tmp_path, config=lambda c: c.update(hidden_size=32))
    assert HEAD in msg and "gives 64 columns" in msg and "hidden size is 32" in msg


def test_ct_unsupported_format(ct_asym: Path, tmp_path: Path) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["quantization_config"]["config_groups"]["group_0"]["format"] = "nvfp4-pack-quantized"

    msg = _bad_ct(ct_asym, tmp_path, config=edit)
    assert HEAD in msg and "'nvfp4-pack-quantized'" in msg and "pack-quantized" in msg


def test_ct_untargeted_companions(ct_asym: Path, tmp_path: Path) -> None:
    msg = _bad_ct(
        ct_asym, tmp_path, config=lambda c: c["quantization_config"]["ignore"].append("lm_head")
    )
    assert HEAD in msg and "lm_head.weight_scale" in msg and "ignores lm_head" in msg


def test_ct_int8_weight_without_scales_is_refused(ct_asym: Path, tmp_path: Path) -> None:
    import torch

    def edit(s: dict[str, Any]) -> None:
        for k in [k for k in s if k.startswith("lm_head.")]:
            del s[k]
        s[HEAD] = torch.zeros(67, 64, dtype=torch.int8)

    msg = _bad_ct(ct_asym, tmp_path, tensors=edit)
    assert HEAD in msg and "int8" in msg and "lm_head.weight_scale is missing" in msg


def test_no_torch_or_mlx_imported_by_the_reader(tmp_path: Path) -> None:
    """The reader itself is numpy only: reading a quantized table pulls in neither."""
    import subprocess
    import sys

    parts, _ = _quantized("model.embed_tokens", _table(8, 64, 12, mx.bfloat16), 32, 4)
    folder = _save_mlx(tmp_path, parts, {"group_size": 32, "bits": 4})
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from emb_cli.sources.safetensors_file import read_header\n"
        "from emb_cli.sources.quant.guard import attach_quantization\n"
        f"p = Path({str(folder)!r})\n"
        "cfg = json.loads((p / 'config.json').read_text())\n"
        "t = attach_quantization(read_header(p / 'model.safetensors').tensors, cfg, 'x')\n"
        f"t[{EMBED!r}].read_rows([1, 2])\n"
        "print([m for m in ('torch', 'mlx', 'transformers') if m in sys.modules])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
