"""emb's verdicts against PyTorch/transformers on real models saved with save_pretrained.

Each model is built once per session from a tiny config (seeded), saved to disk, and kept
alive so a test can compare emb's answer with the live nn.Module: `lm_head.weight is
embed_tokens.weight`, `embed_tokens.padding_idx`, the std that `_init_weights` drew.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.models import tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # build from configs only; never fetch weights

VOCAB, DIM = 512, 64
HEAD = "lm_head.weight"
EMBED = "model.embed_tokens.weight"


@dataclass
class Saved:
    path: Path
    model: Any  # the live transformers model that wrote `path`


def _llama(tied: bool, seed: int = 0) -> Any:
    return tiny_llama(VOCAB, DIM, tied=tied, seed=seed).eval()


def _save(model: Any, path: Path, **kw: Any) -> Saved:
    model.save_pretrained(path, **kw)
    return Saved(path, model)


def _stored(path: Path) -> dict[str, Any]:
    """Tensor names -> tensors, read back with safetensors itself."""
    from safetensors import safe_open

    out = {}
    with safe_open(str(path), "pt") as f:
        for k in f.keys():  # noqa: SIM118 (safe_open is not a dict)
            out[k] = f.get_tensor(k)
    return out


def _variant(root: Path, name: str, like: Path, tensors: dict[str, Any]) -> Path:
    """A directory with `like`'s config files and a model.safetensors holding `tensors`."""
    from safetensors.torch import save_file

    out = root / name
    out.mkdir()
    for f in ("config.json", "generation_config.json"):
        if (like / f).is_file():
            shutil.copy(like / f, out / f)
    save_file(
        {k: v.detach().clone().contiguous() for k, v in tensors.items()},
        str(out / "model.safetensors"),
    )
    return out


@pytest.fixture(scope="session")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf")


@pytest.fixture(scope="session")
def llama_tied(root: Path) -> Saved:
    return _save(_llama(tied=True), root / "llama-tied")


@pytest.fixture(scope="session")
def llama_untied(root: Path) -> Saved:
    return _save(_llama(tied=False, seed=1), root / "llama-untied")


