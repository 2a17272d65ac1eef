"""emb diff against differences planted with torch and measured with torch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import heavy_imports_after

NAME = "model.embed_tokens.weight"


@pytest.fixture
def planted(write_safetensors: Callable[..., Path]) -> tuple[Path, Path, Any, Any]:
    """A: 20 x 6; B: rows 3 and 7 changed, one extra row appended."""
    import torch

    torch.manual_seed(1)
    a = torch.randn(20, 6)
    b = a.clone()
    b[3, 2] += 0.5
    b[7] = -b[7] * 2
    b = torch.cat([b, torch.randn(1, 6)])
    return (
        write_safetensors({NAME: a}, "a.safetensors"),
        write_safetensors({NAME: b}, "b.safetensors"),
        a,
        b,
    )


def test_planted_differences(emb: Any, planted: Any) -> None:
    import torch

    pa, pb, a, b = planted
    doc = emb.json("diff", pa, pb, "-k", "5")
    common = b[:20].double() - a.double()
    assert doc["shape_a"] == [20, 6] and doc["shape_b"] == [21, 6] and doc["shape_changed"]
    assert doc["dtype_a"] == doc["dtype_b"] == "float32" and not doc["dtype_changed"]
    assert doc["rows_only_in_a"] == [] and doc["rows_only_in_b"] == [20, 21]
    assert doc["rows_compared"] == 20
    assert doc["rows_changed"] == 2 and doc["values_changed"] == 7
    assert doc["max_abs_diff"] == common.abs().max().item()
    l2 = torch.linalg.vector_norm(common, dim=1)
    assert doc["mean_l2_change"] == pytest.approx(l2.mean().item(), rel=1e-12)
    cos = torch.nn.functional.cosine_similarity(a.double(), b[:20].double(), dim=1)
    assert doc["mean_cosine"] == pytest.approx(cos.mean().item(), rel=1e-12)
    assert [r["id"] for r in doc["most_changed_l2"]] == [7, 3]
    assert [r["id"] for r in doc["most_changed_cosine"]] == [7, 3]
    by_id = {r["id"]: r for r in doc["most_changed_l2"]}
    assert by_id[7]["l2"] == pytest.approx(l2[7].item(), rel=1e-12)
    assert by_id[7]["cosine"] == pytest.approx(-1.0)
    assert by_id[3]["l2"] == pytest.approx(l2[3].item(), rel=1e-12)
    norms_a = torch.linalg.vector_norm(a.double(), dim=1).mean()
    norms_b = torch.linalg.vector_norm(b[:20].double(), dim=1).mean()
    assert doc["row_norm_ratio"] == pytest.approx((norms_b / norms_a).item(), rel=1e-12)
    assert doc["std_a"] == pytest.approx(a.double().std(unbiased=False).item(), rel=1e-9)
    assert doc["differ"] is True


@pytest.mark.parametrize("rows", [1, 4, 64])
def test_chunking_does_not_change_the_result(planted: Any, rows: int) -> None:
    from emb_cli.analysis.diff import diff_tables
    from emb_cli.options import open_source
    from emb_cli.sources.resolve import SourceArgs

    pa, pb, _, _ = planted
    sa, sb = open_source(SourceArgs(from_=pa)), open_source(SourceArgs(from_=pb))
    got = diff_tables(sa, sb, k=1, rows_per=rows)
    assert got.rows_changed == 2
    assert [r.id for r in got.most_changed_l2] == [7]
    base = diff_tables(sa, sb, k=1)
    assert got.most_changed_l2 == base.most_changed_l2
    assert got.max_abs_diff == base.max_abs_diff


def test_identical_files(emb: Any, planted: Any) -> None:
    pa = planted[0]
    doc = emb.json("diff", pa, pa)
    assert doc["rows_changed"] == 0 and doc["max_abs_diff"] == 0.0 and doc["differ"] is False
    assert doc["most_changed_l2"] == [] and doc["rows_only_in_b"] == []
    r = emb("diff", pa, pa, "--check", ok=True)
    assert "identical" in r.stdout


def test_check_exits_1_when_different(emb: Any, planted: Any) -> None:
    pa, pb, _, _ = planted
    r = emb("diff", pa, pb, "--check")
    assert r.exit_code == 1 and "rows changed: 2 of 20" in r.stdout and r.stderr == ""
    assert emb("diff", pa, pb).exit_code == 0  # without --check a difference is a result


def test_transformers_model_saved_twice(tmp_path: Path, emb: Any) -> None:
    import torch
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=16,
    )  # fmt: skip
    model = BertModel(cfg)
    model.save_pretrained(tmp_path / "before")
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[[5, 40]] += 0.25
    model.save_pretrained(tmp_path / "after")
    doc = emb.json("diff", tmp_path / "before", tmp_path / "after")
    assert doc["rows_changed"] == 2 and doc["values_changed"] == 32
    assert sorted(r["id"] for r in doc["most_changed_l2"]) == [5, 40]
    assert doc["max_abs_diff"] == pytest.approx(0.25, rel=1e-6)
    init = emb.json("diff", tmp_path / "before", "--init", "--seed", "3")
    assert init["a"]["init"] == "normal(0, 0.02), seed 3" and init["shape_a"] == [64, 16]
    assert init["differ"] is True and any("no seed reproduces" in n for n in init["notes"])


@pytest.mark.parametrize(
    "args",
    [
        ["missing.safetensors", "also-missing.safetensors"],
        ["A"],  # neither B nor --init
        ["A", "A", "--init"],
        ["A", "A", "-k", "0"],
        ["A", "A", "--seed", "1"],
        ["A", "--init"],  # a bare file has no config.json
    ],
)
def test_bad_input_exits_2_with_one_line(emb: Any, planted: Any, args: list[str]) -> None:
    pa = str(planted[0])
    r = emb("diff", *[pa if x == "A" else x for x in args])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1


def test_two_files_never_import_torch(planted: Any) -> None:
    argv = ["diff", str(planted[0]), str(planted[1]), "--json"]
    assert heavy_imports_after(argv) == []
