"""emb resize against transformers' own resize_token_embeddings on saved tiny Llamas."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.models import tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VOCAB, DIM = 96, 16
EMBED, HEAD = "model.embed_tokens.weight", "lm_head.weight"


def _llama(tied: bool, seed: int, dtype: str = "float32") -> Any:
    import torch

    model = tiny_llama(VOCAB, DIM, tied=tied, seed=seed, heads=2, initializer_range=0.05)
    return model.to(getattr(torch, dtype)).eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    root = tmp_path_factory.mktemp("resize")
    out = {}
    for name, tied, dtype in (
        ("untied", False, "float32"),
        ("tied", True, "float32"),
        ("untied-bf16", False, "bfloat16"),
    ):
        model = _llama(tied, seed=len(out), dtype=dtype)
        model.save_pretrained(root / name)
        out[name] = (root / name, model)
    return out


def _resized(model: Any, n: int, pad: int | None = None, mean: bool = True, seed: int = 0) -> Any:
    import torch

    m = copy.deepcopy(model)
    torch.manual_seed(seed)
    m.resize_token_embeddings(n, pad_to_multiple_of=pad, mean_resizing=mean)
    return m


def _read(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _json(emb: Any, *args: Any) -> Any:
    r = emb("resize", *(str(a) for a in args), "--json")
    assert r.exit_code == 0, (r.exit_code, r.stdout, r.stderr)
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", ["untied", "tied"])
@pytest.mark.parametrize(
    ("n", "pad"), [(100, None), (100, 64), (96, 64), (96, None), (50, None), (50, 8), (1, 7)]
)
def test_sizes_match_transformers(
    emb: Any, models: Any, name: str, n: int, pad: int | None
) -> None:
    path, model = models[name]
    args = [n, "--from", path] + (["--pad-to-multiple-of", pad] if pad else [])
    r = _json(emb, *args)
    m = _resized(model, n, pad)
    got = m.get_input_embeddings().weight.shape[0]
    assert r["new_num_tokens"] == got == m.config.vocab_size
    assert r["rows_added"] == max(0, got - VOCAB) and r["rows_removed"] == max(0, VOCAB - got)
    assert r["tied"] is (name == "tied") and r["head_follows_embedding"] is (name == "tied")
    assert m.get_output_embeddings().weight.shape[0] == got
    if name == "untied":
        assert r["head"]["tensor"] == HEAD and r["head"]["new_rows"] == got
        assert r["params_new"] == 2 * got * DIM
    else:
        assert r["head"] is None and r["params_new"] == got * DIM
    assert r["params_delta"] == r["params_new"] - r["params_old"]
    assert r["bytes_new"]["float32"] == 4 * r["params_new"] == r["stored_bytes_new"]


@pytest.mark.parametrize("name", ["untied", "tied"])
def test_distribution_equals_torch_float64(emb: Any, models: Any, name: str) -> None:
    import torch

    path, model = models[name]
    r = _json(emb, 200, "--from", path)
    ws = {
        "embedding": model.get_input_embeddings().weight,
        "head": model.get_output_embeddings().weight,
    }
    plans = [r["embedding"]] + ([r["head"]] if r["head"] else [])
    for plan in plans:
        x = ws[plan["role"]].detach().double()
        mean = x.mean(0)
        cov = (x - mean).T @ (x - mean) / x.shape[0]
        eig = torch.linalg.eigvalsh(cov)
        d = plan["distribution"]
        want = {
            "mean_norm": mean.norm(),
            "mean_abs_max": mean.abs().max(),
            "covariance_trace": cov.trace(),
            "covariance_max_eigenvalue": eig[-1],
            "covariance_min_eigenvalue": eig[0],
            "scaled_trace": 1e-9 * cov.trace(),
        }
        for key, value in want.items():
            assert d[key] == pytest.approx(float(value), rel=1e-9), key
        assert d["positive_definite"] is True and d["sampler"] == "multivariate-normal"
    assert r["zero_mean_init"] == {
        "std": 0.05,
        "std_source": "config",
        "expected_row_norm": pytest.approx(0.05 * DIM**0.5),
    }


@pytest.mark.parametrize("mean", [True, False])
@pytest.mark.parametrize("name", ["untied", "tied", "untied-bf16"])
@pytest.mark.parametrize(("n", "pad", "seed"), [(150, None, 0), (100, 64, 7), (40, None, 3)])
def test_write_is_bit_identical_to_transformers(
    emb: Any, models: Any, tmp_path: Path, name: str, mean: bool, n: int, pad: int | None, seed: int
) -> None:
    import torch

    path, model = models[name]
    weights = path / "model.safetensors"
    before = (weights.read_bytes(), weights.stat().st_mtime_ns)
    out = tmp_path / "resized.safetensors"
    args = [n, "--from", path, "--write", out, "--seed", seed] + (
        ["--pad-to-multiple-of", pad] if pad else []
    )
    r = _json(emb, *args, "--mean-resizing" if mean else "--no-mean-resizing")
    m = _resized(model, n, pad, mean, seed)
    got = _read(out)
    assert sorted(got) == ([EMBED] if name == "tied" else [HEAD, EMBED])
    old = model.get_input_embeddings().weight
    new = m.get_input_embeddings().weight
    keep = min(VOCAB, new.shape[0])
    assert torch.equal(got[EMBED], new) and got[EMBED].dtype == old.dtype
    assert torch.equal(got[EMBED][:keep], old[:keep])  # kept rows: the old bits
    if name != "tied":
        assert torch.equal(got[HEAD], m.lm_head.weight)
        assert torch.equal(got[HEAD][:keep], model.lm_head.weight[:keep])
    grows = new.shape[0] > VOCAB
    inits = {t["name"]: t["new_rows_init"] for t in r["written"]["tensors"]}
    want = ("multivariate-normal" if mean else "normal(0, 0.05)") if grows else "none"
    assert set(inits.values()) == {want}
    assert (weights.read_bytes(), weights.stat().st_mtime_ns) == before


def test_singular_covariance_falls_back_to_the_mean(emb: Any, tmp_path: Path) -> None:
    """8 rows in 16 dimensions: transformers' positive-definite check fails, new rows = mean."""
    import torch

    model = tiny_llama(8, DIM, tied=False, heads=2, pad_token_id=None)
    model.save_pretrained(tmp_path / "m")
    out = tmp_path / "s.safetensors"
    r = _json(emb, 12, "--from", tmp_path / "m", "--write", out)
    assert r["embedding"]["distribution"]["positive_definite"] is False
    assert r["embedding"]["distribution"]["sampler"] == "mean"
    assert {t["new_rows_init"] for t in r["written"]["tensors"]} == {"mean"}
    m = _resized(model, 12)
    got = _read(out)
    assert torch.equal(got[EMBED], m.model.embed_tokens.weight)
    assert torch.equal(got[HEAD], m.lm_head.weight)
    mean = model.model.embed_tokens.weight.detach().mean(0)
    assert torch.equal(got[EMBED][8:], mean.expand(4, DIM))