@pytest.fixture(scope="session")
def gpt2(root: Path) -> Saved:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(2)
    config = GPT2Config(
        vocab_size=300,
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    return _save(GPT2LMHeadModel(config).eval(), root / "gpt2")


@pytest.fixture(scope="session")
def bert_mlm(root: Path) -> Saved:
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(3)
    config = BertConfig(
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    return _save(BertForMaskedLM(config).eval(), root / "bert-mlm")


@pytest.fixture(scope="session")
def gemma(root: Path) -> Saved:
    import torch
    from transformers import GemmaConfig, GemmaForCausalLM

    torch.manual_seed(4)
    config = GemmaConfig(
        vocab_size=VOCAB,
        hidden_size=DIM,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        pad_token_id=0,
    )
    return _save(GemmaForCausalLM(config).eval(), root / "gemma")


@pytest.fixture(scope="session")
def sharded_bf16(root: Path) -> Saved:
    import torch

    model = _llama(tied=False, seed=5).to(torch.bfloat16)
    # 70 kB shards: the 64 kB bf16 table gets a shard to itself, the head another.
    saved = _save(model, root / "llama-bf16-sharded", max_shard_size="70KB")
    assert (saved.path / "model.safetensors.index.json").is_file()
    return saved


@pytest.fixture(scope="session")
def save_model_tied(root: Path, llama_tied: Saved) -> Path:
    """A tied model written by safetensors' `save_model`: one tensor, plus a back-pointer."""
    from safetensors.torch import save_model

    out = root / "llama-save-model"
    out.mkdir()
    shutil.copy(llama_tied.path / "config.json", out / "config.json")
    save_model(llama_tied.model, str(out / "model.safetensors"))
    return out


def run(emb: Any, *args: str, code: int) -> dict[str, Any]:
    result = emb(*args, "--json")
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _reload(path: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


def _embed(model: Any) -> Any:
    return model.get_input_embeddings().weight


# ---------------------------------------------------------------- emb tie


@pytest.mark.parametrize(
    ("fixture", "embed_name", "head_name"),
    [
        ("llama_tied", EMBED, HEAD),
        ("llama_untied", EMBED, HEAD),
        ("gpt2", "transformer.wte.weight", HEAD),
        ("bert_mlm", "bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight"),
        ("gemma", EMBED, HEAD),
    ],
)
def test_tie_verdict_matches_the_live_model(
    emb: Any, request: pytest.FixtureRequest, fixture: str, embed_name: str, head_name: str
) -> None:
    saved: Saved = request.getfixturevalue(fixture)
    model = saved.model
    live_tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    stored = _stored(saved.path / "model.safetensors")
    # save_pretrained writes a tied head once, under the embedding's name, and no pointer.
    assert (head_name in stored) is (not live_tied)
    assert embed_name in stored

    doc = run(emb, "tie", "--from", str(saved.path), "--all-rows", code=0)
    assert doc["verdict"] == ("tied" if live_tied else "untied")
    assert doc["ok"] is True
    assert doc["config_tied"] is model.config.tie_word_embeddings is live_tied
    assert doc["config_tied_source"] == "config"
    assert doc["embedding_tensor"] == embed_name
    assert doc["metadata_pointers"] == {}
    assert doc["wasted_bytes"] == 0
    if live_tied:
        assert doc["head_tensor"] is None and doc["comparison"] is None
    else:
        assert doc["head_tensor"] == head_name
        diff_rows = int((stored[embed_name] != stored[head_name]).any(dim=1).sum())
        assert diff_rows == VOCAB  # two independent draws differ in every row
        assert doc["comparison"] == {
            "shape_equal": True,
            "bitwise_equal": False,
            "max_abs_diff": float(
                (stored[embed_name].double() - stored[head_name].double()).abs().max()
            ),
            "differing_rows": diff_rows,
            "compared_rows": VOCAB,
            "stopped_early": False,
        }


def test_save_pretrained_writes_no_back_pointer_metadata(llama_tied: Saved) -> None:
    from safetensors import safe_open

    with safe_open(str(llama_tied.path / "model.safetensors"), "pt") as f:
        assert f.metadata() == {"format": "pt"}


def test_tie_save_model_back_pointer(emb: Any, save_model_tied: Path, llama_tied: Saved) -> None:
    """safetensors' save_model keeps lm_head.weight, drops embed_tokens, and says so."""
    from safetensors import safe_open

    with safe_open(str(save_model_tied / "model.safetensors"), "pt") as f:
        assert f.metadata() == {EMBED: HEAD}
        assert EMBED not in f.keys()  # noqa: SIM118

    doc = run(emb, "tie", "--from", str(save_model_tied), code=0)
    assert doc["verdict"] == "tied"
    assert doc["metadata_pointers"] == {EMBED: HEAD}
    assert doc["embedding_tensor"] == HEAD
    assert doc["head_tensor"] is None
    assert any("back-pointers" in e and f"{EMBED} -> {HEAD}" in e for e in doc["evidence"])

    # The table read through the pointer is the live model's embedding.
    ids = [0, 1, 511]
    got = run(emb, "lookup", *map(str, ids), "--from", str(save_model_tied), code=0)
    assert got["vectors"] == _embed(llama_tied.model)[ids].tolist()


def test_tie_diverged(emb: Any, root: Path, llama_tied: Saved) -> None:
    state = dict(llama_tied.model.state_dict())
    head = state[EMBED].detach().clone()
    head[7] = 0.0  # one row edited after save: the head no longer equals the embedding
    path = _variant(root, "diverged", llama_tied.path, {**state, HEAD: head})

    doc = run(emb, "tie", "--from", str(path), "--all-rows", code=1)
    assert doc["verdict"] == "diverged"
    assert doc["ok"] is False
    assert doc["config_tied"] is True
    assert doc["head_tensor"] == HEAD
    assert doc["comparison"]["bitwise_equal"] is False
    assert doc["comparison"]["differing_rows"] == 1
    assert doc["comparison"]["max_abs_diff"] == float(state[EMBED][7].abs().max())
    assert doc["wasted_bytes"] == 0
    # transformers agrees: it warns and loads the two apart instead of tying them.
    loaded = _reload(path)
    assert loaded.lm_head.weight is not loaded.model.embed_tokens.weight
    assert bool((loaded.lm_head.weight[7] == 0).all())


def test_tie_duplicated(emb: Any, root: Path, llama_tied: Saved) -> None:
    state = dict(llama_tied.model.state_dict())
    path = _variant(root, "duplicated", llama_tied.path, {**state, HEAD: state[EMBED]})
    stored = _stored(path / "model.safetensors")
    assert stored[HEAD].data_ptr() != stored[EMBED].data_ptr()
    assert bool((stored[HEAD] == stored[EMBED]).all())

    doc = run(emb, "tie", "--from", str(path), code=0)
    assert doc["verdict"] == "tied-duplicated"
    assert (
        doc["wasted_bytes"] == stored[HEAD].numel() * stored[HEAD].element_size() == VOCAB * DIM * 4
    )
    assert doc["comparison"]["bitwise_equal"] is True
    assert doc["comparison"]["compared_rows"] == VOCAB
    loaded = _reload(path)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight


def test_tie_untied_identical(emb: Any, root: Path, llama_untied: Saved) -> None:
    state = dict(llama_untied.model.state_dict())
    path = _variant(root, "untied-identical", llama_untied.path, {**state, HEAD: state[EMBED]})
    doc = run(emb, "tie", "--from", str(path), code=0)
    assert doc["verdict"] == "untied-identical"
    assert doc["ok"] is True
    assert doc["config_tied"] is False
    assert doc["wasted_bytes"] == 0


def test_tie_missing_head(emb: Any, root: Path, llama_untied: Saved) -> None:
    state = {k: v for k, v in llama_untied.model.state_dict().items() if k != HEAD}
    path = _variant(root, "missing-head", llama_untied.path, state)
    doc = run(emb, "tie", "--from", str(path), code=1)
    assert doc["verdict"] == "missing-head"
    assert doc["ok"] is False
    assert doc["head_tensor"] is None


# ---------------------------------------------------------------- emb padding


@pytest.mark.parametrize("fixture", ["llama_tied", "bert_mlm", "gemma"])
def test_padding_row_zeroed_by_init_weights(
    emb: Any, request: pytest.FixtureRequest, fixture: str
) -> None:
    saved: Saved = request.getfixturevalue(fixture)
    embed = saved.model.get_input_embeddings()
    assert embed.padding_idx == saved.model.config.pad_token_id == 0
    assert bool((embed.weight[0] == 0).all())  # _init_weights zeroes the padding_idx row

    doc = run(emb, "padding", "--from", str(saved.path), "--strict", code=0)
    assert doc["pad_token_id"] == 0
    assert doc["pad_source"] == "config"
    assert doc["verdict"] == "zero"
    assert doc["row_is_zero"] is True
    assert doc["row_norm"] == 0.0 and doc["row_max_abs"] == 0.0
    norms = embed.weight[1:].detach().double().norm(dim=1)
    assert doc["median_row_norm"] == pytest.approx(float(norms.median()), rel=1e-6)


def test_padding_reads_the_stored_row(emb: Any, root: Path, llama_tied: Saved) -> None:
    """A pad id the init did not zero: the row reported is exactly the stored one."""
    path = root / "pad-3"
    shutil.copytree(llama_tied.path, path)
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "pad_token_id": 3}))
    (path / "generation_config.json").unlink()

    row = _embed(llama_tied.model)[3].detach().double()
    doc = run(emb, "padding", "--from", str(path), code=0)
    assert doc["pad_token_id"] == 3
    assert doc["verdict"] == "nonzero"
    assert doc["row_is_zero"] is False
    assert doc["row_norm"] == pytest.approx(float(row.norm()), rel=1e-12)
    assert doc["row_max_abs"] == float(row.abs().max())
    assert run(emb, "padding", "--from", str(path), "--strict", code=1)["ok"] is False


