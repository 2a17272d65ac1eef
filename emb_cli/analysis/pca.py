"""The top principal component of a streamed table, in a fixed, small number of passes.

Randomized subspace iteration (Halko, Martinsson and Tropp 2011, "Finding structure with
randomness", Algorithm 4.4): a block Q of `width` orthonormal vectors (the wanted one plus
oversampling), W = C Q for the covariance C of the rows, one pass over the table each
(W = sum over blocks of (X - mean)^T ((X - mean) Q)), then Q = orth(W), SKETCH_PASSES times.
The first block is not random but the top of a sample of rows read at a few places of the
table (sample_basis): in memory, iterations cost nothing, and a dominant direction is
already close before the first pass.
A Rayleigh-Ritz step on the last block gives the top direction u; the vector used is
v = W u / |W u|, one power step further. A last pass computes C v with each row's products,
so the eigenvalue estimate v.Cv and the residual |C v - (v.Cv) v| are those of v itself.
Products are float32, the table's own precision, accumulated in float64.

How well the component is separated is reported, never iterated on: the gap 1 - theta2 / lambda
between the second Ritz value and v's eigenvalue estimate, and the residual over that gap,
which bounds the sine of the angle to the true top eigenvector (Davis and Kahan 1970) when
theta2 is close to the second eigenvalue. Below MIN_GAP there is no dominant direction.

When the covariance itself is cheap (D <= EXACT_MAX_DIM and rows * D^2 <= EXACT_BUDGET) it is
accumulated instead (Q = identity) in the first pass and decomposed with numpy's eigh.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

# Halko et al. suggest 5-10 vectors of oversampling. A table with one dominant direction
# converges at lambda_(width+1) / lambda_1 per pass whatever the width; narrow tables get
# wider blocks for the same work: width * rows * D stays near WIDTH_BUDGET (8 on
# 100352 x 4096, where each pass of width w costs 4 * w multiply-adds a value).
MIN_WIDTH = 8
MAX_WIDTH = 256
WIDTH_BUDGET = 2**31
SKETCH_PASSES = 2  # products C Q; one more pass computes C v and the per-row products
SAMPLE_ROWS = 2048  # the starting block's sample: 32 MiB at D = 4096 ...
SAMPLE_RUNS = 16  # ... read as this many runs of consecutive rows (one read each)
SAMPLE_ITERS = 6
EXACT_MAX_DIM = 1024  # a D x D float64 covariance of 8 MiB; eigh in well under a second
EXACT_BUDGET = 10**10  # rows * D^2 multiply-adds: MiniLM's 30522 x 384 is 4.5e9
PRECISE_VALUES = 2**26  # tables this small get their per-row products in float64
MIN_GAP = 0.1  # top two variances within 10%: no dominant direction
MAX_ANGLE = 0.05  # a bound above this: the direction is only roughly located


Method = Literal["exact", "randomized"]


@dataclass(frozen=True)
class Plan:
    method: Method
    width: int  # vectors in the block (D for exact)
    passes: int  # passes over the table, the last one for C v and the per-row products


def plan(rows: int, dim: int, method: Method | None = None) -> Plan:
    """Exact when cheap, else randomized; `method` forces one (tests compare them)."""
    exact = dim <= EXACT_MAX_DIM and rows * dim * dim <= EXACT_BUDGET
    if method == "exact" or (method is None and exact):
        return Plan("exact", dim, 2)
    width = max(MIN_WIDTH, min(MAX_WIDTH, WIDTH_BUDGET // max(1, rows * dim)))
    return Plan("randomized", min(width, dim), SKETCH_PASSES + 1)


Rows = Callable[[list[int]], "np.ndarray"]


@dataclass(frozen=True)
class Component:
    vector: np.ndarray  # unit, float64; sign: its largest |entry| is positive
    eigenvalue: float  # v.Cv, C = sum (x - mean)(x - mean)^T over the finite rows
    second: float  # the second Ritz value (the second eigenvalue when exact)
    explained: float | None  # eigenvalue / trace(C); None for a zero matrix
    gap: float  # 1 - second / eigenvalue
    angle_bound: float  # sine of the angle to the true top eigenvector, at most about this
    separated: bool  # gap >= MIN_GAP: a dominant direction
    method: Method
    passes: int
    width: int


@dataclass(frozen=True)
class Part:
    """One block's share of a sketch pass."""

    y: np.ndarray  # (x - center) @ [Q | extra], per row
    acc_t: np.ndarray  # Y^T X (width x D)
    ysum: np.ndarray | None  # column sums of Y, when the shift was applied to the products