def test_mean_resizing_rows_sit_at_the_old_mean(emb: Any, models: Any, tmp_path: Path) -> None:
    import torch

    path, model = models["untied"]
    out = tmp_path / "big.safetensors"
    _json(emb, VOCAB + 4000, "--from", path, "--write", out)
    got = _read(out)
    for name, old in ((EMBED, model.model.embed_tokens.weight), (HEAD, model.lm_head.weight)):
        added = got[name][VOCAB:].double()
        mu = old.detach().double().mean(0)
        # std of each new value: sqrt(1e-9 * var) ~ 1.6e-6 at std 0.05; the sample mean is closer
        assert (added.mean(0) - mu).abs().max() < 1e-6
        assert 0 < (added - mu).std() < 1e-5
        assert not torch.equal(added[0], added[1])


def test_no_mean_resizing_rows_are_normal(emb: Any, models: Any, tmp_path: Path) -> None:
    path, _ = models["untied"]
    out = tmp_path / "n.safetensors"
    _json(emb, VOCAB + 4000, "--from", path, "--write", out, "--no-mean-resizing")
    added = _read(out)[EMBED][VOCAB:].double()
    assert abs(added.mean()) < 3 * 0.05 / (added.numel() ** 0.5) * 2
    assert added.std() == pytest.approx(0.05, rel=0.02)