def test_padding_id_beyond_the_table(emb: Any, root: Path, llama_tied: Saved) -> None:
    path = root / "pad-out"
    shutil.copytree(llama_tied.path, path)
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "pad_token_id": VOCAB}))
    doc = run(emb, "padding", "--from", str(path), code=1)
    assert doc["verdict"] == "missing-row"
    assert doc["pad_token_id"] == VOCAB
    assert doc["row_exists"] is False


def test_padding_gpt2_has_no_pad_token(emb: Any, gpt2: Saved) -> None:
    assert gpt2.model.config.pad_token_id is None
    assert gpt2.model.get_input_embeddings().padding_idx is None
    doc = run(emb, "padding", "--from", str(gpt2.path), code=0)
    assert doc["verdict"] == "no-pad-token"
    assert doc["pad_token_id"] is None


# ---------------------------------------------------------------- emb init-stats


@pytest.mark.parametrize(
    "fixture", ["llama_tied", "llama_untied", "gpt2", "bert_mlm", "gemma", "sharded_bf16"]
)
def test_init_stats_untrained_is_init_like(
    emb: Any, request: pytest.FixtureRequest, fixture: str
) -> None:
    saved: Saved = request.getfixturevalue(fixture)
    config = saved.model.config
    w = _embed(saved.model).detach().double()
    pad = config.pad_token_id
    keep = [i for i in range(w.shape[0]) if i != pad]
    live = w[keep]

    doc = run(emb, "init-stats", "--from", str(saved.path), code=0)
    assert doc["verdict"] == "init-like"
    assert doc["excluded_rows"] == ([] if pad is None else [pad])
    assert doc["values"] == live.numel()
    # emb's expectation is the N(0, initializer_range) that _init_weights drew from...
    assert doc["expected"]["mean"] == 0.0
    assert doc["expected"]["std"] == config.initializer_range == 0.02
    # ...and what it measured is the live weight's own statistics.
    assert doc["measured"]["std"] == pytest.approx(float(live.std(unbiased=False)), rel=1e-9)
    assert doc["measured"]["mean"] == pytest.approx(float(live.mean()), rel=1e-6, abs=1e-12)
    assert doc["measured"]["std"] == pytest.approx(0.02, rel=0.03)
    assert set(doc["z_scores"]) == {"mean", "std", "row_norm_mean"}
    assert all(abs(z) < 5 for z in doc["z_scores"].values()), doc["z_scores"]
    assert doc["ks"] <= doc["ks_critical"]

    assert emb("init-stats", "--from", str(saved.path), "--expect", "init").exit_code == 0
    assert emb("init-stats", "--from", str(saved.path), "--expect", "trained").exit_code == 1