class CovarianceSketch:
    """One pass of W = C Q, accumulated block by block, with each row's products.

    Rows are taken relative to `center` (the mean, once known; before that the first
    block's mean), and corrected to the true mean in finish():
    sum (x-c)(x-c)^T = C + n (mean-c)(mean-c)^T. While |c|^2 is below the rows' spread
    (`explicit` None) the shift is applied to the float32 products, (x - c) Q = x Q - c Q,
    and no centred copy of the block is made; a larger common offset is subtracted first,
    so that float32 products do not cancel digits. `precise`: float64 products.
    `extra` columns are projected, not accumulated.
    """

    def __init__(
        self,
        basis: np.ndarray,
        center: np.ndarray | None = None,
        extra: np.ndarray | None = None,
        spread: float | None = None,
        explicit: bool | None = None,
        precise: bool = False,
    ) -> None:
        import numpy as np

        self.width = basis.shape[1]
        self._dtype = np.float64 if precise else np.float32
        cols = basis if extra is None else np.hstack([basis, extra])
        self._cols = np.ascontiguousarray(cols, dtype=self._dtype)
        self.basis = basis
        self._acc_t = np.zeros((self.width, basis.shape[0]), dtype=np.float64)  # W^T
        self._ysum = np.zeros(cols.shape[1], dtype=np.float64)
        self._force = True if precise else explicit
        self._explicit = True
        self.center: np.ndarray | None = None
        self._c: np.ndarray | None = None
        self._cq: np.ndarray | None = None
        if center is not None:
            self._set_center(center, spread)

    def _set_center(self, center: np.ndarray, spread: float | None) -> None:
        self._c = center.astype(self._dtype)
        self.center = self._c.astype("float64")  # the exact value the rows are shifted by
        self._cq = self._c @ self._cols
        if self._force is not None:
            self._explicit = self._force
        else:
            self._explicit = spread is None or float(self.center @ self.center) > spread

    def prepare(self, block: np.ndarray, bad: np.ndarray | None = None) -> None:
        """Before the first compute(): the first block's mean becomes the center if none."""
        import numpy as np

        if self._c is not None:
            return
        good = block if bad is None else block[~bad]
        if good.shape[0]:
            first = good.mean(axis=0, dtype=np.float64)
            dev = good - first.astype(np.float32)
            spread = float(np.einsum("ij,ij->", dev, dev, dtype=np.float64)) / good.shape[0]
            self._set_center(first, spread)
        else:
            self._set_center(np.zeros(block.shape[1]), None)

    def compute(self, block: np.ndarray, bad: np.ndarray | None = None) -> Part:
        """A float32 block's share; rows marked `bad` (NaN/Inf) count as the center, so they
        add nothing. Reads only what prepare() set: safe on worker threads."""
        import numpy as np

        assert self._c is not None and self._cq is not None
        ysum = None
        if self._explicit:
            x = block.astype(self._dtype, copy=False) - self._c
            if bad is not None:
                x[bad] = 0.0
            y: np.ndarray = x @ self._cols
        else:
            x = block
            if bad is not None:
                x = block.copy()
                x[bad] = self._c
            y = x @ self._cols
            y -= self._cq
            if bad is not None:
                y[bad] = 0.0
            ysum = y.sum(axis=0, dtype=np.float64)
        # W^T += Y^T X: a contiguous (width x rows) @ (rows x D) runs 2x faster here than X^T Y
        return Part(y, np.ascontiguousarray(y[:, : self.width].T) @ x, ysum)

    def merge(self, part: Part) -> np.ndarray:
        """Add a block's share (in block order, for reproducible sums); its per-row products."""
        self._acc_t += part.acc_t
        if part.ysum is not None:
            self._ysum += part.ysum
        return part.y

    def add(self, block: np.ndarray, bad: np.ndarray | None = None) -> np.ndarray:
        """prepare, compute and merge one block; returns (x - center) @ [Q | extra] per row."""
        bad = bad if bad is not None and bad.any() else None
        self.prepare(block, bad)
        return self.merge(self.compute(block, bad))

    def finish(self, rows: int, mean: np.ndarray) -> np.ndarray:
        """C Q, for the `rows` finite rows whose float64 mean is `mean`."""
        import numpy as np

        assert self.center is not None
        d = mean - self.center
        w = self._acc_t.T - np.outer(self.center, self._ysum[: self.width])
        out: np.ndarray = w - rows * np.outer(d, d @ self.basis)
        return out


