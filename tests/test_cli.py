"""The five commands over each source kind, exact values, exit codes, the scripting contract."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emb_cli.cli import app
from tests.helpers import heavy_imports_after

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


# --- stats ---------------------------------------------------------------------------------


def test_stats_lesson_numbers(emb):
    data = emb.json("stats", "--vocab", "100352", "--dim", "4096")
    assert data["params"] == 411_041_792
    assert data["bytes"] == {
        "float32": 1_644_167_168,
        "bfloat16": 822_083_584,
        "float16": 822_083_584,
        "float8": 411_041_792,
        "int8": 411_041_792,
        "int4": 205_520_896,
    }
    assert data["untied_head"]["params"] == 2 * 411_041_792
    assert data["untied_head"]["bytes"]["float32"] == 2 * 1_644_167_168
    fp32 = data["training"][0]
    assert fp32["total"] == 16 * data["stored_params"]


def test_stats_human_units(emb):
    out = emb("stats", "--vocab", "100352", "--dim", "4096", ok=True).stdout
    assert "1,644,167,168" in out and "GiB" in out and "GB" in out
    assert "411,041,792" in out


def test_stats_absurd_vocab_is_arithmetic(emb):
    data = emb.json("stats", "--vocab", str(10**15), "--dim", "8")
    assert data["params"] == 8 * 10**15


def test_stats_from_preset_and_header(emb, arange_file):
    assert emb.json("stats", "--preset", "kimi-k2")["params"] == 163840 * 7168
    data = emb.json("stats", "--from", str(arange_file))
    assert (data["vocab_size"], data["hidden_size"], data["params"]) == (8, 4, 32)


def test_presets_listed(emb):
    names = {p["name"]: p for p in emb.json("presets")["presets"]}
    want = {
        "deepseek-v3": (129280, 7168, False),
        "kimi-k2": (163840, 7168, False),
        "llama-3-8b": (128256, 4096, False),
        "llama-2-7b": (32000, 4096, False),
        "mistral-7b": (32000, 4096, False),
        "qwen2.5-0.5b": (151936, 896, True),
        "gemma-2-2b": (256000, 2304, True),
        "gpt2": (50257, 768, True),
        "bert-base-uncased": (30522, 768, True),
        "lesson-100352": (100352, 4096, False),
    }
    for name, (v, d, tied) in want.items():
        assert (names[name]["vocab_size"], names[name]["embed_dim"], names[name]["tied"]) == (
            v,
            d,
            tied,
        )
    assert (
        names["gemma-2-2b"]["pad_token_id"] == 0 and names["bert-base-uncased"]["pad_token_id"] == 0
    )
    assert names["llama-3-8b"]["pad_token_id"] is None and names["gpt2"]["pad_token_id"] is None
    human = emb("presets", ok=True).stdout
    assert "deepseek-v3" in human and "129,280" in human


# --- init-stats ----------------------------------------------------------------------------


def test_init_stats_built_matches_torch(emb):
    data = emb.json("init-stats", "--vocab", "2000", "--dim", "64", "--seed", "1")
    torch.manual_seed(1)
    w = torch.empty(2000, 64).normal_(0, 0.02).double()
    body = w[1:]  # the pad row (0) is left out of the init's statistics
    m = data["measured"]
    assert m["mean"] == pytest.approx(body.mean().item(), rel=1e-12)
    assert m["std"] == pytest.approx(body.std(unbiased=False).item(), rel=1e-12)
    assert m["row_norm_max"] == pytest.approx(body.norm(dim=1).max().item(), rel=1e-12)
    exact = 0.02 * math.sqrt(2) * math.exp(math.lgamma(65 / 2) - math.lgamma(32))
    assert data["expected"]["row_norm_mean"] == pytest.approx(exact, rel=1e-12)
    assert data["expected"]["row_norm_approx"] == pytest.approx(0.02 * 8, rel=1e-12)
    assert data["verdict"] == "consistent-with-init"
    assert data["pad_row"]["is_zero"] is True
    assert data["excluded_rows"] == [0]


def test_lesson_norm_claim_is_measured(emb):
    """The lesson says rows have norm ~1 after init; N(0, 0.02) in 4096 dims gives ~1.28."""
    data = emb.json("init-stats", "--vocab", "500", "--dim", "4096")
    assert data["expected"]["row_norm_mean"] == pytest.approx(1.28, abs=0.005)
    assert data["measured"]["row_norm_mean"] == pytest.approx(1.28, abs=0.01)


def test_init_stats_expect_exit_codes(emb):
    assert emb("init-stats", "--vocab", "500", "--dim", "32", "--expect", "init").exit_code == 0
    assert emb("init-stats", "--vocab", "500", "--dim", "32", "--expect", "trained").exit_code == 1


@pytest.mark.parametrize("scheme", ["torch-default", "uniform", "xavier-normal", "xavier-uniform"])
def test_init_stats_every_scheme_consistent(emb, scheme):
    data = emb.json("init-stats", "--vocab", "1000", "--dim", "32", "--init", scheme)
    assert data["verdict"] == "consistent-with-init", data["verdict_detail"]


# --- padding -------------------------------------------------------------------------------


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


# --- tie -----------------------------------------------------------------------------------


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


# --- the scripting contract ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,needle",
    [
        (["lookup", "3000"], "0..2999"),
        (["lookup", "-1"], "out of range"),
        (["lookup", "abc"], "not an integer"),
        (["lookup"], "no token ids"),
        (["lookup", "1", "--from", "/nonexistent/x.safetensors"], "no such file"),
        (["stats", "--vocab", "0", "--dim", "8"], "vocab size"),
        (["stats", "--vocab", "8", "--dim", "0"], "embedding dim"),
        (["stats", "--vocab", "-3", "--dim", "8"], "vocab size"),
        (["stats", "--vocab", "ten"], "--vocab"),
        (["lookup", "1", "--preset", "nope"], "unknown preset"),
        (["lookup", "1", "--pad", "5000"], "pad id 5000"),
        (["lookup", "1", "--vocab", str(10**15)], "memory"),
    ],
)
def test_bad_input_exit_2_one_line(emb, args, needle):
    r = emb(*args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


def test_every_command_has_help(emb):
    import typer

    names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"lookup", "stats", "init-stats", "padding", "tie", "info", "presets"} <= set(names)
    for name in names:
        r = emb(name, "--help", ok=True)
        assert "Example:" in r.stdout, name


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["stats", "--vocab", "100352", "--dim", "4096"],
        ["stats", "--preset", "kimi-k2", "--json"],
        ["lookup", "1", "3", "7", "--from", "FILE"],
        ["info", "FILE"],
    ],
)
def test_light_paths_never_import_torch(argv, arange_file: Path):
    argv = [str(arange_file) if a == "FILE" else a for a in argv]
    assert heavy_imports_after(argv) == []


def test_python_dash_m_works(arange_file):
    r = subprocess.run(
        [sys.executable, "-m", "emb_cli", "lookup", "1", "--from", str(arange_file), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["vectors"] == [[4.0, 5.0, 6.0, 7.0]]


def test_internal_errors_are_one_line_without_debug(arange_file, tmp_path):
    """EMB_DEBUG=1 shows the traceback; without it a user error is one line."""
    env_cmd = [sys.executable, "-m", "emb_cli", "lookup", "99", "--from", str(arange_file)]
    r = subprocess.run(env_cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    import os

    r = subprocess.run(
        env_cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "EMB_DEBUG": "1"}
    )
    assert r.returncode == 1 and "Traceback" in r.stderr


# --- batches -------------------------------------------------------------------------------


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
