"""emb padding: the pad row and its gradient."""

from __future__ import annotations

import json


def test_padding_built_backward(emb):
    r = emb("padding", "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    g = data["gradient"]
    assert data["verdict"] == "zero-and-frozen"
    rows = {row["id"]: row for row in g["rows"]}
    assert rows[0]["grad_norm"] == 0.0 and rows[0]["occurrences"] > 0
    assert all(rows[i]["grad_norm"] > 0 for i in (73, 786, 2934))
    assert g["padded_positions_zero"] is True


def test_padding_without_padding_idx_learns(emb):
    data = emb.json("padding", "--no-padding-idx")
    rows = {row["id"]: row for row in data["gradient_without_padding_idx"]["rows"]}
    assert rows[0]["grad_norm"] > 0


def test_padding_file_nonzero_row_strict(emb, arange_file):
    r = emb("padding", "--from", str(arange_file), "--pad", "1")
    assert r.exit_code == 0 and "not zero" in r.stdout
    assert emb("padding", "--from", str(arange_file), "--pad", "1", "--strict").exit_code == 1
    # --pad beyond the table is bad usage (2); a config naming a missing row is a finding (1),
    # covered in test_reference_transformers.py
    r = emb("padding", "--from", str(arange_file), "--pad", "8")
    assert r.exit_code == 2 and "outside the table" in r.stderr


def test_padding_no_pad_token(emb):
    data = emb.json("padding", "--pad", "none")
    assert data["verdict"] == "no-pad-token"
