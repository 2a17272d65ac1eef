"""emb lookup over each source kind: exact values against torch and the file."""

from __future__ import annotations

import json

import pytest
import torch

IDS = ["73", "786", "2934"]


def default_weight() -> torch.Tensor:
    """The README's recipe for configs/default.toml."""
    torch.manual_seed(42)
    w = torch.empty(3000, 8).normal_(0, 0.02)
    w[0] = 0
    return w


# --- sources -------------------------------------------------------------------------------


def test_default_lookup_matches_torch_forward(emb):
    data = emb.json("lookup", *IDS)
    embed = torch.nn.Embedding.from_pretrained(default_weight(), padding_idx=0)
    out = embed(torch.tensor([[73, 786, 2934]]))
    assert data["shape"] == list(out.shape) == [1, 3, 8]
    assert data["ids"] == [73, 786, 2934]
    assert data["vectors"] == out[0].tolist()
    assert data["source"]["origin"] == "default"
    assert data["source"]["pad_token_id"] == 0


def test_default_lookup_human(emb):
    r = emb("lookup", *IDS, ok=True)
    assert "shape (1, 3, 8)" in r.stdout
    assert "2934" in r.stdout
    assert r.stderr == ""


def test_ids_accept_commas(emb):
    assert emb.json("lookup", "73,786", "2934")["ids"] == [73, 786, 2934]


def test_flags_build_and_override(emb):
    data = emb.json(
        "lookup",
        "1",
        "5",
        "--vocab",
        "10",
        "--dim",
        "3",
        "--pad",
        "none",
        "--init-std",
        "0.5",
        "--seed",
        "3",
    )
    torch.manual_seed(3)
    w = torch.empty(10, 3).normal_(0, 0.5)
    assert data["vectors"] == w[[1, 5]].tolist()
    assert data["source"]["pad_token_id"] is None


def test_bfloat16_values_widened_exactly(emb):
    data = emb.json("lookup", "1", "2", "--dtype", "bfloat16")
    w = default_weight().to(torch.bfloat16)
    assert data["vectors"] == w[[1, 2]].float().tolist()
    assert data["dtype"] == "bfloat16"


def test_uniform_init_bounds(emb):
    data = emb.json("lookup", "4", "--init", "uniform", "--low", "-1", "--high", "1")
    torch.manual_seed(42)
    w = torch.empty(3000, 8).uniform_(-1, 1)
    assert data["vectors"] == [w[4].tolist()]


def test_preset_lookup(emb):
    data = emb.json("lookup", "0", "50256", "--preset", "gpt2")
    torch.manual_seed(42)
    w = torch.empty(50257, 768).normal_(0, 0.02)  # gpt2 has no pad token
    assert data["vectors"] == w[[0, 50256]].tolist()
    assert data["source"]["tied"] is True


def test_toml_config(emb, tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text(
        "vocab_size = 20\nembed_dim = 4\npad_token_id = 2\ninitializer_range = 0.1\nseed = 1\n"
    )
    data = emb.json("lookup", "2", "3", "--config", str(cfg))
    torch.manual_seed(1)
    w = torch.empty(20, 4).normal_(0, 0.1)
    w[2] = 0
    assert data["vectors"] == w[[2, 3]].tolist()


def test_hf_config_json(emb, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(
        json.dumps({"model_type": "gpt2", "vocab_size": 30, "n_embd": 6, "initializer_range": 0.03})
    )
    data = emb.json("stats", "--config", str(cfg))
    assert data["vocab_size"] == 30 and data["hidden_size"] == 6
    assert data["tied"] is True  # GPT-2's family default when the key is absent
    data = emb.json("lookup", "7", "--config", str(cfg))
    torch.manual_seed(42)
    assert data["vectors"] == [torch.empty(30, 6).normal_(0, 0.03)[7].tolist()]


def test_hf_config_llama_untied_by_default(emb, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "llama", "vocab_size": 30, "hidden_size": 6}))
    assert emb.json("stats", "--config", str(cfg))["tied"] is False


