"""Rows holding NaN or Inf are data: undertrained, resize, neighbors and diff count and list
them, leave them out of their statistics, and let no numpy warning through."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

NAME = "model.embed_tokens.weight"
BAD = [5, 9, 11]  # one NaN, one +Inf, a row of -Inf
BAD_B = [5, 9, 11, 30]  # b adds a NaN in row 30


@pytest.fixture
def tables(write_safetensors: Callable[..., Path]) -> tuple[Path, Path, Any, Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 48, generator=g) * 0.02
    a[:, 0] += torch.randn(300, generator=g) * 0.2  # a dominant direction for the PCA
    a[5, 3] = float("nan")
    a[9, 0] = float("inf")
    a[11, :] = float("-inf")
    b = a.clone()
    b[20] += 1.0
    b[5, 4] = 1.0  # a change inside a NaN row
    b[30, 2] = float("nan")
    return (
        write_safetensors({NAME: a}, "a.safetensors"),
        write_safetensors({NAME: b}, "b.safetensors"),
        a.double().numpy(),
        b.double().numpy(),
    )


def run(emb: Any, *args: Any) -> dict[str, Any]:
    """Every warning an error: a numpy RuntimeWarning would end in exit 3, not pass quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = emb(*args, "--json")
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr == ""
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def finite_rows(x: Any) -> Any:
    return np.isfinite(x).all(axis=1)


def test_undertrained(emb: Any, tables: Any) -> None:
    pa, _, a, _ = tables
    r = run(emb, "undertrained", "--from", pa, "--reference", "100,101,102", "--top", "300")
    assert r["nonfinite_rows"] == 3 and r["nonfinite_row_ids"] == BAD
    assert any("NaN/Inf" in n for n in r["notes"])
    listed = [c["id"] for c in r["candidates"] + r["reference_candidates"]]
    assert sorted(listed) == [i for i in range(300) if i not in BAD]
    ok = finite_rows(a)
    x = a[ok]
    norms = np.linalg.norm(x, axis=1)
    assert r["norm_median"] == pytest.approx(np.median(norms), rel=1e-12)
    lam = np.linalg.eigvalsh(np.cov(x.T, bias=True))
    assert r["pc_explained"] == pytest.approx(lam[-1] / lam.sum(), rel=1e-6)
    assert r["pc_gap"] == pytest.approx(1 - lam[-2] / lam[-1], rel=1e-6) and r["pc_removed"]
    # Cosines to the reference mean with the first PC of the finite rows removed.
    vt = np.linalg.svd(x - x.mean(0), full_matrices=False)[2][0]
    proj = np.where(ok[:, None], a, 0.0)
    proj = proj - np.outer(proj @ vt, vt)
    ref = proj[[100, 101, 102]].mean(0)
    with np.errstate(all="ignore"):  # the NaN rows, zeroed here: 0 / 0
        cos = proj @ ref / (np.linalg.norm(proj, axis=1) * np.linalg.norm(ref))
    for c in r["candidates"]:
        assert c["cosine"] == pytest.approx(cos[c["id"]], rel=1e-6, abs=1e-6)


def test_resize_mean_and_covariance(emb: Any, tables: Any) -> None:
    pa, _, a, _ = tables
    r = run(emb, "resize", "310", "--from", pa)
    d = r["embedding"]["distribution"]
    assert d["nonfinite_rows"] == 3 and d["nonfinite_row_ids"] == BAD
    x = a[finite_rows(a)]
    assert d["rows"] == 297
    assert d["mean_norm"] == pytest.approx(np.linalg.norm(x.mean(0)), rel=1e-12)
    cov = np.cov(x.T, bias=True)
    assert d["covariance_trace"] == pytest.approx(np.trace(cov), rel=1e-12)
    assert d["covariance_max_eigenvalue"] == pytest.approx(np.linalg.eigvalsh(cov)[-1], rel=1e-9)
    assert d["positive_definite"] and d["sampler"] == "multivariate-normal"


def test_resize_of_a_table_all_nan(emb: Any, write_safetensors: Callable[..., Path]) -> None:
    import torch

    path = write_safetensors({NAME: torch.full((8, 4), float("nan"))})
    d = run(emb, "resize", "10", "--from", path)["embedding"]["distribution"]
    assert d["rows"] == 0 and d["nonfinite_rows"] == 8 and d["sampler"] == "mean"
    assert d["positive_definite"] is False and d["covariance_max_eigenvalue"] is None


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_neighbors(emb: Any, tables: Any, metric: str) -> None:
    pa, _, a, _ = tables
    r = run(emb, "neighbors", "0", "--from", pa, "--metric", metric, "-k", "10")
    assert r["nonfinite_rows"] == 3 and r["nonfinite_row_ids"] == BAD
    ok = finite_rows(a)
    ok[0] = False  # the query itself
    q = a[0]
    with np.errstate(all="ignore"):
        if metric == "cosine":
            key = a @ q / (np.linalg.norm(a, axis=1) * np.linalg.norm(q))
        elif metric == "dot":
            key = a @ q
        else:
            key = -np.linalg.norm(a - q, axis=1)
    ids = np.flatnonzero(ok)
    want = ids[np.argsort(-key[ids], kind="stable")][:10].tolist()
    got = r["queries"][0]["results"]
    assert [n["id"] for n in got] == want
    assert not set(BAD) & {n["id"] for n in got}


def test_neighbors_of_a_nan_row(emb: Any, tables: Any) -> None:
    pa, _, _, _ = tables
    r = run(emb, "neighbors", "5", "--from", pa)
    assert r["queries"][0]["results"] == []
    assert any("query 1 is made of rows holding NaN/Inf ([5])" in n for n in r["notes"])
    res = emb("neighbors", "5", "--from", pa)
    assert res.exit_code == 0 and "no neighbours" in res.stdout


def test_diff(emb: Any, tables: Any) -> None:
    pa, pb, a, b = tables
    r = run(emb, "diff", pa, pb)
    assert r["nonfinite_rows_a"] == 3 and r["nonfinite_row_ids_a"] == BAD
    assert r["nonfinite_rows_b"] == 4 and r["nonfinite_row_ids_b"] == BAD_B
    assert r["rows_changed"] == 3  # 20; 5 (inside its NaN row); 30 (became NaN)
    ok = finite_rows(a) & finite_rows(b)
    l2 = np.linalg.norm(b[ok] - a[ok], axis=1)
    assert r["mean_l2_change"] == pytest.approx(l2.mean(), rel=1e-12)
    assert r["max_abs_diff"] == pytest.approx(np.abs(b[ok] - a[ok]).max(), rel=1e-12)
    assert r["std_a"] == pytest.approx(a[ok].std(), rel=1e-9)
    assert r["mean_row_norm_b"] == pytest.approx(np.linalg.norm(b[ok], axis=1).mean(), rel=1e-12)
    # A row changed to or from NaN has no distance, and heads the lists.
    top = r["most_changed_l2"]
    assert {x["id"] for x in top[:2]} == {5, 30} and top[0]["l2"] is None
    assert top[2]["id"] == 20 and top[2]["l2"] == pytest.approx(np.linalg.norm(b[20] - a[20]))
    assert any("NaN/Inf" in n for n in r["notes"])
    res = emb("diff", pa, pb)
    assert res.exit_code == 0 and res.stderr == ""