def test_init_stats_rescaled_table_is_not_init(emb: Any, root: Path, llama_tied: Saved) -> None:
    """The same draw times 1.5: emb must notice it no longer matches N(0, 0.02)."""
    state = dict(llama_tied.model.state_dict())
    path = _variant(root, "rescaled", llama_tied.path, {**state, EMBED: state[EMBED] * 1.5})
    doc = run(emb, "init-stats", "--from", str(path), code=0)
    assert doc["verdict"] == "trained"
    assert doc["z_scores"]["std"] > 5
    assert emb("init-stats", "--from", str(path), "--expect", "init").exit_code == 1
    assert emb("init-stats", "--from", str(path), "--expect", "trained").exit_code == 0


def test_gemma_scaling_note_in_table_info(gemma: Saved) -> None:
    """GemmaTextScaledWordEmbedding multiplies by sqrt(hidden) at forward; the table is unscaled."""
    import torch

    from emb_cli.sources.checkpoint import open_checkpoint
    from emb_cli.sources.loaded import LoadedSource

    embed = gemma.model.get_input_embeddings()
    ids = torch.tensor([[1, 2]])
    with torch.no_grad():
        scaled = embed(ids)[0]
    assert torch.allclose(scaled, embed.weight[1:3] * DIM**0.5)
    info = LoadedSource(open_checkpoint(gemma.path), None, None, False).info
    assert info.model_type == "gemma"
    assert info.notes == ("Gemma multiplies embeddings by sqrt(hidden_size) in the forward pass",)


def test_gemma_scaling_note_reaches_the_user(emb: Any, gemma: Saved) -> None:
    """lookup shows stored rows; the note says the module's forward scales them."""
    doc = run(emb, "lookup", "1", "2", "--from", str(gemma.path), code=0)
    assert doc["source"]["notes"] == [
        "Gemma multiplies embeddings by sqrt(hidden_size) in the forward pass"
    ]
    human = emb("lookup", "1", "--from", str(gemma.path), ok=True).stdout
    assert "note: Gemma multiplies embeddings by sqrt(hidden_size)" in human


# ---------------------------------------------------------------- emb lookup, sharded bf16


def _embed_shard(path: Path) -> str:
    index = json.loads((path / "model.safetensors.index.json").read_text())
    return str(index["weight_map"][EMBED])


def test_lookup_sharded_bf16_exact(emb: Any, sharded_bf16: Saved) -> None:
    import torch

    ids = [0, 1, 7, 300, 511]
    doc = run(emb, "lookup", *map(str, ids), "--from", str(sharded_bf16.path), code=0)
    weight = _embed(sharded_bf16.model)
    assert weight.dtype is torch.bfloat16
    assert doc["ids"] == ids
    assert doc["dtype"] == "bfloat16"
    assert doc["shape"] == [1, len(ids), DIM]
    assert doc["vectors"] == weight[ids].float().tolist()
    assert doc["source"]["origin"] == "hf-dir"


def test_lookup_opens_only_the_table_shard(emb: Any, tmp_path: Path, sharded_bf16: Saved) -> None:
    path = tmp_path / "ckpt"
    shutil.copytree(sharded_bf16.path, path)
    table_shard = _embed_shard(path)
    others = [p for p in path.glob("model-*.safetensors") if p.name != table_shard]
    assert len(others) >= 2
    for p in others:
        p.write_bytes(b"\xff" * 16)  # no longer a safetensors file

    ids = [5, 6]
    doc = run(emb, "lookup", *map(str, ids), "--from", str(path), code=0)
    assert doc["vectors"] == _embed(sharded_bf16.model)[ids].float().tolist()
    # The corruption is real: a command that needs the head's shard fails on it.
    result = emb("tie", "--from", str(path))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ")


def test_tie_sharded_untied(emb: Any, sharded_bf16: Saved) -> None:
    index = json.loads((sharded_bf16.path / "model.safetensors.index.json").read_text())
    assert index["weight_map"][HEAD] != index["weight_map"][EMBED]
    doc = run(emb, "tie", "--from", str(sharded_bf16.path), code=0)
    assert doc["verdict"] == "untied"
    assert doc["head_tensor"] == HEAD
    assert doc["comparison"]["bitwise_equal"] is False
