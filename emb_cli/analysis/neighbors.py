"""emb neighbors: the tokens nearest to a query vector, streamed over the table.

A query is a signed sum of terms, gensim `most_similar` style: each term is the mean of
its tokens' rows (a word may tokenise to several), +1 for positive and -1 for negative
terms. Unlike gensim the rows are not unit-normalised first, so `king - man + woman` is
exactly v_king - v_man + v_woman.
Rows holding NaN or Inf are no one's neighbours: they are counted and listed, and a query
built from one has no neighbours either (its vector has no direction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from emb_cli.analysis.blas_threads import one_blas_thread
from emb_cli.analysis.common import SourceSummary, bounded_map, check_top, summarize
from emb_cli.analysis.lookup import token_strings
from emb_cli.errors import UsageError
from emb_cli.sources.base import TableSource, check_ids

if TYPE_CHECKING:
    import numpy as np

Metric = Literal["cosine", "dot", "l2"]  # l2: a distance, lower is nearer
METRICS: tuple[Metric, ...] = ("cosine", "dot", "l2")
# torch.nn.functional.cosine_similarity clamps each norm to this eps: a zero row scores 0.
COSINE_EPS = 1e-8
MAX_LISTED = 100  # ids listed for rows with NaN/Inf
# float64 sub-blocks of 1 MiB: each widened once and scored from cache (as scan.py does)
SUB_BLOCK_BYTES = 2**20


@dataclass(frozen=True)
class Term:
    """One signed part of a query: the mean of these rows, times sign."""

    sign: int  # +1 or -1
    ids: list[int]
    text: str | None = None  # the word it came from, if any


@dataclass(frozen=True)
class Neighbor:
    id: int
    token: str | None
    score: float  # cosine or dot (higher is nearer), or l2 distance (lower is nearer)


@dataclass(frozen=True)
class QueryResult:
    expression: str  # e.g. "king - man + woman", "[2293]"
    ids: list[int]  # every id in the query, in token order (excluded unless asked)
    terms: list[dict[str, object]]  # {sign, ids, tokens, text}
    results: list[Neighbor]


@dataclass(frozen=True)
class NeighborsReport:
    metric: Metric
    k: int
    exclude_query: bool
    queries: list[QueryResult]  # one, or one per token with --each
    source: SourceSummary
    nonfinite_rows: int  # rows holding NaN/Inf: left out of every result
    nonfinite_row_ids: list[int]  # the first MAX_LISTED
    notes: list[str]


def _label(term: Term, tokens: list[str] | None) -> str:
    if term.text is not None:
        return term.text
    if tokens is not None:
        return "[" + " ".join(tokens) + "]"
    return "[" + " ".join(map(str, term.ids)) + "]"


def _expression(labels: list[tuple[int, str]]) -> str:
    out = ""
    for i, (sign, label) in enumerate(labels):
        if i == 0:
            out = label if sign > 0 else f"-{label}"
        else:
            out += f" {'+' if sign > 0 else '-'} {label}"
    return out


def _block_top(
    item: tuple[int, np.ndarray, np.ndarray, np.ndarray, str, int, list[frozenset[int]]],
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Per query, the block's k best (ids, keys); key is larger-is-nearer (-distance for l2).
    Also the ids of the block's rows holding NaN/Inf, which are nobody's neighbours."""
    import numpy as np

    start, block, q, q_norms, metric, k, excluded = item
    rows, dim = block.shape
    sub = max(1, SUB_BLOCK_BYTES // (8 * dim))
    buf = np.empty((min(sub, rows), dim), dtype=np.float64)
    sq = np.empty(rows, dtype=np.float64)
    keys = np.empty((rows, q.shape[0]), dtype=np.float64)
    with np.errstate(all="ignore"):  # the NaN/Inf rows' keys, dropped below
        for i in range(0, rows, sub):
            x = buf[: min(sub, rows - i)]
            np.copyto(x, block[i : i + x.shape[0]])
            np.vecdot(x, x, out=sq[i : i + x.shape[0]])
            if metric == "l2":
                for j in range(q.shape[0]):
                    d = x - q[j]  # the difference itself, not |x|^2 - 2xq + |q|^2
                    keys[i : i + x.shape[0], j] = -np.sqrt(np.einsum("ij,ij->i", d, d))
            else:
                np.matmul(x, q.T, out=keys[i : i + x.shape[0]])
        finite = np.isfinite(sq)  # float32 squares cannot overflow float64: NaN/Inf rows only
        if metric == "cosine":
            norms = np.maximum(np.sqrt(sq), COSINE_EPS)
            keys /= norms[:, None] * np.maximum(q_norms, COSINE_EPS)[None, :]
    out = []
    ids = np.arange(start, start + rows)
    for j in range(q.shape[0]):
        col = keys[:, j]
        ok = finite & ~np.isnan(col)
        for r in excluded[j]:
            if start <= r < start + rows:
                ok[r - start] = False
        cand = np.flatnonzero(ok)
        if cand.size > k:
            cand = cand[np.argpartition(-col[cand], k - 1)[:k]]
        out.append((ids[cand], col[cand]))
    return out, ids[~finite]


def _merge(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    ids = np.concatenate([a[0], b[0]])
    keys = np.concatenate([a[1], b[1]])
    # best key first, then the lower id: a deterministic order for ties
    order = np.lexsort((ids, -keys))[:k]
    return ids[order], keys[order]


def nearest(
    source: TableSource,
    queries: Sequence[Sequence[Term]],
    metric: str = "cosine",
    k: int = 10,
    exclude_query: bool = True,
    rows_per_chunk: int | None = None,
) -> NeighborsReport:
    """The k nearest rows to each query (a list of signed terms), in one pass over the table."""
    chosen = _metric(metric)
    check_top(k)
    if not queries or any(not q or any(not t.ids for t in q) for q in queries):
        raise UsageError("nothing to search for: pass token ids, --text or --positive")
    vectors = _query_vectors(source, queries)
    excluded = [
        frozenset(i for t in q for i in t.ids) if exclude_query else frozenset() for q in queries
    ]
    found = _stream_nearest(source, vectors, chosen, k, excluded, rows_per_chunk)
    notes = []
    if found.nonfinite:
        bad = found.nonfinite
        notes.append(f"{len(bad)} rows hold NaN/Inf and are nobody's neighbours: {bad[:20]}")
    for nq, ok in enumerate(vectors.ok):
        if not ok:
            notes.append(
                f"query {nq + 1} is made of rows holding NaN/Inf "
                f"({sorted({i for t in queries[nq] for i in t.ids})}): it has no neighbours"
            )
    has_vocab = source.vocab(fetch=True) is not None
    return NeighborsReport(
        metric=chosen,
        k=k,
        exclude_query=exclude_query,
        queries=[
            _query_result(source, q, found.best[j], chosen, has_vocab)
            for j, q in enumerate(queries)
        ],
        source=summarize(source.info),
        nonfinite_rows=len(found.nonfinite),
        nonfinite_row_ids=found.nonfinite[:MAX_LISTED],
        notes=notes,
    )


def _metric(name: str) -> Metric:
    for m in METRICS:
        if m == name:
            return m
    raise UsageError(f"unknown metric {name!r}; choose {', '.join(METRICS)}")


@dataclass(frozen=True)
class QueryVectors:
    """Step 1: each query's vector, its norm, and whether it has a direction at all."""

    vectors: np.ndarray  # float64, one row per query
    norms: np.ndarray
    ok: np.ndarray  # finite: a query from a NaN/Inf row has no neighbours


def _query_vectors(source: TableSource, queries: Sequence[Sequence[Term]]) -> QueryVectors:
    import numpy as np

    all_ids = sorted({i for q in queries for t in q for i in t.ids})
    check_ids(all_ids, source.info.vocab_size)
    rows = source.rows(all_ids).astype(np.float64)
    where = {tid: n for n, tid in enumerate(all_ids)}
    vecs = np.zeros((len(queries), source.info.embed_dim), dtype=np.float64)
    for j, q in enumerate(queries):
        for t in q:
            vecs[j] += t.sign * rows[[where[i] for i in t.ids]].mean(axis=0)
    with np.errstate(all="ignore"):  # a query from a NaN/Inf row: no direction, no neighbours
        q_norms = np.sqrt(np.einsum("ij,ij->i", vecs, vecs))
    return QueryVectors(vecs, q_norms, np.isfinite(q_norms))


@dataclass(frozen=True)
class Found:
    """Step 2: per query, the k best (ids, keys) of the whole table; the rows left out."""

    best: list[tuple[np.ndarray, np.ndarray]]
    nonfinite: list[int]  # rows holding NaN/Inf


def _stream_nearest(
    source: TableSource,
    qv: QueryVectors,
    metric: Metric,
    k: int,
    excluded: list[frozenset[int]],
    rows_per_chunk: int | None,
) -> Found:
    import numpy as np

    n = len(excluded)
    best = [(np.zeros(0, dtype=np.int64), np.zeros(0)) for _ in range(n)]
    items = (
        (s, b, qv.vectors, qv.norms, metric, k, excluded) for s, b in source.chunks(rows_per_chunk)
    )
    bad: list[int] = []
    # One BLAS thread per worker: a skinny (rows x dim) @ (dim x queries) product spends
    # its time handing work between BLAS threads while emb's own workers hold the cores.
    with one_blas_thread():
        for part, bad_ids in bounded_map(_block_top, items):
            best = [_merge(best[j], part[j], k) if qv.ok[j] else best[j] for j in range(n)]
            bad.extend(int(i) for i in bad_ids)
    return Found(best, bad)


def _query_result(
    source: TableSource,
    q: Sequence[Term],
    best: tuple[np.ndarray, np.ndarray],
    metric: Metric,
    has_vocab: bool,
) -> QueryResult:
    """Step 3: one query's neighbours with their tokens, and the query in words."""
    ids, keys = best
    id_list = [int(i) for i in ids]
    tokens = token_strings(source, id_list) if has_vocab else None
    scores = [float(-v) if metric == "l2" else float(v) for v in keys]
    terms: list[dict[str, object]] = []
    labels = []
    for t in q:
        ttoks = token_strings(source, t.ids) if has_vocab else None
        terms.append({"sign": t.sign, "ids": list(t.ids), "tokens": ttoks, "text": t.text})
        labels.append((t.sign, _label(t, ttoks)))
    return QueryResult(
        expression=_expression(labels),
        ids=list(dict.fromkeys(i for t in q for i in t.ids)),  # token order
        terms=terms,
        results=[
            Neighbor(i, tokens[n] if tokens is not None else None, s)
            for n, (i, s) in enumerate(zip(id_list, scores, strict=True))
        ],
    )


def build_queries(
    source: TableSource,
    seq: list[int],
    text: str | None,
    words: tuple[list[str], list[str]],
    term_ids: tuple[list[int], list[int]],
    each: bool,
    ids_given: bool,
) -> list[list[Term]]:
    """The neighbours queries: the mean of ids/text, plus or minus words and ids, or each alone.

    words / term_ids: (added, subtracted).
    """
    from emb_cli.analysis.lookup import encode_text

    arithmetic: list[Term] = []
    for sign, ws in ((1, words[0]), (-1, words[1])):
        for w in ws:
            arithmetic.append(Term(sign, encode_text(source, w, False), w))
    for sign, raw in ((1, term_ids[0]), (-1, term_ids[1])):
        arithmetic += [Term(sign, [i]) for i in raw]
    if each:
        if arithmetic:
            raise UsageError("--each takes IDS or --text alone, not --positive/--negative")
        if not seq:
            raise UsageError("--each needs token ids or --text")
        return [[Term(1, [i])] for i in seq]
    label = text if text is not None and not ids_given else None
    return [([Term(1, seq, label)] if seq else []) + arithmetic]
