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
    assert got["tied"] is False
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
        # A present output.weight means llama.cpp runs an untied head, so a copy is
        # "untied-identical" (LoadedSource reads GGUF ties from output.weight's presence).
        ("Q8_0", "Q8_0", 0, "untied-identical"),
        ("F16", "F16", 0, "untied-identical"),
    ],
)
def test_tie_with_output_weight_compares_values(
    emb: Any, write_gguf: Callable[..., Any], kind: str, output: str, seed: int, verdict: str
) -> None:
    path, _ = write_gguf(kind, output=output, output_seed=seed)
    got = emb.json("tie", "--from", str(path))
    assert got["verdict"] == verdict
    assert got["head_tensor"] == "output.weight"
    assert got["comparison"]["bitwise_equal"] is (verdict == "untied-identical")


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
