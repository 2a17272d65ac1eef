"""emb diff: compare two tables row by row, streamed over both in lockstep.

Values are compared as float32 (the exact widening of bf16/fp16/fp8) and measured in
float64. Rows past the shorter table (a resized vocab) are counted, not read.
Rows holding NaN or Inf in either table are counted and listed, and left out of the means,
norms and standard deviations; NaN against NaN at the same place is no change, and a row
that changed to or from NaN/Inf heads the most-changed lists (its distance has no value).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emb_cli.analysis.common import SourceSummary, bounded_map, summarize
from emb_cli.analysis.lookup import token_strings
from emb_cli.errors import UsageError
from emb_cli.sources.base import TableInfo, TableSource, rows_per_chunk

if TYPE_CHECKING:
    import numpy as np

# torch.nn.functional.cosine_similarity clamps each norm to this eps: a zero row scores 0.
COSINE_EPS = 1e-8
MAX_LISTED = 100  # ids listed for rows with NaN/Inf


@dataclass(frozen=True)
class ChangedRow:
    id: int
    token: str | None
    l2: float | None  # ||b - a||; None when either row holds NaN/Inf
    cosine: float | None  # cos(a, b); 1 for an unchanged direction; None as l2


@dataclass(frozen=True)
class DiffReport:
    a: SourceSummary
    b: SourceSummary
    shape_a: list[int]
    shape_b: list[int]
    dtype_a: str
    dtype_b: str
    shape_changed: bool
    dtype_changed: bool
    comparable: bool  # same width: rows can be compared
    rows_compared: int
    rows_only_in_a: list[int]  # [first, end) ids present only in a (vocab shrank), or []
    rows_only_in_b: list[int]  # [first, end) ids present only in b (vocab grew), or []
    rows_changed: int | None
    values_changed: int | None
    nonfinite_rows_a: int  # compared rows holding NaN/Inf in a
    nonfinite_row_ids_a: list[int]  # the first MAX_LISTED
    nonfinite_rows_b: int
    nonfinite_row_ids_b: list[int]
    max_abs_diff: float | None  # over rows finite in both, as the means below
    mean_l2_change: float | None  # over all compared rows, unchanged ones included
    mean_cosine: float | None  # mean cos(a_i, b_i) over compared rows
    mean_row_norm_a: float | None
    mean_row_norm_b: float | None
    row_norm_ratio: float | None  # mean_row_norm_b / mean_row_norm_a
    std_a: float | None  # population std of the compared values
    std_b: float | None
    most_changed_l2: list[ChangedRow]  # changed rows, largest L2 distance first
    most_changed_cosine: list[ChangedRow]  # changed rows, lowest cosine first
    differ: bool  # shape, dtype or any value differs: `--check` exits 1
    notes: list[str] = field(default_factory=list)


@dataclass
class _Part:
    changed_ids: np.ndarray
    l2: np.ndarray  # of the changed rows
    cos: np.ndarray
    bad_a: list[int] = field(default_factory=list)  # rows with NaN/Inf
    bad_b: list[int] = field(default_factory=list)
    finite_rows: int = 0  # rows finite in both: the means are over these
    rows_changed: int = 0
    values_changed: int = 0
    max_abs: float = 0.0
    sum_l2: float = 0.0
    sum_cos: float = 0.0
    sum_norm_a: float = 0.0
    sum_norm_b: float = 0.0
    sum_a: float = 0.0
    sum_sq_a: float = 0.0
    sum_b: float = 0.0
    sum_sq_b: float = 0.0

    def add(self, p: _Part) -> None:
        """Another block's counts and sums (its candidates are kept apart)."""
        self.bad_a.extend(p.bad_a)
        self.bad_b.extend(p.bad_b)
        self.finite_rows += p.finite_rows
        self.rows_changed += p.rows_changed
        self.values_changed += p.values_changed
        self.max_abs = max(self.max_abs, p.max_abs)
        for name in _SUMS:
            setattr(self, name, getattr(self, name) + getattr(p, name))


_SUMS = ("sum_l2", "sum_cos", "sum_norm_a", "sum_norm_b", "sum_a", "sum_sq_a", "sum_b", "sum_sq_b")


