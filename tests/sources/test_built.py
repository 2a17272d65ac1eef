"""Built tables are bit-identical to the torch recipes the README documents, whether built
whole, streamed in chunks, or read a few rows at a time from a prefix."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from emb_cli.sources.built import (
    BuiltSource,
    build_pieces,
    build_weight,
    piece_bounds,
    piece_rows,
    prefix_rows,
)
from emb_cli.sources.config.spec import InitSpec, TableSpec

SCHEMES = ("normal", "uniform", "xavier-normal", "xavier-uniform", "torch-default")
# Sizes a multiple of 16 values and not, under 16 values, one row, one column; the list.
SHAPES = [(3000, 8), (1001, 7), (100, 4096), (129, 33), (5, 3), (17, 1), (1, 17), (2, 9), (1, 1)]


def spec(
    scheme: str,
    pad: int | None = 0,
    dtype: str = "float32",
    vocab: int = 300,
    dim: int = 16,
    **kw: float,
) -> TableSpec:
    return TableSpec(
        origin="flags",
        name="t",
        vocab_size=vocab,
        embed_dim=dim,
        pad_token_id=pad,
        tied=False,
        dtype=dtype,
        init=InitSpec(scheme=scheme, seed=7, **kw),  # type: ignore[arg-type]
    )


def recipe(s: TableSpec) -> torch.Tensor:
    """The README's one-call recipe, on torch's global generator."""
    v, d, pad = s.vocab_size, s.embed_dim, s.pad_token_id
    torch.manual_seed(s.init.seed)
    if s.init.scheme == "torch-default":
        w = torch.nn.Embedding(v, d, padding_idx=pad).weight.detach()
    else:
        w = torch.empty(v, d)
        if s.init.scheme == "normal":
            w.normal_(0, s.init.std)
        elif s.init.scheme == "uniform":
            w.uniform_(s.init.low, s.init.high)
        elif s.init.scheme == "xavier-normal":
            torch.nn.init.xavier_normal_(w)
        else:
            torch.nn.init.xavier_uniform_(w)
        if pad is not None:
            w[pad] = 0
    return w.to(getattr(torch, s.dtype))


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


# ---------------------------------------------------------------- streamed in pieces


def test_the_torch_fact_the_pieces_rely_on():
    """normal_ in pieces of multiples of 16 values, the last one >= 16, gives one call's bits;
    a piece of another size, or a last piece under 16 values, does not. uniform_: any pieces."""

    def pieces(n: int, sizes: list[int], fill: str) -> torch.Tensor:
        torch.manual_seed(3)
        w = torch.empty(n)
        at = 0
        for k in sizes:
            getattr(w[at : at + k], fill)()
            at += k
        return w

    for fill in ("normal_", "uniform_"):
        whole = pieces(1001 * 7, [1001 * 7], fill)
        assert torch.equal(pieces(7007, [4096, 2896, 15], fill), whole) is (fill == "uniform_")
        assert torch.equal(pieces(7007, [4001, 3006], fill), whole) is (fill == "uniform_")
        assert torch.equal(pieces(7007, [4096, 2880, 31], fill), whole)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_streamed_chunks_and_rows_match_the_one_call_recipe(shape, scheme, dtype):
    v, d = shape
    for pad in sorted({0, v // 2, v - 1}) + [None]:
        s = spec(scheme, pad=pad, dtype=dtype, vocab=v, dim=d, std=0.03, low=-0.2, high=0.3)
        want = recipe(s)
        wide = want.float().numpy()
        assert torch.equal(build_weight(s), want)
        src = BuiltSource(s, None)
        for rows_per in (1, 3, 16, 250, None):
            blocks = list(src.chunks(rows_per))
            n = rows_per or blocks[0][1].shape[0]
            assert [b[0] for b in blocks] == list(range(0, v, n))
            assert all(b[1].dtype == np.float32 for b in blocks)
            np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks]), wide)
        for ids in ([0], [v - 1], [v // 2, 0], [min(v - 1, 16), min(v - 1, 15)]):
            got = BuiltSource(s, None).rows(ids)
            np.testing.assert_array_equal(got, wide[ids])


def test_piece_rule():
    assert [piece_rows(d) for d in (1, 2, 3, 7, 8, 16, 33, 4096, 7168)] == [
        16,
        8,
        16,
        16,
        2,
        1,
        16,
        1,
        1,
    ]
    for v, d in [*SHAPES, (10**6, 5), (16, 1), (33, 1)]:
        for rows in (1, 5, 16, 100):
            bounds = list(piece_bounds(v, d, v, rows))
            assert bounds[0][0] == 0 and sum(n for _, n in bounds) == v
            assert all(s + n == t for (s, n), (t, _) in zip(bounds, bounds[1:], strict=False))
            assert all(n * d % 16 == 0 for _, n in bounds[:-1])
            assert bounds[-1][1] * d >= 16 or len(bounds) == 1
            if len(bounds) > 100:
                break
    # A prefix ends on a whole multiple of 16 values, or takes the table's last rows too.
    assert prefix_rows(10**15, 8, 6) == 6 and prefix_rows(10**15, 7, 1) == 16
    assert prefix_rows(1001, 7, 990) == 992  # the 9 rows left make 63 values: a valid piece
    assert prefix_rows(994, 7, 990) == 994  # 2 rows left, 14 values: they come along
    assert prefix_rows(1001, 7, 999) == 1001
    assert prefix_rows(5, 3, 1) == 5


def test_lookup_builds_only_the_prefix():
    """Row 5 of a 10**15-row table: the bits of the recipe's first rows, in no time."""
    s = spec("normal", pad=None, vocab=10**15, dim=8, std=0.02)
    got = BuiltSource(s, None).rows([5, 1])
    torch.manual_seed(7)
    first = torch.empty(6, 8).normal_(0, 0.02)  # 48 values: a whole multiple of 16
    np.testing.assert_array_equal(got, first[[5, 1]].numpy())


