"""The top principal component of a streamed table, in a fixed, small number of passes.

Randomized subspace iteration (Halko, Martinsson and Tropp 2011, "Finding structure with
randomness", Algorithm 4.4 with a Rayleigh-Ritz step): a block Q of `width` orthonormal
vectors (the wanted one plus oversampling), W = C Q for the covariance C of the rows, one
pass over the table each (W = sum over blocks of (X - mean)^T ((X - mean) Q)), then Q = orth(W),
a fixed number of times. The top Ritz pair of the last block estimates the top eigenpair.
The products are float32, the table's own precision, accumulated in float64.

How well the component is separated is reported, never iterated on: the gap 1 - theta2/theta1
between the top two Ritz values, and the residual |C v - theta1 v| over that gap, which bounds
the sine of the angle to the true eigenvector (Davis and Kahan 1970) when theta2 is close
to the second eigenvalue. Below MIN_GAP there is no dominant direction to remove.

When the covariance itself is cheap (D <= EXACT_MAX_DIM and rows * D^2 <= EXACT_BUDGET) it is
accumulated instead, Q = identity, in one pass, and decomposed with numpy's eigh.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Halko et al. suggest 5-10 vectors of oversampling; 16 in all makes the top Ritz vector
# converge at the rate lambda_17 / lambda_1 per pass. Narrow tables get wider blocks for
# the same work: width * rows * D stays near WIDTH_BUDGET values (16 on 100352 x 4096).
MIN_WIDTH = 16
MAX_WIDTH = 256
WIDTH_BUDGET = 2**32
PASSES = 3  # products with C: the first pass (norms, mean) makes one too
EXACT_MAX_DIM = 1024  # a D x D float64 covariance of 8 MiB; eigh in well under a second
EXACT_BUDGET = 10**10  # rows * D^2 multiply-adds: MiniLM's 30522 x 384 is 4.5e9
MIN_GAP = 0.1  # top two variances within 10%: no dominant direction
MAX_ANGLE = 0.05  # a bound above this: the direction is only roughly located


@dataclass(frozen=True)
class Plan:
    method: str  # exact | randomized
    width: int  # vectors in the block (D for exact)
    passes: int  # products with C, one pass over the table each


def plan(rows: int, dim: int) -> Plan:
    if dim <= EXACT_MAX_DIM and rows * dim * dim <= EXACT_BUDGET:
        return Plan("exact", dim, 1)
    width = max(MIN_WIDTH, min(MAX_WIDTH, WIDTH_BUDGET // max(1, rows * dim)))
    return Plan("randomized", min(width, dim), PASSES)


@dataclass(frozen=True)
class Component:
    vector: np.ndarray  # unit, float64; sign: its largest |entry| is positive
    eigenvalue: float  # of C = sum (x - mean)(x - mean)^T over the finite rows
    second: float  # the next Ritz value (next eigenvalue when exact)
    explained: float | None  # eigenvalue / trace(C); None for a zero matrix
    gap: float  # 1 - second / eigenvalue
    angle_bound: float  # sine of the angle to the true top eigenvector, at most this
    separated: bool  # gap >= MIN_GAP: a dominant direction
    method: str
    passes: int
    width: int


class CovarianceSketch:
    """One pass of W = C Q, accumulated block by block.

    Rows are taken relative to `center` (the mean, once known; before that the first
    block's mean, so that a large common offset does not cancel digits), and corrected
    to the true mean in finish(): sum (x-c)(x-c)^T = C + n (mean-c)(mean-c)^T.
    `extra` columns are projected too but not accumulated (per-row products only).
    """

    def __init__(
        self, basis: np.ndarray, center: np.ndarray | None = None, extra: np.ndarray | None = None
    ) -> None:
        import numpy as np

        self.width = basis.shape[1]
        cols = basis if extra is None else np.hstack([basis, extra])
        self._cols32 = np.ascontiguousarray(cols, dtype=np.float32)
        self._basis = basis
        self._acc = np.zeros((basis.shape[0], self.width), dtype=np.float64)
        self.center: np.ndarray | None = None
        self._c32: np.ndarray | None = None
        if center is not None:
            self._set_center(center)

    def _set_center(self, center: np.ndarray) -> None:
        import numpy as np

        self._c32 = center.astype(np.float32)
        self.center = self._c32.astype(np.float64)  # the exact value the rows are shifted by

    def add(self, block: np.ndarray, bad: np.ndarray | None = None) -> np.ndarray:
        """Accumulate a float32 block; rows marked `bad` (NaN/Inf) count as the center, so
        they add nothing. Returns (x - center) @ [Q | extra] per row, float32."""
        import numpy as np

        has_bad = bad is not None and bool(bad.any())
        if self._c32 is None:
            good = block[~bad] if has_bad and bad is not None else block
            first = good.mean(axis=0, dtype=np.float64) if good.shape[0] else None
            self._set_center(first if first is not None else np.zeros(block.shape[1]))
        assert self._c32 is not None and self.center is not None
        x = block - self._c32
        if has_bad:
            x[bad] = 0.0
        y: np.ndarray = x @ self._cols32
        self._acc += (x.T @ y[:, : self.width]).astype(np.float64)
        return y

    def finish(self, rows: int, mean: np.ndarray) -> np.ndarray:
        """C Q, for the `rows` finite rows whose float64 mean is `mean`."""
        import numpy as np

        assert self.center is not None
        d = mean - self.center
        out: np.ndarray = self._acc - rows * np.outer(d, d @ self._basis)
        return out


def start_basis(dim: int, width: int, seed: int = 0) -> np.ndarray:
    import numpy as np

    if width >= dim:
        return np.eye(dim)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, width)))
    return q


def next_basis(w: np.ndarray) -> np.ndarray:
    import numpy as np

    q, _ = np.linalg.qr(w)
    return q


def _signed(v: np.ndarray) -> np.ndarray:
    import numpy as np

    return -v if v[int(np.argmax(np.abs(v)))] < 0 else v


def _component(
    v: np.ndarray,
    lam: float,
    second: float,
    bound: float,
    total: float,
    p: Plan,
) -> Component:
    gap = 1.0 - second / lam if lam > 0 else 0.0
    return Component(
        vector=_signed(v),
        eigenvalue=lam,
        second=second,
        explained=lam / total if total > 0 else None,
        gap=gap,
        angle_bound=bound,
        separated=lam > 0 and gap >= MIN_GAP,
        method=p.method,
        passes=p.passes,
        width=p.width,
    )


def from_covariance(cov: np.ndarray, total: float, p: Plan) -> Component:
    """The exact top eigenpair of a D x D covariance (numpy eigh)."""
    import numpy as np

    lam, vecs = np.linalg.eigh((cov + cov.T) / 2)
    second = float(lam[-2]) if lam.size > 1 else 0.0
    return _component(vecs[:, -1], float(lam[-1]), max(second, 0.0), 0.0, total, p)


def ritz(basis: np.ndarray, w: np.ndarray, total: float, p: Plan) -> tuple[Component, np.ndarray]:
    """The top Ritz pair from the last block Q and W = C Q; also the Ritz coefficients u
    (v = Q u), with which per-row products against Q give products against v."""
    import numpy as np

    if p.method == "exact":  # Q = I: W is C itself
        comp = from_covariance(w, total, p)
        return comp, comp.vector
    h = basis.T @ w
    theta, u = np.linalg.eigh((h + h.T) / 2)
    u1 = u[:, -1]
    v = basis @ u1
    lam = float(theta[-1])
    second = max(float(theta[-2]), 0.0) if theta.size > 1 else 0.0
    resid = float(np.linalg.norm(w @ u1 - lam * v))
    bound = min(1.0, resid / (lam - second)) if lam > second else 1.0
    comp = _component(v, lam, second, bound, total, p)
    sign = 1.0 if comp.vector is v else -1.0
    return comp, sign * u1


Stream = Callable[[], Iterator[tuple[int, "np.ndarray"]]]


def top_component(
    stream: Stream, rows: int, mean: np.ndarray, total: float, p: Plan | None = None, seed: int = 0
) -> Component:
    """The top principal component of the streamed rows (all finite), given their mean and
    total variance trace(C): p.passes passes (one for exact). For callers without their own
    first pass; emb undertrained folds the first product into its norms pass."""
    dim = mean.size
    p = p or plan(rows, dim)
    q = start_basis(dim, p.width, seed)
    w = q
    for i in range(p.passes):
        if i:
            q = next_basis(w)
        sketch = CovarianceSketch(q, center=mean)
        for _, block in stream():
            sketch.add(block)
        w = sketch.finish(rows, mean)
    comp, _ = ritz(q, w, total, p)
    return comp


def angle(a: np.ndarray, b: np.ndarray) -> float:
    """Sine of the angle between two unit vectors, up to sign."""
    return math.sqrt(max(0.0, 1.0 - float(a @ b) ** 2))
