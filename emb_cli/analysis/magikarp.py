"""The Magikarp indicator of `emb undertrained` (Land and Bartolo 2024, "Fishing for Magikarp"):
each row's cosine to the mean of a reference set of unused rows, in the cosine matrix (the LM
head, else the input table) with its first principal component removed when it dominates.

undertrained.py makes the first pass (which fills RowSums and the covariance sketch) and the
reference set; this module makes the remaining passes and the cosines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from emb_cli.analysis import pca
from emb_cli.analysis.common import bounded_map
from emb_cli.sources.base import TableSource, rows_per_chunk

if TYPE_CHECKING:
    import numpy as np

# Cosines of random vectors in D dimensions spread as 1/sqrt(D): below 32 dimensions (0.18)
# a cosine to a reference mean says little about training.
MIN_COSINE_DIM = 32
READ_IDS = 4096

CosineRole = Literal["head", "input"]  # the separate LM head, else the input table
Stream = Callable[[], Iterator[tuple[int, "np.ndarray"]]]


@dataclass(frozen=True)
class RowSums:
    """What the first pass measured of the cosine matrix, and which rows are usable."""

    m_sq: np.ndarray  # rows' sums of squares
    colsum: np.ndarray  # column sums over its finite rows
    m_finite: np.ndarray  # rows without NaN/Inf
    usable: np.ndarray  # finite and nonzero input rows


@dataclass(frozen=True)
class CosineInput:
    """The matrix the Magikarp cosine is computed on."""

    name: str
    role: CosineRole
    stream: Stream  # its blocks from the first row, anew on each call
    read_rows: Callable[[Sequence[int]], np.ndarray]
    notes: list[str]


def cosine_input(source: TableSource) -> CosineInput:
    """The separate head when its shape matches the table's, else the input table."""
    info = source.info
    rows, dim = info.vocab_size, info.embed_dim
    head = source.head()
    if head is not None and tuple(head.shape) == (rows, dim):
        head_ref = head

        def head_chunks() -> Iterator[tuple[int, np.ndarray]]:
            return head_ref.iter_chunks(rows_per_chunk(dim))

        return CosineInput(head.name, "head", head_chunks, head.read_rows, [])
    notes = []
    if head is not None:
        notes.append(
            f"head {head.name} has shape {list(head.shape)}, not the table's; used the input table"
        )
    return CosineInput(info.tensor_name or info.name, "input", source.chunks, source.rows, notes)


def sketch(
    source: TableSource, cosine_input: CosineInput, p: pca.Plan
) -> pca.CovarianceSketch | None:
    """The first pass's covariance sketch; None below MIN_COSINE_DIM dimensions."""
    import numpy as np

    info = source.info
    if info.embed_dim < MIN_COSINE_DIM:
        return None
    q0 = pca.start_basis(info.embed_dim, p.width)
    if p.method == "randomized":
        sample = cosine_input.read_rows(pca.sample_ids(info.vocab_size, spread=not info.built))
        finite = np.isfinite(sample).all(axis=1)
        if not finite.all():  # a copy only where rows must go (64 MB on a 4,096-wide table)
            sample = sample[finite]
        del finite
        if sample.shape[0] > 1:
            q0 = pca.sample_basis(sample, p.width)
    # exact: the covariance itself, from centred rows
    return pca.CovarianceSketch(q0, explicit=p.method == "exact")


@dataclass(frozen=True)
class Cosines:
    """Each row's Magikarp cosine, and the component removed before it."""

    values: np.ndarray  # NaN where not computed, or the row is not usable
    component: pca.Component | None
    notes: list[str]


def cosine_indicator(
    cosine_input: CosineInput,
    sketch: pca.CovarianceSketch | None,
    p: pca.Plan,
    sums: RowSums,
    ref_ids: Sequence[int],
    flag_score: float,
    n_workers: int,
) -> Cosines:
    """Each usable row's cosine to the mean of the usable reference rows (the remaining passes
    over the cosine matrix: the rest of the component's sketch, then the products)."""
    import numpy as np

    rows, dim = sums.m_sq.size, sums.colsum.size
    none = np.full(rows, np.nan)
    if sketch is None:
        return Cosines(
            none,
            None,
            [
                f"the table has {dim} dimensions: below {MIN_COSINE_DIM}, cosines between rows "
                "carry little information, so the Magikarp cosine is not computed; scores come "
                "from the norm alone (at most 0.5)"
            ],
        )
    ref_rows = [i for i in ref_ids if sums.usable[i]]
    if not ref_rows:
        return Cosines(none, None, ["no reference row is finite and nonzero: no cosine indicator"])
    r0 = np.zeros(dim)
    for i in range(0, len(ref_rows), READ_IDS):
        r0 += cosine_input.read_rows(ref_rows[i : i + READ_IDS]).astype(np.float64).sum(axis=0)
    r0 /= len(ref_rows)
    n_m = int(sums.m_finite.sum())
    if n_m <= 1:
        return Cosines(none, None, [])
    mean = sums.colsum / n_m
    total = max(0.0, float(sums.m_sq[sums.m_finite].sum()) - n_m * float(mean @ mean))
    comp, proj, dot_r0 = _component_and_products(
        cosine_input.stream, sketch, p, n_m, mean, total, r0, rows, sums.m_finite, n_workers
    )
    cosine = _cosines(comp, proj, dot_r0, sums.m_sq, r0)
    cosine[~sums.usable] = np.nan
    return Cosines(cosine, comp, _component_notes(comp, cosine_input.role, p, flag_score))


