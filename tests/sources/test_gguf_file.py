"""GGUF files written here with gguf's own GGUFWriter, read back through the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import assert_refused

V, D = 8, 64  # V != D so a swapped dimension order shows; Q8_0 needs D % 32 == 0
PAD = 3


def table(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((V, D)).astype(np.float32)


def stored(values: np.ndarray, kind: str) -> tuple[np.ndarray, Any, np.ndarray]:
    """(array to write, raw_dtype, the float32 values a reader must give back)."""
    import gguf
    from gguf.quants import dequantize, quantize

    if kind == "F32":
        return values, None, values
    if kind == "F16":
        half = values.astype(np.float16)
        return half, None, half.astype(np.float32)
    qtype = gguf.GGMLQuantizationType[kind]
    q = quantize(values, qtype)
    return q, qtype, dequantize(q, qtype)


@pytest.fixture
def write_gguf(tmp_path: Path) -> Callable[..., tuple[Path, np.ndarray]]:
    """Write token_embd.weight (and maybe output.weight); returns the path and expected rows."""

    def write(
        kind: str = "F32", output: str | None = None, output_seed: int = 1, name: str = "m.gguf"
    ) -> tuple[Path, np.ndarray]:
        import gguf

        path = tmp_path / name
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_embedding_length(D)
        w.add_token_list([f"tok{i}" for i in range(V)])
        w.add_pad_token_id(PAD)
        data, raw, expected = stored(table(0), kind)
        w.add_tensor("token_embd.weight", data, raw_dtype=raw)
        if output is not None:
            odata, oraw, _ = stored(table(output_seed), output)
            w.add_tensor("output.weight", odata, raw_dtype=oraw)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path, expected

    return write


@pytest.mark.parametrize("kind", ["F32", "F16", "Q8_0"])
def test_lookup_gives_the_stored_values(
    emb: Any, write_gguf: Callable[..., Any], kind: str
) -> None:
    path, expected = write_gguf(kind)
    got = emb.json("lookup", "5", "0", "5", "--from", str(path))
    assert got["shape"] == [1, 3, D]
    assert got["dtype"] == {"F32": "float32", "F16": "float16", "Q8_0": "q8_0"}[kind]
    vectors = np.array(got["vectors"], dtype=np.float32)
    np.testing.assert_array_equal(vectors, expected[[5, 0, 5]])
    assert got["source"]["vocab_size"] == V
    assert got["source"]["embed_dim"] == D
    assert got["source"]["pad_token_id"] == PAD


def test_stats_reads_the_header(emb: Any, write_gguf: Callable[..., Any]) -> None:
    path, _ = write_gguf("Q8_0")
    got = emb.json("stats", "--from", str(path))
    assert (got["vocab_size"], got["hidden_size"], got["params"]) == (V, D, V * D)
    assert got["tied"] is True
    assert got["stored_params"] == V * D
    assert got["source"]["origin"] == "gguf"
    assert got["source"]["dtype"] == "q8_0"


def test_stats_counts_a_separate_output(emb: Any, write_gguf: Callable[..., Any]) -> None:
    path, _ = write_gguf("F16", output="F16")
    got = emb.json("stats", "--from", str(path))
    assert got["tied"] is None  # a GGUF has no tie flag; the stored head is counted
    assert got["stored_params"] == 2 * V * D


def test_tie_without_output_weight_is_tied(emb: Any, write_gguf: Callable[..., Any]) -> None:
    path, _ = write_gguf("Q8_0")
    r = emb("tie", "--from", str(path), "--json", ok=True)
    assert '"verdict": "tied"' in r.stdout


@pytest.mark.parametrize(
    ("kind", "output", "seed", "verdict"),
    [
        ("F32", "F32", 1, "untied"),
        ("Q8_0", "Q8_0", 1, "untied"),
        ("Q8_0", "F16", 1, "untied"),  # mixed types, as llama.cpp quantisations often store
        # A GGUF has no tie flag: a stored output.weight equal to token_embd is a tie
        # stored twice (llama.cpp's converter copies GPT-2's tied head), its bytes wasted.
        ("Q8_0", "Q8_0", 0, "tied-duplicated"),
        ("F16", "F16", 0, "tied-duplicated"),
    ],
)
def test_tie_with_output_weight_compares_values(
    emb: Any, write_gguf: Callable[..., Any], kind: str, output: str, seed: int, verdict: str
) -> None:
    path, _ = write_gguf(kind, output=output, output_seed=seed)
    got = emb.json("tie", "--from", str(path))
    assert got["verdict"] == verdict
    assert got["head_tensor"] == "output.weight"
    assert got["config_tied"] is None
    duplicated = verdict == "tied-duplicated"
    assert got["comparison"]["bitwise_equal"] is duplicated
    head_bytes = gguf_reader_nbytes(path, "output.weight")
    assert got["wasted_bytes"] == (head_bytes if duplicated else 0)
    assert not any(line.startswith("config:") for line in got["evidence"])


def test_init_stats_runs(emb: Any, write_gguf: Callable[..., Any]) -> None:
    path, _ = write_gguf("Q8_0")
    got = emb.json("init-stats", "--from", str(path))
    assert got["source"]["vocab_size"] == V


def test_bad_magic_is_refused(emb: Any, tmp_path: Path) -> None:
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"NOPE" + bytes(64))
    r = emb("lookup", "1", "--from", str(path))
    assert_refused(r)
    assert "not a GGUF file" in r.stderr


@pytest.mark.parametrize("kind", ["F32", "Q8_0"])
def test_truncated_tensor_data_is_refused(
    emb: Any, write_gguf: Callable[..., Any], kind: str
) -> None:
    path, _ = write_gguf(kind)
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    r = emb("lookup", "1", "--from", str(path))
    assert_refused(r)
    assert "truncated" in r.stderr


def test_unsupported_quant_type_is_named(emb: Any, tmp_path: Path) -> None:
    import gguf

    # Q8_1 has a block layout in ggml but no dequantiser in gguf-py.
    qtype = gguf.GGMLQuantizationType.Q8_1
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    path = tmp_path / "q81.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_embedding_length(D)
    w.add_tensor("token_embd.weight", np.zeros((V, D // block * size), np.uint8), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert emb.json("stats", "--from", str(path))["source"]["dtype"] == "q8_1"
    r = emb("lookup", "1", "--from", str(path))
    assert_refused(r)
    assert "Q8_1" in r.stderr


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_any_truncation_is_an_input_error(
    emb: Any, write_gguf: Callable[..., Any], tmp_path: Path, cut: int
) -> None:
    path, _ = write_gguf("Q8_0", output="F16", name="whole.gguf")
    data = path.read_bytes()
    short = tmp_path / "short.gguf"
    short.write_bytes(data[: cut % len(data)])
    assert_refused(emb("lookup", "1", "--from", str(short)))


def gguf_reader_nbytes(path: Path, name: str) -> int:
    """A tensor's stored bytes as gguf's own GGUFReader counts them."""
    import gguf

    found = [t for t in gguf.GGUFReader(str(path)).tensors if t.name == name]
    assert len(found) == 1
    return int(found[0].n_bytes)


def test_pad_id_is_labelled_as_the_gguf_metadata(emb: Any, write_gguf: Callable[..., Any]) -> None:
    """tokenizer.ggml.padding_token_id is the file's metadata, not a config.json."""
    path, _ = write_gguf("F32")
    got = emb.json("info", str(path))
    assert (got["pad_token_id"], got["pad_source"]) == (PAD, "gguf")
    assert got["pad_ids_found"] == {"gguf": PAD}
    r = emb("lookup", "1", "--from", str(path), ok=True)
    assert f"pad {PAD} (gguf metadata)" in r.stdout
    r = emb("info", str(path), ok=True)
    assert f"pad token: {PAD} (from gguf metadata); gguf={PAD}" in r.stdout


