"""Honest verdicts: a bare table is not `tied`, one stored weight wastes nothing, stats and
tie agree on encoders, the pad source names where the pad came from, info lists what it
counts."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest


def _torch_dir(tmp_path: Path, *, share: bool, tied: bool = True) -> Path:
    """A Hugging Face directory with a pytorch_model.bin: lm_head either the embedding's
    own tensor (torch.save writes one storage record) or a clone of it."""
    import torch

    torch.manual_seed(0)
    w = torch.randn(16, 8)
    d = tmp_path / ("shared" if share else "cloned")
    d.mkdir()
    state = {
        "model.embed_tokens.weight": w,
        "model.norm.weight": torch.ones(8),
        "lm_head.weight": w if share else w.clone(),
    }
    torch.save(state, d / "pytorch_model.bin")
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 16,
        "hidden_size": 8,
        "tie_word_embeddings": tied,
    }
    (d / "config.json").write_text(json.dumps(config))
    return d


def _storage_records(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return sorted(n.split("/data/", 1)[1] for n in z.namelist() if "/data/" in n)


def test_bare_table_is_no_head_not_tied(emb: Any, arange_file: Path) -> None:
    r = emb("tie", "--from", arange_file, ok=True)
    assert r.stdout.splitlines()[-1] == "verdict: no-head"
    assert "tied" not in r.stdout.splitlines()[-1]
    doc = emb.json("tie", "--from", arange_file)
    assert (doc["verdict"], doc["ok"], doc["config_tied"], doc["wasted_bytes"]) == (
        "no-head",
        True,
        None,
        0,
    )
    assert "no config and no head tensor: a bare table, nothing to tie" in doc["evidence"]


def test_one_storage_in_a_torch_zip_is_tied_with_nothing_wasted(emb: Any, tmp_path: Path) -> None:
    d = _torch_dir(tmp_path, share=True)
    # the fixture is what it claims: torch.save wrote the shared weight once
    assert _storage_records(d / "pytorch_model.bin") == ["0", "1"]
    doc = emb.json("tie", "--from", d)
    assert doc["head_tensor"] == "lm_head.weight"
    assert (doc["verdict"], doc["ok"], doc["wasted_bytes"]) == ("tied", True, 0)
    assert "one storage for both in the file: the weight is stored once" in doc["evidence"]
    assert doc["comparison"]["bitwise_equal"] is True


def test_a_cloned_head_is_tied_duplicated_and_wastes_its_bytes(emb: Any, tmp_path: Path) -> None:
    d = _torch_dir(tmp_path, share=False)
    assert _storage_records(d / "pytorch_model.bin") == ["0", "1", "2"]
    doc = emb.json("tie", "--from", d)
    assert (doc["verdict"], doc["wasted_bytes"]) == ("tied-duplicated", 16 * 8 * 4)


def test_one_storage_under_an_untied_config_is_still_one_weight(emb: Any, tmp_path: Path) -> None:
    doc = emb.json("tie", "--from", _torch_dir(tmp_path, share=True, tied=False))
    assert (doc["verdict"], doc["wasted_bytes"]) == ("tied", 0)
    assert "the config says untied, but the model was tied when saved" in doc["evidence"]


def test_stats_and_tie_agree_on_an_encoder(emb: Any, minilm_dir: Path) -> None:
    """all-MiniLM-L6-v2 is a BertModel: no LM head, so one table is stored."""
    tie = emb.json("tie", "--from", minilm_dir)
    stats = emb.json("stats", "--from", minilm_dir)
    assert tie["verdict"] == "no-head"
    assert stats["has_lm_head"] is False
    assert stats["stored_params"] == stats["params"] == 30522 * 384
    text = emb("stats", "--from", minilm_dir, ok=True).stdout
    assert "this model: no LM head (a base model) -> 11,720,448 params stored" in text
    assert "tied: head shares the table" not in text


def test_stats_of_a_causal_lm_keeps_its_head(emb: Any, tmp_path: Path) -> None:
    stats = emb.json("stats", "--from", _torch_dir(tmp_path, share=False, tied=False))
    assert stats["has_lm_head"] is True
    assert stats["stored_params"] == 2 * 16 * 8


@pytest.mark.parametrize(
    ("extra", "source"),
    [((), "default"), (("--pad", "0"), "flag"), (("--preset", "gemma-2-2b"), "preset")],
)
def test_pad_source_names_where_the_pad_came_from(
    emb: Any, extra: tuple[str, ...], source: str
) -> None:
    doc = emb.json("stats", "--vocab", "100352", "--dim", "4096", *extra)
    assert doc["source"]["pad_token_id"] == 0
    assert doc["source"]["pad_source"] == source
    first = emb("stats", "--vocab", "100352", "--dim", "4096", *extra, ok=True).stdout
    assert f"pad 0 ({source})" in first.splitlines()[0]


def test_info_tensor_lists_what_it_counts(emb: Any, tmp_path: Path) -> None:
    import torch

    state = {f"blocks.{i}.weight": torch.zeros(2, 2) for i in range(5)}
    state["my_vocab.table"] = torch.arange(24.0).reshape(6, 4)
    path = tmp_path / "model.pt"
    torch.save(state, path)
    doc = emb.json("info", path, "--tensor", "my_vocab.table")
    assert doc["tensor_count"] == 6
    assert [t["name"] for t in doc["tensors"]] == ["my_vocab.table"]
    assert doc["tensors"][0]["role"] == "input_embedding"
    first = emb("info", path, "--tensor", "my_vocab.table", ok=True).stdout.splitlines()[0]
    assert first.endswith(": 6 tensors, 1 embedding-related listed")


def test_a_gpt2_base_model_is_a_base_model_not_an_encoder(emb: Any, tmp_path: Path) -> None:
    """GPT2Model (no LM head) saved by transformers: no-head, in the right words."""
    import torch
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    GPT2Model(GPT2Config(vocab_size=32, n_embd=8, n_layer=1, n_head=2)).save_pretrained(tmp_path)
    doc = emb.json("tie", "--from", tmp_path)
    assert doc["verdict"] == "no-head"
    assert doc["evidence"][-1] == (
        "architectures ['GPT2Model']: a base model without an LM head; nothing to tie"
    )
    assert "encoder" not in emb("stats", "--from", tmp_path, ok=True).stdout


def test_cache_and_tie_agree_on_a_model_without_a_head(emb: Any, tmp_path: Path) -> None:
    """A BertModel in the Hugging Face cache: tie says no-head, so cache lists no head (its
    config's family default, tied, is not a tie when there is no head to tie)."""
    import torch
    from transformers import BertConfig, BertModel

    from tests.helpers.hub_cache import cache_repo

    torch.manual_seed(0)
    folder = tmp_path / "bert"
    config = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
    )
    BertModel(config).save_pretrained(folder)
    files = {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()}
    cache = tmp_path / "hub"
    cache_repo(cache, "org/bert", {"c" * 40: files}, {"main": "c" * 40})
    snapshot = cache / "models--org--bert" / "snapshots" / ("c" * 40)
    assert emb.json("tie", "--from", snapshot)["verdict"] == "no-head"
    entry = emb.json("cache", "--cache-dir", cache)["models"][0]
    assert (entry["tied"], entry["has_lm_head"]) == (None, False)
    assert entry["tied_source"] == "a base model without an LM head: emb tie says no-head"
    rows = emb("cache", "--cache-dir", cache, ok=True).stdout
    assert "no head" in rows and " tied " not in rows


def test_an_unknown_model_type_claims_no_tie_default(emb: Any, tmp_path: Path) -> None:
    """A config whose model_type transformers does not have (a test model's own): no
    default is claimed, and nothing prints a raw None."""
    import torch
    from safetensors.torch import save_file

    save_file({"embed_tokens.weight": torch.zeros(16, 8)}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "tiny_pellm"}))
    doc = emb.json("tie", "--from", tmp_path)
    why = "model_type 'tiny_pellm' is not a transformers 5.25.0 model type: no tie default"
    assert (doc["verdict"], doc["config_tied"], doc["config_tied_source"]) == ("no-head", None, why)
    assert "default for model_type 'tiny_pellm'" not in json.dumps(doc)
    text = emb("info", tmp_path, ok=True).stdout
    assert f"tie: config unknown ({why}); head stored: no" in text
    assert "None" not in text
    bare = emb("info", tmp_path / "model.safetensors", "--no-siblings", ok=True).stdout
    assert "tie: no config states it; head stored: no" in bare
    assert "None" not in bare