def test_safetensors_lookup_exact(emb, arange_file):
    data = emb.json("lookup", "2", "0", "7", "--from", str(arange_file))
    assert data["vectors"] == [
        [8.0, 9.0, 10.0, 11.0],
        [0.0, 1.0, 2.0, 3.0],
        [28.0, 29.0, 30.0, 31.0],
    ]
    assert data["shape"] == [1, 3, 4]
    assert data["source"]["tensor"] == "model.embed_tokens.weight"


@pytest.mark.parametrize(
    "name",
    [
        "transformer.wte.weight",
        "wte.weight",
        "bert.embeddings.word_embeddings.weight",
        "tok_embeddings.weight",
        "model.language_model.embed_tokens.weight",
        "gpt_neox.embed_in.weight",
        "backbone.embeddings.weight",  # Mamba
        "rwkv.embeddings.weight",
    ],
)
def test_embedding_found_by_name(emb, write_safetensors, name):
    w = torch.randn(5, 3)
    p = write_safetensors({name: w, "model.norm.weight": torch.ones(3)})
    data = emb.json("lookup", "4", "--from", str(p))
    assert data["source"]["tensor"] == name
    assert data["vectors"] == [w[4].tolist()]


def test_tensor_option_and_bf16_file(emb, write_safetensors):
    w = torch.randn(6, 4).to(torch.bfloat16)
    p = write_safetensors({"emb.custom": w})
    data = emb.json("lookup", "5", "--from", str(p), "--tensor", "emb.custom")
    assert data["vectors"] == [w[5].float().tolist()]
    assert data["dtype"] == "bfloat16"


def test_wide_rows_shortened_like_torch(emb, write_safetensors):
    w = torch.arange(3 * 400, dtype=torch.float32).reshape(3, 400) + 100  # no zeros: fixed notation
    p = write_safetensors({"model.embed_tokens.weight": w})
    short = emb("lookup", "0", "1", "2", "--from", str(p), ok=True).stdout
    assert "..." in short and "499.0000" in short and "300.0000" not in short
    full = emb("lookup", "0", "1", "2", "--from", str(p), "--full", ok=True).stdout
    assert "300.0000" in full


def test_batch_pads_ragged_sequences_like_torch(emb):
    data = emb.json("lookup", "--batch", "73,786,2934", "--batch", "5,6")
    ids = torch.tensor([[73, 786, 2934], [5, 6, 0]])
    embed = torch.nn.Embedding.from_pretrained(default_weight(), padding_idx=0)
    out = embed(ids)
    assert data["batch"] == ids.tolist() and data["lengths"] == [3, 2]
    assert data["shape"] == list(out.shape) == [2, 3, 8]
    assert data["vectors"] == out.tolist()
    assert data["padded_positions"] == [[1, 2]]
    assert data["padded_positions_zero"] is True


def test_batch_nonzero_pad_row_is_reported(emb, arange_file):
    data = emb.json(
        "lookup", "--from", str(arange_file), "--pad", "1", "--batch", "2,3", "--batch", "4"
    )
    assert data["batch"] == [[2, 3], [4, 1]]
    assert data["vectors"][1][1] == [4.0, 5.0, 6.0, 7.0]
    assert data["padded_positions_zero"] is False


def test_batch_needs_a_pad_token_when_ragged(emb):
    r = emb("lookup", "--batch", "1,2", "--batch", "3", "--pad", "none")
    assert r.exit_code == 2 and "pad token" in r.stderr and r.stdout == ""
    same = emb.json("lookup", "--batch", "1,2", "--batch", "3,4", "--pad", "none")
    assert same["shape"] == [2, 2, 8] and same["padded_positions"] == []


def test_float64_table_is_not_narrowed(emb, write_safetensors):
    """1e39 fits float64 only: no overflow to Inf, no numpy warning on stderr."""
    w = torch.tensor([[1e39, -1.0 / 3], [2.0, 3.0]], dtype=torch.float64)
    p = write_safetensors({"model.embed_tokens.weight": w})
    r = emb("lookup", "0", "--from", str(p), "--json", ok=True)
    assert json.loads(r.stdout)["vectors"] == [[1e39, -1.0 / 3]]
    r = emb("init-stats", "--from", str(p), "--json", ok=True)
    assert json.loads(r.stdout)["inf_values"] == 0 and r.stderr == ""