def start_basis(dim: int, width: int, seed: int = 0) -> np.ndarray:
    import numpy as np

    if width >= dim:
        return np.eye(dim)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, width)))
    return q


def sample_ids(rows: int, spread: bool = True) -> list[int]:
    """SAMPLE_ROWS ids in SAMPLE_RUNS runs over the table, or its first rows (spread=False:
    a built table, whose prefix is cheap and whose rows are all alike)."""
    if rows <= SAMPLE_ROWS or not spread:
        return list(range(min(rows, SAMPLE_ROWS)))
    run = SAMPLE_ROWS // SAMPLE_RUNS
    starts = [round(i * (rows - run) / (SAMPLE_RUNS - 1)) for i in range(SAMPLE_RUNS)]
    return sorted({t for s in starts for t in range(s, s + run)})


def sample_basis(sample: np.ndarray, width: int, seed: int = 0) -> np.ndarray:
    """A starting block: subspace iteration on the covariance of a sample held in memory
    (centred in place)."""
    import numpy as np

    x = sample.astype(np.float32, copy=False)  # centred in place: the sample is ours
    x -= x.mean(axis=0, dtype=np.float64).astype(np.float32)
    q = start_basis(sample.shape[1], width, seed)
    for _ in range(SAMPLE_ITERS):
        q32 = q.astype(np.float32)
        q = next_basis((x.T @ (x @ q32)).astype(np.float64))
    return q


def next_basis(w: np.ndarray) -> np.ndarray:
    import numpy as np

    q, _ = np.linalg.qr(w)
    return q


def candidate(basis: np.ndarray, w: np.ndarray, p: Plan) -> tuple[np.ndarray, float]:
    """(v, second): the direction to use and the second Ritz value, from Q and W = C Q.

    Exact (Q = I, W = C): numpy eigh. Randomized: Rayleigh-Ritz, H = Q^T W = U Theta U^T,
    then v = W u1 / |W u1|.
    """
    import numpy as np

    if p.method == "exact":
        lam, vecs = np.linalg.eigh((w + w.T) / 2)
        return vecs[:, -1], max(float(lam[-2]), 0.0) if lam.size > 1 else 0.0
    h = basis.T @ w
    theta, u = np.linalg.eigh((h + h.T) / 2)
    second = max(float(theta[-2]), 0.0) if theta.size > 1 else 0.0
    v = w @ u[:, -1]
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else basis[:, 0]), second


def component(v: np.ndarray, cv: np.ndarray, second: float, total: float, p: Plan) -> Component:
    """v's eigenvalue estimate, gap and angle bound from C v (float64)."""
    import numpy as np

    lam = float(v @ cv)
    resid = float(np.linalg.norm(cv - lam * v))
    bound = min(1.0, resid / (lam - second)) if lam > second else 1.0
    gap = 1.0 - second / lam if lam > 0 else 0.0
    sign = -1.0 if v[int(np.argmax(np.abs(v)))] < 0 else 1.0
    return Component(
        vector=sign * v,
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


Stream = Callable[[], Iterator[tuple[int, "np.ndarray"]]]


def top_component(
    stream: Stream,
    rows: int,
    mean: np.ndarray,
    total: float,
    p: Plan | None = None,
    read_rows: Rows | None = None,
    seed: int = 0,
) -> Component:
    """The top principal component of the streamed rows (all finite), given their mean and
    total variance trace(C), in p.passes passes; `read_rows` reads the starting sample (without
    it the start is random). For callers without a first pass of their own; emb undertrained
    folds the first product into its norms pass."""
    dim = mean.size
    p = p or plan(rows, dim)
    spread = total / max(1, rows)
    q = start_basis(dim, p.width, seed)
    if p.method == "randomized" and read_rows is not None:
        q = sample_basis(read_rows(sample_ids(rows)), p.width, seed)
    w = q
    for i in range(p.passes - 1):
        if i:
            q = next_basis(w)
        sketch = CovarianceSketch(q, center=mean, spread=spread, explicit=p.method == "exact")
        for _, block in stream():
            sketch.add(block)
        w = sketch.finish(rows, mean)
    v, second = candidate(q, w, p)
    last = CovarianceSketch(v[:, None], center=mean, spread=spread)
    for _, block in stream():
        last.add(block)
    return component(v, last.finish(rows, mean)[:, 0], second, total, p)


def angle(a: np.ndarray, b: np.ndarray) -> float:
    """Sine of the angle between two unit vectors, up to sign."""
    return math.sqrt(max(0.0, 1.0 - float(a @ b) ** 2))
