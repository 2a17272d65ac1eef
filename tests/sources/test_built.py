"""Built tables are bit-identical to the torch recipes the README documents."""

from __future__ import annotations

import pytest
import torch

from emb_cli.sources.built import build_weight
from emb_cli.sources.spec import InitSpec, TableSpec


def spec(scheme: str, pad: int | None = 0, dtype: str = "float32", **kw: float) -> TableSpec:
    return TableSpec(
        origin="flags",
        name="t",
        vocab_size=300,
        embed_dim=16,
        pad_token_id=pad,
        tied=False,
        dtype=dtype,
        init=InitSpec(scheme=scheme, seed=7, **kw),  # type: ignore[arg-type]
    )


def test_normal_matches_recipe():
    torch.manual_seed(7)
    w = torch.empty(300, 16).normal_(0, 0.05)
    w[0] = 0
    assert torch.equal(build_weight(spec("normal", std=0.05)), w)


def test_torch_default_matches_nn_embedding():
    torch.manual_seed(7)
    ref = torch.nn.Embedding(300, 16, padding_idx=3).weight.detach()
    assert torch.equal(build_weight(spec("torch-default", pad=3)), ref)
    assert torch.count_nonzero(ref[3]) == 0


def test_uniform_matches_recipe():
    torch.manual_seed(7)
    w = torch.empty(300, 16).uniform_(-0.3, 0.2)
    w[0] = 0
    assert torch.equal(build_weight(spec("uniform", low=-0.3, high=0.2)), w)


@pytest.mark.parametrize(
    "scheme,fn",
    [
        ("xavier-normal", torch.nn.init.xavier_normal_),
        ("xavier-uniform", torch.nn.init.xavier_uniform_),
    ],
)
def test_xavier_matches_recipe(scheme, fn):
    torch.manual_seed(7)
    w = fn(torch.empty(300, 16))
    w[0] = 0
    assert torch.equal(build_weight(spec(scheme)), w)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_dtype_is_a_cast_after_the_fp32_init(dtype):
    torch.manual_seed(7)
    w = torch.empty(300, 16).normal_(0, 0.02)
    w[0] = 0
    got = build_weight(spec("normal", dtype=dtype))
    assert got.dtype == getattr(torch, dtype)
    assert torch.equal(got, w.to(getattr(torch, dtype)))


def test_no_pad_leaves_row_zero_random():
    torch.manual_seed(7)
    w = torch.empty(300, 16).normal_(0, 0.02)
    assert torch.equal(build_weight(spec("normal", pad=None)), w)
