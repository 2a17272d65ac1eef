"""The streamed top principal component against numpy's eigh of the float64 covariance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from emb_cli.analysis import pca


def planted(n: int, d: int, strength: float, offset: float = 0.0, seed: int = 0) -> Any:
    """N(0, 0.02) rows plus a random multiple of one direction u: a dominant first PC."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    x = rng.standard_normal((n, d)) * 0.02 + np.outer(rng.standard_normal(n) * strength, u)
    return (x + offset).astype(np.float32)


class Counted:
    """A table streamed in odd-sized blocks, counting the passes made over it."""

    def __init__(self, x: Any, block: int = 777) -> None:
        self.x, self.block, self.passes = x, block, 0

    def __call__(self) -> Iterator[tuple[int, Any]]:
        self.passes += 1
        for s in range(0, self.x.shape[0], self.block):
            yield s, self.x[s : s + self.block]


def exact(x: Any) -> tuple[Any, Any, float]:
    x64 = x.astype(np.float64)
    mean = x64.mean(0)
    c = (x64 - mean).T @ (x64 - mean)
    lam, vecs = np.linalg.eigh(c)
    return lam, vecs, float(np.trace(c))


@pytest.mark.parametrize("width", [8, 16])
@pytest.mark.parametrize("offset", [0.0, 100.0])  # a common offset 5000x the spread
def test_randomized_finds_a_planted_direction(width: int, offset: float) -> None:
    x = planted(20000, 512, 0.2, offset)
    lam, vecs, total = exact(x)
    stream = Counted(x)
    p = pca.Plan("randomized", width, pca.SKETCH_PASSES + 1)
    read = []

    def read_rows(ids: list[int]) -> Any:
        read.append(ids)
        return x[ids]

    c = pca.top_component(stream, x.shape[0], x.astype(np.float64).mean(0), total, p, read_rows)
    assert stream.passes == p.passes == 3
    # The starting sample: 2048 rows in 16 runs spread from the first row to the last.
    (ids,) = read
    assert len(ids) == 2048 and ids[:2] == [0, 1] and ids[-1] == 19999
    sine = pca.angle(c.vector, vecs[:, -1])
    assert sine < 1e-4
    assert c.angle_bound == pytest.approx(sine, rel=0.1, abs=1e-6)  # the bound is tight here
    assert c.eigenvalue == pytest.approx(lam[-1], rel=1e-6)
    assert c.explained == pytest.approx(lam[-1] / total, rel=1e-6)
    assert c.separated and c.gap > 0.9
    assert c.vector[np.argmax(np.abs(c.vector))] > 0


def test_random_start_needs_the_passes() -> None:
    """Without the sample, the same passes from a random block: close, and the bound says
    how close."""
    x = planted(20000, 512, 0.2)
    lam, vecs, total = exact(x)
    p = pca.Plan("randomized", 8, pca.SKETCH_PASSES + 1)
    c = pca.top_component(Counted(x), x.shape[0], x.astype(np.float64).mean(0), total, p)
    sine = pca.angle(c.vector, vecs[:, -1])
    assert 1e-6 < sine < 1e-2 and c.angle_bound == pytest.approx(sine, rel=0.1)
    assert c.separated


def test_no_dominant_direction() -> None:
    """An isotropic table: the top two variances within a few percent, nothing separated."""
    x = np.random.default_rng(1).standard_normal((20000, 256)).astype(np.float32)
    lam, _, total = exact(x)
    p = pca.Plan("randomized", 16, pca.SKETCH_PASSES + 1)
    c = pca.top_component(
        Counted(x), x.shape[0], x.astype(np.float64).mean(0), total, p, lambda ids: x[ids]
    )
    assert 1 - lam[-2] / lam[-1] < 0.05
    assert not c.separated and c.gap < pca.MIN_GAP
    assert c.eigenvalue <= lam[-1] * (1 + 1e-9)  # a Rayleigh quotient: never above lambda_1


def test_exact_plan_is_numpy_eigh() -> None:
    x = planted(3000, 64, 0.05, offset=3.0)
    lam, vecs, total = exact(x)
    p = pca.plan(*x.shape)
    assert p == pca.Plan("exact", 64, 2)
    c = pca.top_component(Counted(x), x.shape[0], x.astype(np.float64).mean(0), total, p)
    assert pca.angle(c.vector, vecs[:, -1]) < 1e-6
    assert c.second == pytest.approx(lam[-2], rel=1e-6)
    assert c.gap == pytest.approx(1 - lam[-2] / lam[-1], rel=1e-6)


def test_plan_sizes() -> None:
    assert pca.plan(30522, 384) == pca.Plan("exact", 384, 2)  # MiniLM
    assert pca.plan(100352, 4096) == pca.Plan("randomized", 8, 3)  # the 1.6 GB table
    assert pca.plan(128256, 4096) == pca.Plan("randomized", 8, 3)  # Llama 3 8B
    assert pca.plan(50257, 768) == pca.Plan("randomized", 55, 3)  # GPT-2: wider, same work
    assert pca.plan(1000, 4096) == pca.Plan("randomized", 256, 3)
    assert pca.plan(10, 3) == pca.Plan("exact", 3, 2)


def test_sketch_leaves_out_bad_rows() -> None:
    """Rows marked bad add nothing: the same W as the table without them."""
    x = planted(500, 40, 0.1, offset=1.0)
    bad = np.zeros(500, dtype=bool)
    bad[[3, 250, 499]] = True
    noisy = x.copy()
    noisy[3, 0] = np.nan
    noisy[250, 7] = np.inf
    noisy[499] = -np.inf
    good = x[~bad].astype(np.float64)
    mean = good.mean(0)
    q = pca.start_basis(40, 8)
    for center in (None, mean):
        sk = pca.CovarianceSketch(q, center=center)
        for s in range(0, 500, 64):
            sk.add(noisy[s : s + 64], bad[s : s + 64])
        got = sk.finish(int((~bad).sum()), mean)
        want = (good - mean).T @ ((good - mean) @ q)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
