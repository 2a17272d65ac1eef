"""emb init-stats on built tables: torch's numbers and the verdict."""

from __future__ import annotations

import math

import pytest
import torch


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


@pytest.mark.parametrize("scheme", ["uniform", "xavier-uniform"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_uniform_default_table_consistent_on_every_seed(emb, scheme, seed):
    """3000 x 8 uniform tables were all called inconsistent (row_norm_mean z about -5)."""
    data = emb.json("init-stats", "--init", scheme, "--seed", str(seed))
    assert data["verdict"] == "consistent-with-init", data["verdict_detail"]
    assert abs(data["z_scores"]["row_norm_mean"]) < 4
