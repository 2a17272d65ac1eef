"""emb neighbors against a brute-force torch computation over the full table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import heavy_imports_after

NAME = "model.embed_tokens.weight"


def brute(
    w: Any, query: Any, k: int, metric: str = "cosine", exclude: tuple[int, ...] = ()
) -> tuple[list[int], list[float]]:
    """Top-k over the whole table in float64 torch; returns ids and scores."""
    import torch

    w64, q = w.double(), query.double()
    if metric == "cosine":
        key = torch.nn.functional.cosine_similarity(w64, q[None, :], dim=1)
    elif metric == "dot":
        key = w64 @ q
    else:
        key = -torch.linalg.vector_norm(w64 - q, dim=1)
    key[list(exclude)] = -torch.inf
    vals, ids = torch.topk(key, k)
    scores = (-vals if metric == "l2" else vals).tolist()
    return ids.tolist(), scores


@pytest.fixture
def small(write_safetensors: Callable[..., Path]) -> tuple[Path, Any]:
    import torch

    torch.manual_seed(0)
    w = torch.randn(50, 6)
    return write_safetensors({NAME: w}), w


@pytest.fixture(scope="module")
def minilm_w(minilm_dir: Path) -> Any:
    from safetensors.torch import load_file

    return load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]


def _ids_scores(doc: dict[str, Any], q: int = 0) -> tuple[list[int], list[float]]:
    res = doc["queries"][q]["results"]
    return [r["id"] for r in res], [r["score"] for r in res]


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_small_table_matches_torch_for_every_metric(emb: Any, small: Any, metric: str) -> None:
    path, w = small
    doc = emb.json("neighbors", "7", "--from", path, "-k", "5", "--metric", metric)
    ids, scores = _ids_scores(doc)
    want_ids, want_scores = brute(w, w[7], 5, metric, exclude=(7,))
    assert ids == want_ids
    assert scores == pytest.approx(want_scores, rel=1e-12, abs=1e-12)
    assert doc["metric"] == metric and doc["queries"][0]["ids"] == [7]
    assert all(r["token"] is None for r in doc["queries"][0]["results"])


@pytest.mark.parametrize("rows", [1, 3, 7, 50])
def test_chunking_does_not_change_the_result(small: Any, rows: int) -> None:
    from emb_cli.analysis.neighbors import Term, nearest
    from emb_cli.options import open_source
    from emb_cli.sources.resolve import SourceArgs

    path, w = small
    source = open_source(SourceArgs(from_=path))
    q = [[Term(1, [3]), Term(1, [11]), Term(-1, [20])]]
    got = nearest(source, q, "cosine", 8, rows_per_chunk=rows)
    base = nearest(source, q, "cosine", 8)
    assert got.queries == base.queries
    w = w.double()
    want_ids, _ = brute(w, w[3] + w[11] - w[20], 8, exclude=(3, 11, 20))
    assert [r.id for r in got.queries[0].results] == want_ids


def test_query_tokens_excluded_unless_asked(emb: Any, small: Any) -> None:
    path, w = small
    default = emb.json("neighbors", "9", "--from", path, "-k", "50")
    assert 9 not in _ids_scores(default)[0] and len(_ids_scores(default)[0]) == 49
    kept = emb.json("neighbors", "9", "--from", path, "-k", "3", "--include-query")
    ids, scores = _ids_scores(kept)
    assert ids[0] == 9 and scores[0] == pytest.approx(1.0)
    assert kept["exclude_query"] is False


def test_minilm_token_id(emb: Any, minilm_dir: Path, minilm_w: Any) -> None:
    doc = emb.json("neighbors", "2293", "--from", minilm_dir)
    ids, scores = _ids_scores(doc)
    want_ids, want_scores = brute(minilm_w, minilm_w[2293], 10, exclude=(2293,))
    assert ids == want_ids
    assert scores == pytest.approx(want_scores, rel=1e-12)
    tokens = [r["token"] for r in doc["queries"][0]["results"]]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    assert tokens == [tok.id_to_token(i) for i in want_ids]


def test_minilm_text_is_the_mean_of_its_tokens(emb: Any, minilm_dir: Path, minilm_w: Any) -> None:
    doc = emb.json("neighbors", "--from", minilm_dir, "--text", "playing football", "-k", "7")
    q = doc["queries"][0]
    assert len(q["ids"]) >= 2 and q["expression"] == "playing football"
    ids = q["terms"][0]["ids"]
    want_ids, want_scores = brute(minilm_w, minilm_w[ids].double().mean(0), 7, exclude=tuple(ids))
    assert _ids_scores(doc) == (want_ids, pytest.approx(want_scores, rel=1e-12))


def test_minilm_each_token_separately(emb: Any, minilm_dir: Path, minilm_w: Any) -> None:
    doc = emb.json("neighbors", "--from", minilm_dir, "--text", "dog cat", "--each", "-k", "4")
    assert len(doc["queries"]) == 2
    for n, q in enumerate(doc["queries"]):
        (tid,) = q["ids"]
        assert _ids_scores(doc, n)[0] == brute(minilm_w, minilm_w[tid], 4, exclude=(tid,))[0]
    assert doc["queries"][0]["results"][0]["token"] == "dogs"


def test_minilm_king_minus_man_plus_woman(emb: Any, minilm_dir: Path, minilm_w: Any) -> None:
    doc = emb.json(
        "neighbors", "--from", minilm_dir, "--positive", "king", "--negative", "man",
        "--positive", "woman", "-k", "5",
    )  # fmt: skip
    q = doc["queries"][0]
    by_text = {t["text"]: t["ids"] for t in q["terms"]}
    (king,), (man,), (woman,) = by_text["king"], by_text["man"], by_text["woman"]
    w = minilm_w.double()
    v = w[king] - w[man] + w[woman]
    want_ids, want_scores = brute(minilm_w, v, 5, exclude=(king, man, woman))
    assert _ids_scores(doc) == (want_ids, pytest.approx(want_scores, rel=1e-12))
    assert q["results"][0]["token"] == "queen"
    by_id = emb.json(
        "neighbors", "--from", minilm_dir, "--positive-id", str(king),
        "--negative-id", str(man), "--positive-id", str(woman), "-k", "5",
    )  # fmt: skip
    assert _ids_scores(by_id)[0] == want_ids


def test_built_table(emb: Any) -> None:
    import torch

    doc = emb.json("neighbors", "5", "--vocab", "300", "--dim", "8", "-k", "4")
    torch.manual_seed(42)
    w = torch.empty(300, 8).normal_(0, 0.02)
    w[0] = 0
    want_ids, want_scores = brute(w, w[5], 4, exclude=(5,))
    assert _ids_scores(doc) == (want_ids, pytest.approx(want_scores, rel=1e-12))


def test_human_output(emb: Any, minilm_dir: Path) -> None:
    r = emb("neighbors", "--from", minilm_dir, "--text", "dog", "-k", "3", ok=True)
    assert "query dog" in r.stdout and "'dogs'" in r.stdout and r.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["5", "-k", "0"],
        ["3000"],
        ["--text", "dog"],  # the built default table has no tokenizer
        ["5", "--each", "--positive-id", "3"],
        [],
        ["x1"],
    ],
)
def test_bad_input_exits_2_with_one_line(emb: Any, args: list[str]) -> None:
    r = emb("neighbors", *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1


def test_file_path_never_imports_torch(minilm_dir: Path) -> None:
    argv = ["neighbors", "--from", str(minilm_dir), "--text", "dog", "--json"]
    assert heavy_imports_after(argv) == []