def test_deepseek_lookup_is_the_recipe_prefix():
    from emb_cli.sources.config.spec import load_preset

    s = load_preset("deepseek-v3")
    assert (s.vocab_size, s.embed_dim, s.dtype, s.pad_token_id) == (129280, 7168, "bfloat16", None)
    got = BuiltSource(s, None).rows([5])
    torch.manual_seed(s.init.seed)
    first = torch.empty(6, 7168).normal_(0, s.init.std).to(torch.bfloat16)
    np.testing.assert_array_equal(got, first[[5]].float().numpy())


def test_pieces_use_their_own_generator():
    """Streaming leaves torch's global generator alone: other code may draw between chunks."""
    s = spec("normal", vocab=64, dim=16)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    it = build_pieces(s, rows=8)
    first = next(it)[1].clone()
    torch.rand(100)  # someone else draws in between
    rest = torch.cat([p for _, p in it])
    assert torch.equal(torch.cat([first, rest]), recipe(s))
    torch.set_rng_state(before)


def test_chunks_never_hold_the_table():
    """A 20000 x 1024 table (80 MB) streams with a few MB of pieces at a time."""
    code = (
        "import resource, torch\n"
        "from emb_cli.sources.built import BuiltSource\n"
        "from emb_cli.sources.config.spec import InitSpec, TableSpec\n"
        "s = TableSpec('flags', 't', 20000, 1024, 0, False, 'bfloat16', InitSpec())\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "n = sum(b.shape[0] for _, b in BuiltSource(s, None).chunks())\n"
        "grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base\n"
        "print(n, grew)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, grew_kib = map(int, out.stdout.split())
    assert n == 20000 and grew_kib < 40 * 1024  # the whole table would be 80 MB


def test_progress_bar_for_a_slow_build(monkeypatch: Any) -> None:
    """A build streams through the progress hook (the CLI shows it after a second)."""
    from emb_cli import progress

    seen: list[tuple[str, int, int]] = []

    class Bar:
        def __init__(self, label: str, total: int) -> None:
            self.label, self.total, self.done = label, total, 0

        def advance(self, rows: int) -> None:
            self.done += rows

        def close(self) -> None:
            seen.append((self.label, self.total, self.done))

    monkeypatch.setattr(progress, "_progress", Bar)
    s = spec("normal", vocab=5000, dim=64)
    list(BuiltSource(s, None).chunks())
    BuiltSource(s, None).rows([4000])
    build_weight(s)
    assert seen == [
        ("building t", 5000, 5000),
        ("building t", 4001, 4001),
        ("building t", 5000, 5000),
    ]
