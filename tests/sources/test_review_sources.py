"""Regressions from a review of the sources layer, each against real layouts or torch itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emb_cli.sources import roles
from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.loaded import LoadedSource
from emb_cli.sources.spec import _UNTIED_BY_DEFAULT, config_tied, spec_from_hf_config
from tests.sources.test_remote import Server, only_loopback, server  # noqa: F401

EMBED = "model.embed_tokens.weight"


def _open(path: Path) -> LoadedSource:
    return LoadedSource(open_checkpoint(path), None, None, False)


# ---------------------------------------------------------------- tie defaults


@pytest.mark.parametrize(
    "model_type", ["cohere", "falcon", "starcoder2", "gpt2", "bert", "t5", "gemma3", "llama"]
)
def test_tie_default_matches_transformers(model_type: str) -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    expected = transformers.AutoConfig.for_model(model_type).tie_word_embeddings
    assert config_tied({"model_type": model_type}) == (
        expected,
        f"default for model_type {model_type!r}",
    )


def test_untied_table_lists_only_untied_families() -> None:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    transformers.logging.set_verbosity_error()
    for model_type in ("gpt_oss", "olmoe", "glm4", "phi", "exaone", "deepseek_v3", "qwen3"):
        assert transformers.AutoConfig.for_model(model_type).tie_word_embeddings is False
        assert model_type in _UNTIED_BY_DEFAULT
    known = sorted(_UNTIED_BY_DEFAULT & set(CONFIG_MAPPING_NAMES))
    assert len(known) > 150
    tied = [m for m in known if transformers.AutoConfig.for_model(m).tie_word_embeddings]
    assert tied == []


# ---------------------------------------------------------------- roles


@pytest.mark.parametrize("prefix", ["", "model."])
def test_t5_bart_shared_and_its_copies_choose_shared(prefix: str) -> None:
    names = [
        f"{prefix}shared.weight",
        f"{prefix}encoder.embed_tokens.weight",
        f"{prefix}decoder.embed_tokens.weight",
        "lm_head.weight",
    ]
    choice = roles.choose(names, roles.ROLE_INPUT, "t5", required=True)
    assert choice.name == f"{prefix}shared.weight"
    assert "copies of it" in choice.reason


def test_two_unrelated_tables_still_ask_for_tensor() -> None:
    names = ["shared.weight", "encoder.embed_tokens.weight", "other.embed_tokens.weight"]
    with pytest.raises(roles.TensorNotFound, match="several input embedding candidates"):
        roles.choose(names, roles.ROLE_INPUT, "x", required=True)


def test_t5_state_dict_opens(tmp_path: Path) -> None:
    """torch.save(model.state_dict()) of a T5 writes shared.weight under three names."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    cfg = T5Config(vocab_size=64, d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8)
    model = T5ForConditionalGeneration(cfg)
    sd = model.state_dict()
    assert {"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"} <= set(
        sd
    )
    torch.save(sd, tmp_path / "t5.bin")
    source = _open(tmp_path / "t5.bin")
    assert source.info.tensor_name == "shared.weight"
    np.testing.assert_array_equal(
        source.rows([3, 63]), model.shared.weight.detach()[[3, 63]].numpy()
    )


# ---------------------------------------------------------------- pad from nested configs


def test_llava_top_level_pad_is_read(arange_file: Path) -> None:
    """llava-hf/llava-1.5-7b-hf: pad_token_id 32001 beside text_config, not inside it."""
    folder = arange_file.parent
    config = {
        "model_type": "llava",
        "pad_token_id": 5,
        "initializer_range": 0.01,
        "torch_dtype": "float16",
        "text_config": {"model_type": "llama", "vocab_size": 8, "hidden_size": 4},
    }
    (folder / "config.json").write_text(json.dumps(config))
    source = _open(folder)
    assert (source.info.pad_token_id, source.info.pad_source) == (5, "config")
    assert source.info.initializer_range == 0.01
    spec = spec_from_hf_config(config, name="llava", origin="config")
    assert (spec.pad_token_id, spec.init.std, spec.dtype, spec.tied) == (5, 0.01, "float16", False)


