"""--tsv: one header line, then rows whose cells equal the --json values (for cut/awk/sort)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emb_cli.render.output import tsv_cell
from tests.helpers import assert_refused


def rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.rstrip("\n").split("\n")
    header, body = lines[0].split("\t"), [ln.split("\t") for ln in lines[1:]]
    assert all(len(r) == len(header) for r in body), (header, body)
    return header, body


def test_lookup_tsv_is_the_json_in_columns(emb: Any, arange_file: Path) -> None:
    header, body = rows(
        emb("lookup", "3", "0", "7", "--from", arange_file, "--tsv", ok=True).stdout
    )
    assert header == ["pos", "id", "token", "norm", "v0", "v1", "v2", "v3"]
    doc = emb.json("lookup", "3", "0", "7", "--from", arange_file)
    assert [int(r[1]) for r in body] == doc["ids"] == [3, 0, 7]
    assert [[float(x) for x in r[4:]] for r in body] == doc["vectors"]
    assert [float(r[3]) for r in body] == doc["norms"]  # repr: round-trips exactly
    assert [r[2] for r in body] == ["", "", ""]  # no tokenizer: empty cells


def test_batch_tsv_marks_padded_positions(emb: Any) -> None:
    out = emb("lookup", "--batch", "73,786,2934", "--batch", "5,6", "--tsv", ok=True).stdout
    header, body = rows(out)
    assert header[:4] == ["b", "t", "id", "pad"] and len(header) == 4 + 8
    assert [(r[0], r[1], r[2], r[3]) for r in body][-1] == ("1", "2", "0", "true")
    assert sum(r[3] == "true" for r in body) == 1


def test_presets_tsv_names_are_whole(emb: Any) -> None:
    header, body = rows(emb("presets", "--tsv", ok=True).stdout)
    doc = emb.json("presets")
    assert header == list(doc["presets"][0])
    assert [r[0] for r in body] == [p["name"] for p in doc["presets"]]
    bert = next(r for r in body if r[0] == "bert-base-uncased")
    assert bert[1:5] == ["30522", "768", "0", "true"]
    gpt2 = next(r for r in body if r[0] == "gpt2")
    assert gpt2[3] == ""  # no pad token


def test_neighbors_tsv_and_token_order(emb: Any, minilm_dir: Path) -> None:
    args = ("neighbors", "--from", minilm_dir, "--text", "zebra apple", "-k", "3")
    header, body = rows(emb(*args, "--tsv", ok=True).stdout)
    doc = emb.json(*args)
    q = doc["queries"][0]
    assert header == ["query", "rank", "id", "token", "cosine"]
    assert [(int(r[2]), r[3], float(r[4])) for r in body] == [
        (n["id"], n["token"], n["score"]) for n in q["results"]
    ]
    # the query's ids as tokenised, zebra before apple, not sorted
    assert q["ids"] == [29145, 6207]
    assert "ids [29145, 6207]" in emb(*args, ok=True).stdout


def test_info_tsv_full_tensor_names(emb: Any, minilm_dir: Path) -> None:
    header, body = rows(emb("info", minilm_dir, "--tsv", ok=True).stdout)
    assert header == ["name", "role", "dtype", "shape", "bytes", "file"]
    assert [
        "embeddings.position_embeddings.weight",
        "position_embedding",
        "float32",
        "512x384",
    ] in [r[:4] for r in body]
    assert all(Path(r[5]).is_file() for r in body)


def test_undertrained_and_diff_tsv(emb: Any, minilm_dir: Path) -> None:
    header, body = rows(
        emb("undertrained", "--from", minilm_dir, "--top", "4", "--tsv", ok=True).stdout
    )
    doc = emb.json("undertrained", "--from", minilm_dir, "--top", "4")
    assert header[:3] == ["rank", "id", "token"] and header[-1] == "set"
    outside = [r for r in body if r[-1] == "candidates"]
    inside = [r for r in body if r[-1] == "reference"]
    assert [int(r[1]) for r in outside] == [c["id"] for c in doc["candidates"]]
    assert [int(r[1]) for r in inside] == [c["id"] for c in doc["reference_candidates"]]
    header, body = rows(emb("diff", minilm_dir, "--init", "-k", "2", "--tsv", ok=True).stdout)
    assert header == ["by", "rank", "id", "token", "l2", "cosine"]
    assert [r[0] for r in body] == ["l2", "l2", "cosine", "cosine"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (True, "true"),
        (0.1, "0.1"),
        ("a\tb", "a\\tb"),
        ("line\nnext\r", "line\\nnext\\r"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_tsv_cells_never_break_a_row(value: object, cell: str) -> None:
    assert tsv_cell(value) == cell


@pytest.mark.parametrize("order", [("--json", "--tsv"), ("--tsv", "--json")])
def test_json_and_tsv_together_are_refused(emb: Any, order: tuple[str, str]) -> None:
    assert_refused(emb("presets", *order), "--json or --tsv")
    # refused as the options are parsed: the missing file is never looked for
    missing = ("lookup", "1", "--from", "/nonexistent/x.safetensors", *order)
    assert_refused(emb(*missing), "--json or --tsv")
