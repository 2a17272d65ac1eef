"""emb tie: built and stored heads."""

from __future__ import annotations

import pytest
import torch


def test_tie_built_shares_storage(emb):
    data = emb.json("tie", "--tie")
    t = data["torch"]
    assert data["verdict"] == "tied" and data["ok"] is True
    assert t["same_object"] and t["same_storage"] and t["grad_accumulated"]
    assert t["logits_shape"] == [1, 3, 3000]


def test_tie_built_untied(emb):
    data = emb.json("tie", "--no-tie")
    assert data["verdict"] == "untied" and data["torch"]["same_storage"] is False


def test_tie_file_duplicated_and_diverged(emb, write_safetensors):
    w = torch.randn(6, 4)
    same = write_safetensors(
        {"model.embed_tokens.weight": w, "lm_head.weight": w.clone()}, name="a.safetensors"
    )
    data = emb.json("tie", "--from", str(same))
    assert data["comparison"]["bitwise_equal"] is True
    head = w.clone()
    head[3, 1] += 1.0
    diff = write_safetensors(
        {"model.embed_tokens.weight": w, "lm_head.weight": head}, name="b.safetensors"
    )
    data = emb.json("tie", "--from", str(diff), "--all-rows")
    assert data["comparison"]["differing_rows"] == 1
    assert data["comparison"]["max_abs_diff"] == pytest.approx(1.0)