def test_text_config_pad_wins_over_the_outer_one(arange_file: Path) -> None:
    config = {
        "pad_token_id": 5,
        "text_config": {"vocab_size": 8, "hidden_size": 4, "pad_token_id": 2},
    }
    (arange_file.parent / "config.json").write_text(json.dumps(config))
    assert _open(arange_file.parent).info.pad_token_id == 2


# ---------------------------------------------------------------- fp8 block scales


def _fp8_reference(rows: int, cols: int, block: int, seed: int) -> tuple[Any, Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g).to(torch.float8_e4m3fn)
    scale = torch.rand(-(-rows // block), -(-cols // block), generator=g) + 0.5
    # DeepSeek-V3's weight_dequant: every 128 x 128 block times its scale_inv.
    full = scale.repeat_interleave(block, 0)[:rows].repeat_interleave(block, 1)[:, :cols]
    return w, scale, (w.to(torch.float32) * full).numpy()


@pytest.mark.parametrize(
    ("rows", "cols", "block", "config"),
    [(300, 200, 128, False), (256, 384, 128, False), (300, 200, 64, True)],
)
def test_fp8_scales_match_a_torch_dequantisation(
    tmp_path: Path, rows: int, cols: int, block: int, config: bool
) -> None:
    from safetensors.torch import save_file

    w, scale, ref = _fp8_reference(rows, cols, block, seed=rows + block)
    save_file({EMBED: w, EMBED + "_scale_inv": scale}, str(tmp_path / "model.safetensors"))
    if config:
        quant = {"quant_method": "fp8", "weight_block_size": [block, block]}
        (tmp_path / "config.json").write_text(json.dumps({"quantization_config": quant}))
    source = _open(tmp_path)
    streamed = np.concatenate([b for _, b in source.chunks(50)])
    np.testing.assert_array_equal(streamed, ref)
    ids = [0, block - 1, block, rows - 1, block, 0]
    np.testing.assert_array_equal(source.rows(ids), ref[ids])


def test_fp8_bf16_scales_are_applied(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    w, scale, _ = _fp8_reference(130, 16, 128, seed=1)
    scale = scale.to(torch.bfloat16)
    ref = w.to(torch.float32).numpy() * np.repeat(scale.to(torch.float32).numpy(), 128, 0)[:130]
    save_file({EMBED: w, EMBED + "_scale_inv": scale}, str(tmp_path / "model.safetensors"))
    np.testing.assert_array_equal(_open(tmp_path).rows([0, 129]), ref[[0, 129]])


# ---------------------------------------------------------------- remote


def test_remote_pad_lookup_does_not_fetch_the_tokenizer(
    emb: Any,
    server: Server,  # noqa: F811
) -> None:
    """A tokenizer_config pad named by string must not cost the whole tokenizer.json."""
    import shutil

    folder = server.root / "padtok"
    if not folder.exists():
        shutil.copytree(server.root / "llama", folder)
        (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": "w7"}))
    server.clear()
    r = emb("lookup", "5", "--from", server.url("files/padtok/model.safetensors"), "--json")
    assert r.exit_code == 0, r.stderr
    assert not any(p.endswith("tokenizer.json") for p in server.paths())
    local = _open(folder)  # locally the tokenizer costs no download: the pad is found
    assert (local.info.pad_token_id, local.pad.found["tokenizer"]) == (0, 7)


def test_remote_header_over_64_kib(emb: Any, server: Server) -> None:  # noqa: F811
    import torch
    from safetensors.torch import save_file

    folder = server.root / "wide-header"
    path = folder / "model.safetensors"
    if not path.exists():
        folder.mkdir()
        g = torch.Generator().manual_seed(3)
        tensors = {f"model.layers.{i}.mlp.gate_proj.weight": torch.zeros(1) for i in range(2000)}
        tensors[EMBED] = torch.randn(100, 8, generator=g)
        save_file(tensors, str(path))
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    assert header_len > 64 * 2**10
    ids = ["0", "42", "99"]
    local = json.loads(emb("lookup", *ids, "--from", str(path), "--json").stdout)
    server.clear()
    r = emb("lookup", *ids, "--from", server.url("files/wide-header/model.safetensors"), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["vectors"] == local["vectors"]
    header_reads = [h for h in server.hits if h.path.endswith(".safetensors")]
    assert len(header_reads) <= 4  # first 64 KiB, the rest of the header, the rows