def test_built_table_write_matches_transformers_recipe(emb: Any, tmp_path: Path) -> None:
    """A built table (no head stored) resized with the same calls; shrink keeps the first rows."""
    import torch

    out = tmp_path / "b.safetensors"
    _json(emb, 20, "--vocab", 30, "--dim", 4, "--write", out)
    w = torch.empty(30, 4)
    torch.manual_seed(42)
    w.normal_(0, 0.02)
    w[0] = 0
    assert torch.equal(_read(out)["model.embed_tokens.weight"], w[:20])


def test_tokenizer_padding_rows(emb: Any, models: Any, tmp_path: Path) -> None:
    import shutil

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    path, _ = models["untied"]
    d = tmp_path / "withtok"
    shutil.copytree(path, d)
    Tokenizer(WordLevel({f"t{i}": i for i in range(90)}, unk_token="t0")).save(
        str(d / "tokenizer.json")
    )
    r = _json(emb, 95, "--from", d)
    assert r["tokenizer"] == {
        "tokenizer_vocab_size": 90,
        "padding_rows": 6,
        "new_token_ids": 5,
        "new_ids_in_existing_rows": 5,
        "new_ids_needing_rows": 0,
        "tokenizer_ids_dropped": 0,
    }
    assert r["action"] == "shrink" and r["rows_removed"] == 1
    r = _json(emb, 110, "--from", d)
    assert (
        r["tokenizer"]["new_ids_in_existing_rows"] == 6
        and r["tokenizer"]["new_ids_needing_rows"] == 14
    )
    assert r["rows_added"] == 14
    assert _json(emb, 80, "--from", d)["tokenizer"]["tokenizer_ids_dropped"] == 10


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["0"], "positive"),
        (["10", "--pad-to-multiple-of", "0"], "positive"),
        (["10", "--write", "{existing}"], "--force"),
        (["10", "--write", "{input}", "--force"], "in place"),
    ],
)
def test_bad_input_exits_2(
    emb: Any, models: Any, tmp_path: Path, args: list[str], msg: str
) -> None:
    path, _ = models["untied"]
    existing = tmp_path / "x.safetensors"
    existing.write_bytes(b"keep")
    args = [a.format(existing=existing, input=path / "model.safetensors") for a in args]
    r = emb("resize", *args, "--from", str(path))
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stdout == "" and msg in r.stderr and r.stderr.count("\n") == 1
    assert existing.read_bytes() == b"keep"


def test_force_replaces(emb: Any, models: Any, tmp_path: Path) -> None:
    path, _ = models["tied"]
    out = tmp_path / "x.safetensors"
    out.write_bytes(b"old")
    _json(emb, 100, "--from", path, "--write", out, "--force")
    assert _read(out)[EMBED].shape == (100, DIM)
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]  # no temp file left


def test_dry_run_on_a_file_imports_no_torch(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    f = tmp_path / "t.safetensors"
    save_file({EMBED: np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)}, str(f))
    code = (
        "import sys; from emb_cli.cli import app\n"
        f"try: app(['resize', '64', '--from', {str(f)!r}, '--json'])\n"
        "except SystemExit as e: assert e.code in (0, None), e.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows_added"] == 24


def test_human_output(emb: Any, models: Any) -> None:
    path, _ = models["untied"]
    r = emb("resize", "100", "--pad-to-multiple-of", "64", "--from", str(path), ok=True)
    assert "-> 128 rows" in r.stdout and "multivariate-normal" in r.stdout and r.stderr == ""