def _component_notes(
    comp: pca.Component, role: CosineRole, p: pca.Plan, flag_score: float
) -> list[str]:
    if not comp.separated:
        return [
            "no dominant direction: the top two variances of the "
            f"{role} are within {comp.gap:.0%} of each other, so no component was removed"
        ]
    if comp.angle_bound > pca.MAX_ANGLE:
        deg = math.degrees(math.asin(comp.angle_bound))
        return [
            f"the top component was located to within about {deg:.0f} degrees in "
            f"{p.passes} passes; scores near {flag_score} may differ slightly from an "
            "exact decomposition"
        ]
    return []


def _component_and_products(
    stream: Stream,
    sketch: pca.CovarianceSketch,
    p: pca.Plan,
    n_m: int,
    mean: np.ndarray,
    total: float,
    r0: np.ndarray,
    rows: int,
    finite: np.ndarray,
    n_workers: int,
) -> tuple[pca.Component, np.ndarray, np.ndarray]:
    """The top component (pass 1 made the first product; p.passes - 1 passes more), and
    each row's products with it and with the reference mean r0, as float64."""
    import numpy as np

    def run(sk: pca.CovarianceSketch, out: np.ndarray | None = None) -> np.ndarray:
        def work(item: tuple[int, np.ndarray]) -> tuple[int, pca.Part]:
            start, block = item
            ok = finite[start : start + block.shape[0]]
            return start, sk.compute(block, None if ok.all() else ~ok)

        for start, part in bounded_map(work, stream(), n_workers):
            got = sk.merge(part)
            if out is not None:
                out[start : start + got.shape[0]] = got
        return sk.finish(n_m, mean)

    spread = total / n_m
    q = sketch.basis
    w = sketch.finish(n_m, mean)
    for _ in range(p.passes - 2):  # randomized: the rest of the sketch passes
        q = pca.next_basis(w)
        w = run(pca.CovarianceSketch(q, center=mean, spread=spread))
    v, second = pca.candidate(q, w, p)
    # The last pass: C v, and per row (x - mean) . v and (x - mean) . r0.
    precise = rows * mean.size <= pca.PRECISE_VALUES
    last = pca.CovarianceSketch(
        v[:, None], center=mean, extra=r0[:, None], spread=spread, precise=precise
    )
    y = np.empty((rows, 2), dtype=np.float64)
    cv = run(last, y)[:, 0]
    comp = pca.component(v, cv, second, total, p)
    assert last.center is not None
    c = last.center
    sign = float(comp.vector @ v)  # component() may have flipped v's sign
    proj = sign * y[:, 0] + float(c @ comp.vector)
    dot_r0 = y[:, 1] + float(c @ r0)
    return comp, proj, dot_r0


def _cosines(
    comp: pca.Component, proj: np.ndarray, dot_r0: np.ndarray, m_sq: np.ndarray, r0: np.ndarray
) -> np.ndarray:
    """Cosine of each row to r0, both with the component removed when it dominates.

    With r orthogonal to v: u' . r = u . r and |u'|^2 = |u|^2 - (u . v)^2.
    """
    import numpy as np

    if comp.separated:
        v = comp.vector
        rv = float(r0 @ v)
        r_norm = math.sqrt(max(0.0, float(r0 @ r0) - rv * rv))
        dot = dot_r0 - rv * proj
        sq = np.maximum(m_sq - proj * proj, 0.0)
    else:
        r_norm = float(np.linalg.norm(r0))
        dot, sq = dot_r0, m_sq
    if r_norm == 0.0:
        return np.full(proj.shape, np.nan)
    with np.errstate(all="ignore"):
        cos: np.ndarray = dot / (np.sqrt(sq) * r_norm)
    cos[~np.isfinite(cos)] = np.nan
    return cos
