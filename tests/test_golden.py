"""Every command's --json output on fixed fixtures, byte for byte against tests/data/golden.

Recorded before the sources/commands refactor (issue 9) so that a refactor cannot change
behaviour unseen. A deliberate change of output: rerun with EMB_UPDATE_GOLDEN=1 and commit
the new files with the change that explains them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emb_cli.cli import app
from tests.helpers.golden import CASES, GOLDEN
from tests.helpers.hub_cache import cache_repo
from tests.models import tiny_llama

DATA = Path(__file__).parent / "data" / "gguf-vocab"
UPDATE = os.environ.get("EMB_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> dict[str, str]:
    """Checkpoints of every local format, written the way their libraries write them."""
    import gguf
    import numpy as np
    import torch
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("golden")
    arange = root / "arange.safetensors"
    save_file({"model.embed_tokens.weight": torch.arange(32.0).reshape(8, 4)}, str(arange))
    tied, untied = root / "llama-tied", root / "llama-untied"
    tiny_llama(64, 16, tied=True, seed=1).save_pretrained(tied)
    tiny_llama(64, 16, tied=False, seed=2).save_pretrained(untied)
    sharded = root / "llama-sharded"
    tiny_llama(64, 16, tied=False, seed=3).save_pretrained(sharded, max_shard_size="4KB")
    pt = root / "llama.pt"
    torch.save(tiny_llama(64, 16, tied=False, seed=4).state_dict(), pt)
    gg = root / "m.gguf"
    w = gguf.GGUFWriter(str(gg), "llama")
    w.add_embedding_length(8)
    w.add_token_list([f"tok{i}" for i in range(16)])
    w.add_pad_token_id(0)
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.normal(0, 0.02, (16, 8)).astype(np.float32))
    w.add_tensor("output.weight", rng.normal(0, 0.02, (16, 8)).astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    import mlx.core as mx

    from tests.helpers.mlx_checkpoints import _quantized, _save_mlx, _table

    parts, _ = _quantized("model.embed_tokens", _table(40, 64, 3, mx.bfloat16), 32, 4)
    mlx_dir = _save_mlx(root / "mlx-q4", parts, {"group_size": 32, "bits": 4}, hidden_size=64)
    hf_cache = root / "hf-cache"
    files = {f.name: f.read_bytes() for f in tied.iterdir() if f.is_file()}
    cache_repo(hf_cache, "org/tiny-llama", {"a" * 40: files}, {"main": "a" * 40})
    return {
        "ROOT": str(root),
        "arange": str(arange),
        "tied": str(tied),
        "untied": str(untied),
        "sharded": str(sharded),
        "sharded_index": str(sharded / "model.safetensors.index.json"),
        "pt": str(pt),
        "gguf": str(gg),
        "minilm": str(minilm_dir),
        "hf_cache": str(hf_cache),
        "mlx": str(mlx_dir),
        "vocab": str(DATA / "ggml-vocab-llama-spm.gguf"),
    }


def _normalise(text: str, fx: dict[str, str]) -> Any:
    text = text.replace(fx["ROOT"], "<ROOT>").replace(fx["minilm"], "<MINILM>")
    return json.loads(text.replace(str(DATA), "<DATA>"))


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_json_output_is_unchanged(case: str, fx: dict[str, str]) -> None:
    argv = [a.format(**fx) for a in CASES[case]] + ["--json"]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200", "EMB_DEBUG": "1"})
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr, result.exception)
    got = {"exit_code": result.exit_code, "stdout": _normalise(result.stdout, fx)}
    path = GOLDEN / f"{case}.json"
    if UPDATE:
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert path.is_file(), f"no golden file for {case}; run with EMB_UPDATE_GOLDEN=1"
    assert got == json.loads(path.read_text()), case