def _lockstep(
    a: TableSource, b: TableSource, rows: int, n: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Blocks of the first `rows` rows of both tables; stops reading at `rows`."""
    ita, itb = iter(a.chunks(n)), iter(b.chunks(n))
    try:
        for (sa, ba), (sb, bb) in zip(ita, itb, strict=False):
            assert sa == sb
            if sa >= rows:
                break
            m = min(rows - sa, ba.shape[0], bb.shape[0])
            yield sa, ba[:m], bb[:m]
    finally:
        for it in (ita, itb):
            close = getattr(it, "close", None)
            if close is not None:
                close()


SUB_BLOCK_BYTES = 2**20  # float64 sub-blocks of 1 MiB per side: converted once, read from cache


def _diff_block(item: tuple[int, np.ndarray, np.ndarray]) -> _Part:
    """One block's counts and sums, over float64 sub-blocks that stay in cache.

    Each sub-block of both sides is widened once and every measure taken from it, rather
    than widening the whole block and making a pass over it per measure.
    """
    import numpy as np

    start, ba, bb = item
    rows, dim = ba.shape
    sub = max(1, SUB_BLOCK_BYTES // (8 * dim))
    a = np.empty((min(sub, rows), dim), dtype=np.float64)
    b = np.empty_like(a)
    d = np.empty_like(a)
    sq_a, sq_b = np.empty(rows), np.empty(rows)
    l2, dot = np.empty(rows), np.empty(rows)
    row_changed = np.empty(rows, dtype=bool)
    values_changed, max_abs = 0, 0.0
    sum_a = sum_b = 0.0
    # Inf - Inf and NaN products are expected here; the rows holding them are set apart below.
    with np.errstate(all="ignore"):
        for i in range(0, rows, sub):
            m = min(sub, rows - i)
            xa, xb, xd = a[:m], b[:m], d[:m]
            pa, pb = ba[i : i + m], bb[i : i + m]
            # NaN at the same place on both sides is no change
            neq = pa != pb
            if neq.any():
                neq &= ~(np.isnan(pa) & np.isnan(pb))
            np.any(neq, axis=1, out=row_changed[i : i + m])
            values_changed += int(np.count_nonzero(neq))
            np.copyto(xa, pa)
            np.copyto(xb, pb)
            np.vecdot(xa, xa, out=sq_a[i : i + m])
            np.vecdot(xb, xb, out=sq_b[i : i + m])
            np.subtract(xb, xa, out=xd)
            np.vecdot(xd, xd, out=l2[i : i + m])
            np.vecdot(xa, xb, out=dot[i : i + m])
            fin = np.isfinite(sq_a[i : i + m]) & np.isfinite(sq_b[i : i + m])
            if fin.all():
                sum_a += float(xa.sum())
                sum_b += float(xb.sum())
                if row_changed[i : i + m].any():  # equal values differ by exactly 0
                    max_abs = max(max_abs, float(np.abs(xd).max()))
            elif fin.any():
                sum_a += float(xa[fin].sum())
                sum_b += float(xb[fin].sum())
                max_abs = max(max_abs, float(np.abs(xd[fin]).max()))
        fin_a, fin_b = np.isfinite(sq_a), np.isfinite(sq_b)  # float32 squares cannot overflow
        fin = fin_a & fin_b
        np.sqrt(l2, out=l2)
        l2[~row_changed] = 0.0  # NaN - NaN is no distance
        l2[row_changed & ~fin] = np.nan  # changed to or from NaN/Inf: no distance to give
        na, nb = np.sqrt(sq_a), np.sqrt(sq_b)
        cos = dot / (np.maximum(na, COSINE_EPS) * np.maximum(nb, COSINE_EPS))
        cos[~fin] = np.nan
        idx = np.flatnonzero(row_changed)
        return _Part(
            changed_ids=idx + start,
            l2=l2[idx],
            cos=cos[idx],
            bad_a=(np.flatnonzero(~fin_a) + start).tolist(),
            bad_b=(np.flatnonzero(~fin_b) + start).tolist(),
            finite_rows=int(fin.sum()),
            rows_changed=int(idx.size),
            values_changed=values_changed,
            max_abs=max_abs,
            sum_l2=float(l2[fin].sum()),
            sum_cos=float(cos[fin].sum()),
            sum_norm_a=float(na[fin].sum()),
            sum_norm_b=float(nb[fin].sum()),
            sum_a=sum_a,
            sum_sq_a=float(sq_a[fin].sum()),
            sum_b=sum_b,
            sum_sq_b=float(sq_b[fin].sum()),
        )


def _top(ids: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest keys, largest first, lower id first on ties."""
    import numpy as np

    if ids.size > k:
        keep = np.argpartition(-keys, k - 1)[:k]
        ids, keys = ids[keep], keys[keep]
        return keep[np.lexsort((ids, -keys))]
    return np.lexsort((ids, -keys))


def _l2_key(l2: np.ndarray) -> np.ndarray:
    import numpy as np

    out: np.ndarray = np.nan_to_num(l2, nan=np.inf)  # a row gone NaN changed the most
    return out


def _cos_key(cos: np.ndarray) -> np.ndarray:
    import numpy as np

    out: np.ndarray = -np.nan_to_num(cos, nan=-2.0)  # lowest cosine first; NaN below -1
    return out


def diff_tables(
    a: TableSource,
    b: TableSource,
    k: int = 10,
    rows_per: int | None = None,
    notes: Sequence[str] = (),
) -> DiffReport:
    """Compare b against a: shape, dtype, changed rows, the most changed ids."""
    ia, ib = a.info, b.info
    layout = _layout(ia, ib)
    all_notes = list(notes) + layout.notes
    n = rows_per or rows_per_chunk(ia.embed_dim)
    streamed = _stream_diff(a, b, layout.rows, n, k)
    tot = streamed.totals
    if tot.bad_a or tot.bad_b:
        all_notes.append(
            f"rows holding NaN/Inf: {len(tot.bad_a)} in a {tot.bad_a[:20]}, {len(tot.bad_b)} "
            f"in b {tot.bad_b[:20]}; left out of the means, norms and std"
        )
    tok_src = a if a.vocab(fetch=True) is not None else b
    most_l2, most_cos = _most_changed(tok_src, streamed, k)
    return _report(a, b, layout, tot, most_l2, most_cos, all_notes)


@dataclass(frozen=True)
class Layout:
    """Step 1: which rows the two tables share, from their shapes alone."""

    shape_a: list[int]
    shape_b: list[int]
    comparable: bool  # same width
    rows: int  # compared: the shorter table's, or none
    only_a: list[int]  # [first, end), or []
    only_b: list[int]
    notes: list[str]


def _layout(ia: TableInfo, ib: TableInfo) -> Layout:
    comparable = ia.embed_dim == ib.embed_dim
    rows = min(ia.vocab_size, ib.vocab_size) if comparable else 0
    notes = []
    if not comparable:
        notes.append(f"widths differ ({ia.embed_dim} vs {ib.embed_dim}): rows cannot be compared")
    return Layout(
        shape_a=[ia.vocab_size, ia.embed_dim],
        shape_b=[ib.vocab_size, ib.embed_dim],
        comparable=comparable,
        rows=rows,
        only_a=[rows, ia.vocab_size] if comparable and ia.vocab_size > rows else [],
        only_b=[rows, ib.vocab_size] if comparable and ib.vocab_size > rows else [],
        notes=notes,
    )


@dataclass(frozen=True)
class Streamed:
    """Step 2: the sums over every compared block, and the running top-k candidates."""

    totals: _Part
    ids: np.ndarray  # candidates for either most-changed list: at most 2k rows
    l2: np.ndarray
    cos: np.ndarray


def _stream_diff(a: TableSource, b: TableSource, rows: int, n: int, k: int) -> Streamed:
    import numpy as np

    empty = np.zeros(0)
    ids, l2, cos = np.zeros(0, dtype=np.int64), empty, empty
    tot = _Part(changed_ids=ids, l2=empty, cos=empty)
    if not rows:
        return Streamed(tot, ids, l2, cos)
    for p in bounded_map(_diff_block, _lockstep(a, b, rows, n)):
        tot.add(p)
        # keep a running top-k by each measure: memory stays at 2k candidates
        ids = np.concatenate([ids, p.changed_ids])
        l2 = np.concatenate([l2, p.l2])
        cos = np.concatenate([cos, p.cos])
        keep = np.union1d(_top(ids, _l2_key(l2), k), _top(ids, _cos_key(cos), k))
        ids, l2, cos = ids[keep], l2[keep], cos[keep]
    return Streamed(tot, ids, l2, cos)


def _most_changed(
    tok_src: TableSource, s: Streamed, k: int
) -> tuple[list[ChangedRow], list[ChangedRow]]:
    """Step 3: the k rows with the largest L2 change, and the k with the lowest cosine."""
    import numpy as np

    def value(x: float) -> float | None:
        return None if np.isnan(x) else float(x)

    def rows_of(order: np.ndarray) -> list[ChangedRow]:
        ids = [int(i) for i in s.ids[order]]
        toks = token_strings(tok_src, ids)
        return [
            ChangedRow(i, toks[n] if toks else None, value(s.l2[o]), value(s.cos[o]))
            for n, (i, o) in enumerate(zip(ids, order, strict=True))
        ]

    return rows_of(_top(s.ids, _l2_key(s.l2), k)), rows_of(_top(s.ids, _cos_key(s.cos), k))


def _report(
    a: TableSource,
    b: TableSource,
    layout: Layout,
    tot: _Part,
    most_l2: list[ChangedRow],
    most_cos: list[ChangedRow],
    notes: list[str],
) -> DiffReport:
    """Step 4: means over the rows finite in both; None where nothing was measured."""
    import numpy as np

    ia, ib = a.info, b.info
    finite_rows = tot.finite_rows
    values = finite_rows * ia.embed_dim
    measured = finite_rows > 0

    def std(s: float, sq: float) -> float | None:
        if not measured:
            return None
        mean = s / values
        return float(np.sqrt(max(sq / values - mean * mean, 0.0)))

    mean_a = tot.sum_norm_a / finite_rows if measured else None
    mean_b = tot.sum_norm_b / finite_rows if measured else None
    rows_changed = tot.rows_changed if layout.comparable else None
    shape_changed = layout.shape_a != layout.shape_b
    return DiffReport(
        a=summarize(ia),
        b=summarize(ib),
        shape_a=layout.shape_a,
        shape_b=layout.shape_b,
        dtype_a=ia.dtype,
        dtype_b=ib.dtype,
        shape_changed=shape_changed,
        dtype_changed=ia.dtype != ib.dtype,
        comparable=layout.comparable,
        rows_compared=layout.rows,
        rows_only_in_a=layout.only_a,
        rows_only_in_b=layout.only_b,
        rows_changed=rows_changed,
        values_changed=tot.values_changed if layout.comparable else None,
        nonfinite_rows_a=len(tot.bad_a),
        nonfinite_row_ids_a=tot.bad_a[:MAX_LISTED],
        nonfinite_rows_b=len(tot.bad_b),
        nonfinite_row_ids_b=tot.bad_b[:MAX_LISTED],
        max_abs_diff=tot.max_abs if measured else None,
        mean_l2_change=tot.sum_l2 / finite_rows if measured else None,
        mean_cosine=tot.sum_cos / finite_rows if measured else None,
        mean_row_norm_a=mean_a,
        mean_row_norm_b=mean_b,
        row_norm_ratio=mean_b / mean_a if mean_a and mean_b is not None else None,
        std_a=std(tot.sum_a, tot.sum_sq_a),
        std_b=std(tot.sum_b, tot.sum_sq_b),
        most_changed_l2=most_l2,
        most_changed_cosine=most_cos,
        differ=shape_changed or ia.dtype != ib.dtype or bool(rows_changed),
        notes=notes,
    )


INIT_NOTE = (
    "--init builds the table its config describes: torch.manual_seed(seed), then "
    "normal(0, initializer_range) and a zero pad row; transformers draws every module's "
    "weights from the same generator in its own order, so no seed reproduces the real init "
    "row by row; read the distribution instead (row_norm_ratio, std_a vs std_b, mean_cosine)"
)


def check_diff_args(has_b: bool, init: bool, tensor_b: bool, seed: bool) -> None:
    """Two checkpoints, or one and --init; --tensor-b and --seed only where they mean something."""
    if init == has_b:
        raise UsageError("pass a second checkpoint B, or --init to compare A with its init")
    if init and tensor_b:
        raise UsageError("--tensor-b names a tensor in B; --init has no B file")
    if seed and not init:
        raise UsageError("--seed sets the init for --init; two files need no seed")
