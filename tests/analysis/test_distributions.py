"""Closed forms of the init distributions against numbers computed here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emb_cli.analysis.distributions import uniform, uniform_row_norm


@pytest.mark.parametrize(
    ("low", "high", "dim", "exact"),
    [
        (-0.1, 0.1, 1, 0.05),  # E|x| = a / 2
        (0.0, 1.0, 1, 0.5),
        # mean distance from the centre of the square [-1, 1]^2
        (-1.0, 1.0, 2, (math.sqrt(2) + math.log(1 + math.sqrt(2))) / 3),
    ],
)
def test_uniform_row_norm_closed_forms(low, high, dim, exact):
    assert uniform_row_norm(low, high, dim) == pytest.approx(exact, rel=1e-6)


def test_uniform_row_norm_below_sqrt_d_mean_square():
    """E||x|| < sqrt(E||x||^2): the old target, 4 standard errors too high for 3000 x 8."""
    exp = uniform(-0.1, 0.1, 8, "U")
    rng = np.random.default_rng(0)
    norms = np.linalg.norm(rng.uniform(-0.1, 0.1, size=(400_000, 8)), axis=1)
    se = norms.std() / math.sqrt(norms.size)
    assert exp.row_norm_exact is not None
    assert abs(norms.mean() - exp.row_norm_exact) < 4 * se
    assert exp.row_norm_std == pytest.approx(norms.std(), rel=5e-3)
    assert exp.row_norm_approx - exp.row_norm_exact > 10 * se
