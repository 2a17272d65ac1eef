"""The KS statistic against rounded samples."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from emb_cli.analysis.distributions import normal
from emb_cli.analysis.init_stats import ks_statistic


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_ks_on_rounded_values_matches_the_unrounded_sample(dtype):
    """bf16 rounding steps alone added about half the 0.1% critical value to KS D."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 0.02, size=2**20)
    exp = normal(0.02, 64, "N(0, 0.02)")
    dt = np.dtype(getattr(ml_dtypes, dtype)) if dtype == "bfloat16" else np.dtype(dtype)
    rounded = x.astype(np.float32).astype(dt).astype(np.float64)
    d_true = ks_statistic(x, exp)
    assert abs(ks_statistic(rounded, exp, dtype) - d_true) < 2e-4
    if dtype == "bfloat16":
        assert ks_statistic(rounded, exp) - d_true > 3e-4  # what the continuous CDF reports


def test_ks_on_rounded_values_still_rejects_a_wrong_std():
    rng = np.random.default_rng(8)
    x = rng.normal(0.0, 0.021, size=2**20).astype(ml_dtypes.bfloat16).astype(np.float64)
    exp = normal(0.02, 64, "N(0, 0.02)")
    assert ks_statistic(x, exp, "bfloat16") > 1.95 / math.sqrt(x.size)
