"""The 2-D map of `emb report` and `emb export`'s sample: which rows, where, in one pass.

Rows drawn: all of them up to MAP_ROWS; above that a uniform seeded sample of MAP_ROWS plus
every row the caller keeps (flagged, special, reserved, zero, past the tokenizer).

Where: the first two principal components of the centred rows (all finite rows, not only
the drawn ones), found by Rayleigh-Ritz in a subspace Q: the sample's top directions
(pca.sample_basis on SAMPLE_ROWS rows read up front, the same start as `undertrained`'s
component) and the mean's direction. One pass gives Y = (x - c) Q for every row; the
covariance restricted to Q is H = Yc^T Yc / n (no D x D matrix), whose top two eigenvectors
u1, u2 give the directions Q u1, Q u2 and each row's coordinates Yc u1, Yc u2. When D is
small enough for the budget, Q is the identity and the components are exact.

The search box's cosine neighbours: each drawn row's x Q / |x| (|x| its true norm), kept as
int8 with one scale a row, SEARCH_BYTES for all drawn rows; cosine(a, b) is estimated as
(a Q . b Q) / (|a| |b|), the out-of-subspace parts counted as uncorrelated. The same pass
computes the exact cosines of RECALL_QUERIES drawn rows to every drawn row, so the page
says how many of the true 10 nearest the estimate finds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emb_cli.analysis import pca
from emb_cli.analysis.blas_threads import one_blas_thread
from emb_cli.analysis.common import bounded_map, workers
from emb_cli.sources.base import TableSource, rows_per_chunk

if TYPE_CHECKING:
    import numpy as np

MAP_ROWS = 50_000  # the bound: all rows up to this many, a sample above
# int8 search vectors for all drawn rows: 8 MiB (11 MiB as base64) keeps a 100,352-row
# page under 20 MB with its tokens and coordinates; 50,256 rows get 160 dimensions.
SEARCH_BYTES = 8 * 2**20
# Exact (Q = I, the vectors whole) while the drawn rows fit this: MiniLM's 30,522 x 384.
EXACT_BYTES = 12 * 2**20
MIN_WIDTH = 16
MAX_WIDTH = 256
# The pass costs rows * D * width multiply-adds: at most this many (40 dimensions for 50,256
# drawn rows of a 100,352 x 4,096 table), which keeps emb report within 1.5x emb check.
SEARCH_MULADDS = 2**33
RECALL_QUERIES = 8
RECALL_K = 10
SEED = 0


def choose_rows(
    rows: int, keep: Sequence[int], limit: int = MAP_ROWS, seed: int = SEED
) -> list[int]:
    """All rows up to `limit`; above, `limit` uniform seeded rows plus every kept one."""
    import numpy as np

    if rows <= limit:
        return list(range(rows))
    picked = np.random.default_rng(seed).choice(rows, size=limit, replace=False)
    kept = np.asarray([k for k in keep if 0 <= k < rows], dtype=np.int64)
    return sorted(set(picked.tolist()) | set(kept.tolist()))


def search_width(points: int, dim: int, budget: int = SEARCH_BYTES, rows: int = 0) -> int:
    """Dimensions of the search vectors: the page's bytes shared by the drawn rows and the
    pass's multiply-adds over the table's `rows`, a multiple of 8; D itself (exact cosines)
    when the drawn rows fit EXACT_BYTES (or the budget) and the cost allows."""
    points, rows = max(1, points), max(1, rows, points)
    exact_bytes = max(budget, EXACT_BYTES if budget == SEARCH_BYTES else 0)
    if dim * points <= exact_bytes and rows * dim * dim <= SEARCH_MULADDS:
        return dim
    by_cost = SEARCH_MULADDS // (rows * dim)
    width = max(MIN_WIDTH, min(MAX_WIDTH, budget // points, by_cost) // 8 * 8)
    return min(width, dim)


@dataclass(frozen=True)
class Projection:
    ids: np.ndarray  # the drawn rows holding no NaN/Inf, ascending
    xy: np.ndarray  # (n, 2) float64: PC1, PC2 of the centred rows
    vectors: np.ndarray  # (n, width) int8: x Q / |x| ~ vectors * scales / 127
    scales: np.ndarray  # (n,) float32
    width: int
    exact: bool  # Q is the identity: the components and the cosines are exact
    explained: tuple[float, float]  # PC1's and PC2's share of the total variance
    col_mean: np.ndarray  # (D,) over the finite rows
    col_std: np.ndarray
    finite_rows: int
    nonfinite_ids: list[int]  # drawn rows holding NaN/Inf: not on the map
    recall: float | None  # mean share of the true RECALL_K nearest the estimate finds


@dataclass(frozen=True)
class Basis:
    """Step 1: the subspace Q and the shift c the rows are taken relative to."""

    q: np.ndarray  # (D, width) float32, orthonormal columns
    center: np.ndarray  # (D,) float32: the sample's mean
    cq: np.ndarray  # c Q (float32)
    explicit: bool  # |c|^2 above the rows' spread: subtract c before the product
    exact: bool


def _basis(source: TableSource, width: int, seed: int) -> Basis:
    import numpy as np

    info = source.info
    dim = info.embed_dim
    sample = source.rows(pca.sample_ids(info.vocab_size, spread=not info.built))
    sample = sample[np.isfinite(sample).all(axis=1)]
    c = sample.mean(axis=0, dtype=np.float64) if sample.shape[0] else np.zeros(dim)
    dev = sample - c.astype(np.float32)
    spread = float(np.einsum("ij,ij->", dev, dev, dtype=np.float64)) / max(1, sample.shape[0])
    # as pca.CovarianceSketch: (x - c) Q = x Q - c Q while |c|^2 stays below the spread, so
    # float32 products lose no digits to the shift and no centred copy of a block is made
    explicit = float(c @ c) > spread
    exact = width >= dim
    if exact:
        q: np.ndarray = np.eye(dim, dtype=np.float32)
    else:
        if sample.shape[0] > 1:
            start = pca.sample_basis(dev, width - 1, seed)
        else:
            start = pca.start_basis(dim, width - 1, seed)
        norm = float(np.linalg.norm(c))
        lead = c / norm if norm > 0 else pca.start_basis(dim, 1, seed + 1)[:, 0]
        full, _ = np.linalg.qr(np.column_stack([lead, start]))  # the mean's direction first
        q = np.ascontiguousarray(full, dtype=np.float32)
    c32 = c.astype(np.float32)
    return Basis(q, c32, c32 @ q, explicit, exact)


@dataclass
class PassSums:
    """Step 2: what the pass accumulates (float64) and keeps of the drawn rows."""

    n: int
    ysum: np.ndarray  # sum of Y = (x - c) Q over finite rows
    gram: np.ndarray  # sum of Y^T Y
    colsum: np.ndarray  # sum of x
    colsq: np.ndarray  # sum of x^2
    y_drawn: np.ndarray  # (points, width) float32
    finite_drawn: np.ndarray  # (points,) bool
    dots: np.ndarray  # (points, queries) float64: x . query


@dataclass(frozen=True)
class BlockPart:
    n: int
    ysum: np.ndarray
    gram: np.ndarray
    colsum: np.ndarray
    colsq: np.ndarray
    where: np.ndarray  # positions in `ids` of the block's drawn rows
    y: np.ndarray
    finite: np.ndarray
    dots: np.ndarray


def _block(
    item: tuple[int, np.ndarray, Basis, np.ndarray, np.ndarray],
) -> BlockPart:
    import numpy as np

    start, block, basis, ids, queries = item
    with np.errstate(all="ignore"):  # NaN/Inf rows: found by their products, below
        if basis.explicit:
            y = (block - basis.center) @ basis.q
        else:
            y = block @ basis.q
            y -= basis.cq
    bad = ~np.isfinite(y).all(axis=1)  # a NaN/Inf row makes its products NaN/Inf
    x = block
    if bad.any():  # rare: such rows count as the centre, adding nothing
        x = block.copy()
        x[bad] = basis.center
        y[bad] = 0.0
    lo, hi = np.searchsorted(ids, [start, start + block.shape[0]])
    local = ids[lo:hi] - start
    return BlockPart(
        n=int((~bad).sum()),
        ysum=y.sum(axis=0, dtype=np.float64),
        gram=(y.T @ y).astype(np.float64),
        colsum=x.sum(axis=0, dtype=np.float64) - bad.sum() * basis.center,
        colsq=np.einsum("ij,ij->j", x, x).astype(np.float64)
        - bad.sum() * basis.center.astype(np.float64) ** 2,
        where=np.arange(lo, hi),
        y=y[local],
        finite=~bad[local],
        dots=(x[local] @ queries.T).astype(np.float64),
    )


def _pass(source: TableSource, basis: Basis, ids: np.ndarray, queries: np.ndarray) -> PassSums:
    import numpy as np

    dim, width = basis.q.shape
    sums = PassSums(
        n=0,
        ysum=np.zeros(width),
        gram=np.zeros((width, width)),
        colsum=np.zeros(dim),
        colsq=np.zeros(dim),
        y_drawn=np.zeros((ids.size, width), dtype=np.float32),
        finite_drawn=np.zeros(ids.size, dtype=bool),
        dots=np.zeros((ids.size, queries.shape[0])),
    )

    def items() -> Iterator[tuple[int, np.ndarray, Basis, np.ndarray, np.ndarray]]:
        for start, block in source.chunks(rows_per_chunk(dim)):
            yield start, block, basis, ids, queries

    with one_blas_thread() as limited:
        for part in bounded_map(_block, items(), workers() if limited else 1):
            sums.n += part.n
            sums.ysum += part.ysum
            sums.gram += part.gram
            sums.colsum += part.colsum
            sums.colsq += part.colsq
            sums.y_drawn[part.where] = part.y
            sums.finite_drawn[part.where] = part.finite
            sums.dots[part.where] = part.dots
    return sums


def project(
    source: TableSource,
    ids: Sequence[int],
    norms: np.ndarray,
    seed: int = SEED,
    budget: int = SEARCH_BYTES,
) -> Projection:
    """The drawn rows' map coordinates and search vectors, and per-dimension statistics,
    from one pass over the table (plus SAMPLE_ROWS rows read for the basis). `norms`: every
    row's L2 norm (emb check's first pass measured them)."""
    import numpy as np

    info = source.info
    order = np.asarray(sorted(set(ids)), dtype=np.int64)
    width = search_width(order.size, info.embed_dim, budget, info.vocab_size)
    with one_blas_thread():  # OpenBLAS's own threads spin on a busy machine (blas_threads.py)
        basis = _basis(source, width, seed)
    rng = np.random.default_rng(seed + 2)
    query_pos = np.sort(rng.choice(order.size, size=min(RECALL_QUERIES, order.size), replace=False))
    queries = source.rows(order[query_pos].tolist())
    queries[~np.isfinite(queries).all(axis=1)] = 0.0
    sums = _pass(source, basis, order, queries)
    return _finish(basis, order, sums, query_pos, np.asarray(norms, dtype=np.float64)[order])


def _finish(
    basis: Basis, order: np.ndarray, s: PassSums, query_pos: np.ndarray, norms: np.ndarray
) -> Projection:
    """Step 3: Rayleigh-Ritz in Q, coordinates, int8 vectors, per-dimension statistics."""
    import numpy as np

    n = max(1, s.n)
    col_mean = s.colsum / n
    col_var = np.maximum(s.colsq / n - col_mean * col_mean, 0.0)
    ybar = s.ysum / n
    h = s.gram / n - np.outer(ybar, ybar)
    lam, u = np.linalg.eigh((h + h.T) / 2)
    top = u[:, ::-1][:, :2]
    if top.shape[1] < 2:  # a table one wide
        top = np.column_stack([top, np.zeros(top.shape[0])])
    directions = basis.q.astype(np.float64) @ top
    for k in range(2):  # sign: the direction's largest |entry| is positive
        if directions[np.argmax(np.abs(directions[:, k])), k] < 0:
            top[:, k] = -top[:, k]
    total = float(col_var.sum())
    share = [float(v) / total if total > 0 else 0.0 for v in lam[::-1][:2]]
    share += [0.0] * (2 - len(share))
    finite = s.finite_drawn & np.isfinite(norms)
    xy = (s.y_drawn.astype(np.float64) - ybar) @ top
    raw = s.y_drawn.astype(np.float64) + basis.cq.astype(np.float64)  # x Q
    safe = np.where(finite & (norms > 0), norms, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(safe[:, None] > 0, raw / safe[:, None], 0.0)
    peak = np.abs(unit).max(axis=1) if unit.shape[1] else np.zeros(unit.shape[0])
    q8 = np.where(peak[:, None] > 0, np.rint(unit / np.where(peak > 0, peak, 1)[:, None] * 127), 0)
    vectors = q8.astype(np.int8)
    recall = _recall(vectors, peak, safe, s.dots, query_pos, finite)
    keep = finite
    return Projection(
        ids=order[keep],
        xy=xy[keep],
        vectors=vectors[keep],
        scales=peak[keep].astype(np.float32),
        width=basis.q.shape[1],
        exact=basis.exact,
        explained=(share[0], share[1]),
        col_mean=col_mean,
        col_std=np.sqrt(col_var),
        finite_rows=s.n,
        nonfinite_ids=order[~finite].tolist(),
        recall=recall,
    )


def estimated_cosines(vectors: np.ndarray, scales: np.ndarray, i: int) -> np.ndarray:
    """Row i's estimated cosine to every drawn row, as the page's JavaScript computes it."""
    import numpy as np

    dots = vectors.astype(np.int32) @ vectors[i].astype(np.int32)
    out: np.ndarray = dots * (scales.astype(np.float64) * float(scales[i]) / (127.0 * 127.0))
    return out


def _recall(
    vectors: np.ndarray,
    scales: np.ndarray,
    norms: np.ndarray,
    dots: np.ndarray,
    query_pos: np.ndarray,
    finite: np.ndarray,
) -> float | None:
    """Mean share of each query's exact RECALL_K nearest (cosine, among the drawn rows)
    that the int8 estimate ranks in its own RECALL_K."""
    import numpy as np

    shares = []
    usable = finite & (norms > 0)
    for j, qi in enumerate(query_pos):
        if not usable[qi] or usable.sum() <= RECALL_K:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            exact = np.where(usable, dots[:, j] / (norms * norms[qi]), -np.inf)
        approx = np.where(usable, estimated_cosines(vectors, scales, int(qi)), -np.inf)
        exact[qi] = approx[qi] = -np.inf
        true = set(np.argsort(-exact, kind="stable")[:RECALL_K].tolist())
        got = set(np.argsort(-approx, kind="stable")[:RECALL_K].tolist())
        shares.append(len(true & got) / RECALL_K)
    return float(np.mean(shares)) if shares else None
