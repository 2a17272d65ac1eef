"""Every command on an MLX-quantized checkpoint, as mlx_lm saves one: the dequantized table.

The reference is mlx itself: `mx.dequantize` of the stored parts, compared bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import assert_refused
from tests.helpers.mlx_checkpoints import EMBED, HEAD, _quantized, _save_mlx, _table

mx = pytest.importorskip("mlx.core")

ROWS, COLS, GS, BITS = 300, 128, 64, 4


@pytest.fixture(scope="module")
def mlx_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    parts, ref = _quantized("model.embed_tokens", _table(ROWS, COLS, 5, mx.bfloat16), GS, BITS)
    head, _ = _quantized("lm_head", _table(ROWS, COLS, 6, mx.bfloat16), GS, BITS)
    quant = {"group_size": GS, "bits": BITS}
    folder = _save_mlx(
        tmp_path_factory.mktemp("mlx") / "m",
        {**parts, **head},
        quant,
        hidden_size=COLS,
        vocab_size=ROWS,
        tie_word_embeddings=False,
    )
    return folder, ref


def test_lookup_is_mx_dequantize(emb: Any, mlx_dir: tuple[Path, np.ndarray]) -> None:
    folder, ref = mlx_dir
    doc = emb.json("lookup", "0", "7", "299", "--from", str(folder))
    assert doc["dtype"] == f"mlx-q{BITS}" and doc["shape"] == [1, 3, COLS]
    got = np.array(doc["vectors"], dtype=np.float32)
    assert got.tobytes() == ref[[0, 7, 299]].tobytes()


def test_stats_and_info_show_the_scheme(emb: Any, mlx_dir: tuple[Path, np.ndarray]) -> None:
    folder, _ = mlx_dir
    stats = emb.json("stats", "--from", str(folder))
    assert (stats["vocab_size"], stats["hidden_size"]) == (ROWS, COLS)
    q = stats["quantization"]
    assert (q["bits"], q["group_size"], q["scale_dtype"]) == (BITS, GS, "bfloat16")
    # 4-bit codes + a bf16 scale and bias per 64 values: 0.5 + 4 / 64 bytes per parameter
    assert q["bytes_per_param"] == pytest.approx(0.5 + 4 / GS)
    assert q["stored_nbytes"] == ROWS * COLS // 2 + 2 * ROWS * (COLS // GS) * 2
    info = emb.json("info", str(folder))
    assert info["quantization"] == q
    assert info["table_rows"] == ROWS and info["embed_dim"] == COLS
    r = emb("stats", "--from", str(folder), ok=True)
    assert "4-bit" in r.stdout and "bytes/param" in r.stdout


def test_init_stats_measures_the_values(emb: Any, mlx_dir: tuple[Path, np.ndarray]) -> None:
    folder, ref = mlx_dir
    doc = emb.json("init-stats", "--from", str(folder))
    vals = ref.astype(np.float64)
    assert doc["measured"]["max"] == pytest.approx(float(vals.max()))
    assert doc["measured"]["min"] == pytest.approx(float(vals.min()))


def test_tie_compares_stored_words(emb: Any, tmp_path: Path) -> None:
    parts, ref_a = _quantized("model.embed_tokens", _table(64, 64, 8, mx.float16), 32, 8)
    head = {k.replace("model.embed_tokens", "lm_head"): v for k, v in parts.items()}
    folder = _save_mlx(tmp_path / "dup", {**parts, **head}, {"group_size": 32, "bits": 8})
    doc = emb.json("tie", "--from", str(folder))
    assert doc["comparison"]["bitwise_equal"] is True
    assert any("same stored words" in e for e in doc["evidence"])
    other, ref_b = _quantized("lm_head", _table(64, 64, 9, mx.float16), 32, 8)
    folder2 = _save_mlx(
        tmp_path / "diff",
        {**parts, **other},
        {"group_size": 32, "bits": 8},
        tie_word_embeddings=False,
    )
    doc = emb.json("tie", "--from", str(folder2))
    assert doc["verdict"] == "untied" and doc["comparison"]["bitwise_equal"] is False
    # the values the words stand for, not byte differences
    expected = np.abs(ref_a.astype(np.float64) - ref_b.astype(np.float64)).max()
    assert doc["comparison"]["max_abs_diff"] == pytest.approx(float(expected))


def test_unknown_packed_table_is_refused_and_raw_reads_it(emb: Any, tmp_path: Path) -> None:
    parts, _ = _quantized("model.embed_tokens", _table(8, 64, 11, mx.bfloat16), 32, 4)
    folder = _save_mlx(tmp_path, parts, None)  # the config lost its quantization
    r = emb("init-stats", "--from", str(folder))
    assert_refused(r, EMBED, "uint32", "model.embed_tokens.scales")
    doc = emb.json("lookup", "1", "--from", str(folder), "--raw", "--tensor", EMBED)
    assert doc["dtype"] == "uint32"


def test_quantized_head_name_is_used(mlx_dir: tuple[Path, np.ndarray]) -> None:
    folder, _ = mlx_dir
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["quantization"] == {"group_size": GS, "bits": BITS}
    assert HEAD == "lm_head.weight"


@pytest.mark.parametrize(
    "argv",
    [
        ["padding"],
        ["undertrained", "--top", "5"],
        ["neighbors", "3", "-k", "4"],
        ["resize", "320"],
    ],
)
def test_every_table_command_reads_the_values(
    emb: Any, mlx_dir: tuple[Path, np.ndarray], argv: list[str]
) -> None:
    folder, ref = mlx_dir
    doc = emb.json(*argv, "--from", str(folder))
    assert doc["source"]["dtype"] == f"mlx-q{BITS}"
    if argv[0] == "neighbors":  # cosine against the dequantized rows, computed here
        r = ref.astype(np.float64)
        cos = r @ r[3] / (np.linalg.norm(r, axis=1) * np.linalg.norm(r[3]))
        cos[3] = -np.inf
        got = [n["id"] for n in doc["queries"][0]["results"]]
        assert got == [int(i) for i in np.argsort(-cos, kind="stable")[:4]]


def test_diff_of_two_quantized_tables(emb: Any, mlx_dir: tuple[Path, np.ndarray]) -> None:
    folder, _ = mlx_dir
    doc = emb.json("diff", str(folder), str(folder))
    assert doc["differ"] is False