def test_tie_of_a_file_without_output_says_what_llama_cpp_does(
    emb: Any, write_gguf: Callable[..., Any]
) -> None:
    path, _ = write_gguf("F32")
    got = emb.json("tie", "--from", str(path))
    assert (got["verdict"], got["config_tied"]) == ("tied", True)
    assert got["evidence"][0] == (
        "tie: gguf: no output.weight, so llama.cpp uses token_embd as the head"
    )
    r = emb("info", str(path), ok=True)
    assert "tie: tied (gguf: no output.weight, so llama.cpp uses token_embd as the head)" in (
        r.stdout
    )


# ---------------------------------------------------------------- quantization facts


def _block_types() -> list[str]:
    """Every block-quantised ggml type gguf knows (values per block > 1)."""
    from gguf.constants import GGML_QUANT_SIZES

    return sorted(t.name for t, (block, _) in GGML_QUANT_SIZES.items() if block > 1)


def _write_raw(path: Path, type_name: str, rows: int, cols: int, seed: int = 0) -> int:
    """token_embd.weight of a ggml type as raw blocks of the right size (gguf's quants
    cannot quantise most K and IQ types); returns the stored bytes."""
    import gguf
    from gguf.constants import GGML_QUANT_SIZES

    qtype = gguf.GGMLQuantizationType[type_name]
    block, size = GGML_QUANT_SIZES[qtype]
    raw = np.random.default_rng(seed).integers(0, 256, (rows, cols // block * size), np.uint8)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_embedding_length(cols)
    w.add_tensor("token_embd.weight", raw, raw_shape=raw.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return raw.nbytes


@pytest.mark.parametrize("type_name", _block_types())
def test_every_ggml_block_type_reports_its_quantization(
    emb: Any, tmp_path: Path, type_name: str
) -> None:
    """info and stats --json fill `quantization` from the header: the type's block size and
    bytes as gguf's GGML_QUANT_SIZES gives them, the stored bytes as GGUFReader counts."""
    import gguf
    from gguf.constants import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[gguf.GGMLQuantizationType[type_name]]
    path = tmp_path / f"{type_name}.gguf"
    stored_bytes = _write_raw(path, type_name, 3, 256)
    assert stored_bytes == gguf_reader_nbytes(path, "token_embd.weight")
    info = emb.json("info", str(path))["quantization"]
    stats = emb.json("stats", "--from", str(path))["quantization"]
    assert info == stats
    assert info["name"] == f"gguf/{type_name}"
    assert info["group_size"] == block
    assert info["stored_nbytes"] == stored_bytes
    assert info["bytes_per_param"] == size / block
    assert info["strategy"] == "group"


@pytest.mark.parametrize(
    ("kind", "bits", "bits_per_weight", "zero"),
    [("Q8_0", 8, 8.5, "none"), ("Q4_0", 4, 4.5, "none"), ("Q4_K", 4, 4.5, "bias")],
)
def test_quantized_table_shows_stored_bytes_and_bits(
    emb: Any, tmp_path: Path, kind: str, bits: int, bits_per_weight: float, zero: str
) -> None:
    """Q8_0 and Q4_0 quantised by gguf's own quants module; Q4_K written as raw blocks."""
    import gguf
    from gguf.quants import quantize

    path = tmp_path / f"{kind}.gguf"
    rows, cols = 4, 256
    if kind == "Q4_K":
        stored_bytes = _write_raw(path, kind, rows, cols)
    else:
        q = quantize(table(0).repeat(4, axis=1)[:rows, :cols], gguf.GGMLQuantizationType[kind])
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_tensor("token_embd.weight", q, raw_dtype=gguf.GGMLQuantizationType[kind])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        stored_bytes = q.nbytes
    assert stored_bytes == gguf_reader_nbytes(path, "token_embd.weight")
    q_json = emb.json("stats", "--from", str(path))["quantization"]
    assert (q_json["bits"], q_json["zero"]) == (bits, zero)
    assert q_json["bytes_per_param"] * 8 == bits_per_weight
    assert q_json["stored_nbytes"] == stored_bytes == rows * cols * bits_per_weight / 8
    r = emb("stats", "--from", str(path), ok=True)
    assert (
        f"stored  gguf/{kind}, {bits}-bit, groups of {32 if kind != 'Q4_K' else 256}, "
        f"float16 scales: {stored_bytes:,} bytes, {bits_per_weight / 8:.4g} bytes/param = "
        f"{bits_per_weight:.4g} bits/param"
    ) in r.stdout


@pytest.mark.slow
def test_gpt2_converted_with_its_tied_head_is_tied_duplicated(emb: Any, tmp_path: Path) -> None:
    """llama.cpp's convert_hf_to_gguf.py writes every tensor of GPT2LMHeadModel's state
    dict, so the tied lm_head.weight becomes output.weight, a copy of token_embd.weight
    (conversion/gpt2.py maps names only). A GGUF has no tie flag: the copy is a tie stored
    twice, and the bytes of the copy are wasted."""
    import gguf
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=1, n_head=2))
    sd = model.state_dict()
    assert sd["lm_head.weight"].data_ptr() == sd["transformer.wte.weight"].data_ptr()
    path = tmp_path / "gpt2.gguf"
    w = gguf.GGUFWriter(str(path), "gpt2")
    w.add_embedding_length(32)
    w.add_tensor("token_embd.weight", sd["transformer.wte.weight"].numpy().astype(np.float16))
    w.add_tensor("output.weight", sd["lm_head.weight"].numpy().astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    got = emb.json("tie", "--from", str(path))
    assert got["verdict"] == "tied-duplicated" and got["ok"] is True
    assert got["config_tied"] is None
    assert got["wasted_bytes"] == gguf_reader_nbytes(path, "output.weight") == 64 * 32 * 2
    assert got["evidence"][0] == (
        "tie: gguf: no tie flag; llama.cpp uses the stored output.weight as the head, and its "
        "converter writes one for some tied models (GPT-2)"
    )
    assert "no flag states a tie, but the stored head is a copy of the table" in got["evidence"]
    info = emb.json("info", str(path))
    assert (info["tied"], info["head_stored"]) == (None, True)


@pytest.mark.slow
def test_gpt2_converted_by_llama_cpp_is_tied_duplicated(emb: Any, tmp_path: Path) -> None:
    """The file itself made by llama.cpp's convert_hf_to_gguf.py from a tied GPT-2 saved as
    pytorch_model.bin: it writes output.weight, a copy of token_embd.weight."""
    from tests.helpers.llama_cpp_converter import convert, save_gpt2

    folder, path = tmp_path / "gpt2", tmp_path / "gpt2.gguf"
    save_gpt2(folder)
    convert(folder, path)
    head_bytes = gguf_reader_nbytes(path, "output.weight")
    assert head_bytes == gguf_reader_nbytes(path, "token_embd.weight") == 50257 * 8 * 4
    got = emb.json("tie", "--from", str(path))
    assert (got["verdict"], got["config_tied"], got["wasted_bytes"]) == (
        "tied-duplicated",
        None,
        head_bytes,
    )
    assert got["comparison"]["bitwise_equal"] is True
    assert not any(line.startswith("config:") for line in got["evidence"])
    # the folder it came from: one storage for both names in the torch zip
    assert emb.json("tie", "--from", str(folder))["verdict"] == "tied"
