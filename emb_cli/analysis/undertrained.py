"""emb undertrained: rows that were never (or barely) trained, the cause of glitch tokens.

Indicators, from three streamed passes at most (memory: a block, and a few values per row):
- exactly-zero rows of the input table, rows past the tokenizer's vocabulary;
- input row norms far below the bulk: percentile rank and robust z, (norm - median) / (1.4826 MAD);
- the Magikarp indicator (Land and Bartolo 2024, "Fishing for Magikarp"): the first principal
  component of the LM head U (the input table when there is no separate head) is removed when
  it dominates (pca.py), then each row's cosine to the mean of a reference set of unused rows.

The reference set comes from evidence independent of the values (unused_tokens.py): rows past
the tokenizer, tokens it declares unused or reserved, tokens it can never produce. Only without
any is it seeded with the lowest-norm rows, which then rank high by construction. Either way,
candidates inside the reference set are listed apart from the others.
Rows holding NaN or Inf are counted and listed, and kept out of every statistic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from emb_cli.analysis import pca
from emb_cli.analysis.blas_threads import one_blas_thread
from emb_cli.analysis.common import SourceSummary, bounded_map, check_top, summarize, workers
from emb_cli.analysis.magikarp import (
    CosineInput,
    CosineRole,
    Cosines,
    RowSums,
    Stream,
    cosine_indicator,
    cosine_input,
    sketch,
)
from emb_cli.analysis.scan import ScanPart, ScanPass, row_squares
from emb_cli.analysis.unused_tokens import TokenEvidence, evidence
from emb_cli.errors import InputError, UsageError
from emb_cli.sources.base import TableSource, Vocab, check_ids, rows_per_chunk
from emb_cli.sources.memory import ensure_memory

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

MAD_SCALE = 1.4826  # MAD of a normal sample x 1.4826 = its std
REFERENCE_SHARE = 0.001  # without evidence: the lowest-norm 0.1% of nonzero rows ...
REFERENCE_MIN = 8  # ... and at least this many
Z_CAP = 4.0  # a robust z of -4 or lower gives the full norm score
FLAG_SCORE = 0.75  # score >= this flags a row (zero rows and rows past the tokenizer: always)
MAX_LISTED = 100
# --reference, evidence independent of the values, or (without any) the lowest-norm rows
ReferenceSource = Literal["given", "evidence", "lowest-norm"]


@dataclass(frozen=True)
class Candidate:
    id: int
    score: float  # 0.5 * max(cosine, 0) + 0.5 * min(max(-robust_z, 0), 4) / 4; zero rows 1
    token: str | None  # tokenizer.id_to_token
    decoded: str | None  # tokenizer.decode([id])
    norm: float
    norm_percentile: float  # share of rows with a smaller norm, in percent
    robust_z: float | None  # None when the MAD is zero
    cosine: float | None  # Magikarp cosine; None for a zero row, or no cosine computed
    zero: bool
    beyond_tokenizer: bool
    special: bool
    in_chat_template: bool
    in_reference: bool
    declared_unused: bool  # [unusedN], <|reserved_special_token_N|>, GGUF type "unused"
    unreachable: bool  # the tokenizer never produces it (decode, then encode, differs)


@dataclass(frozen=True)
class UndertrainedReport:
    source: SourceSummary
    rows: int
    cosine_matrix: str  # the tensor the Magikarp cosine was computed on
    cosine_matrix_role: CosineRole
    tokenizer_vocab_size: int | None
    norm_median: float | None  # None when no row is finite
    norm_mad: float | None
    zero_rows: int
    zero_row_ids: list[int]  # the first MAX_LISTED
    beyond_tokenizer_rows: int
    beyond_tokenizer_ids: list[int]  # the first MAX_LISTED
    nonfinite_rows: int  # rows with NaN/Inf (in the input table or the cosine matrix)
    nonfinite_row_ids: list[int]  # the first MAX_LISTED
    declared_unused_rows: int
    declared_unused_ids: list[int]  # the first MAX_LISTED
    unreachable_rows: int | None  # None without a tokenizer
    unreachable_ids: list[int]  # the first MAX_LISTED
    unreachable_tested: int  # ids put to the test
    reference_source: ReferenceSource
    reference_rows: int
    reference_ids: list[int]  # the first MAX_LISTED
    reference_detail: str
    cosine_computed: bool  # False below MIN_COSINE_DIM dimensions or without a reference
    pc_method: pca.Method | None  # None when no component was sought
    pc_passes: int  # products with the covariance, one pass over the matrix each
    pc_width: int  # vectors in the subspace block
    pc_explained: float | None  # share of the centred matrix's variance on the top component
    pc_gap: float | None  # 1 - second / top variance: how well the top one stands out
    pc_angle_bound: float | None  # sine of the angle to the true component, at most this
    pc_removed: bool  # projected out before the cosines (only when it dominates)
    flag_score: float
    flagged: int  # zero rows, rows past the tokenizer, and rows scoring >= flag_score
    candidates: list[Candidate]  # the top rows outside the reference set
    reference_candidates: list[Candidate]  # the top rows inside it
    notes: list[str]


def _tokenizer_facts(
    source: TableSource, tok: Tokenizer | None
) -> tuple[set[int], dict[int, str], str]:
    """Special ids, added tokens' texts by id, and the chat template text."""
    special: set[int] = set()
    added: dict[int, str] = {}
    if tok is not None:
        for tid, t in tok.get_added_tokens_decoder().items():
            added[int(tid)] = t.content
            if t.special:
                special.add(int(tid))
    tc = source.tokenizer_config() or {}
    decoder = tc.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for key, entry in decoder.items():
            if isinstance(entry, dict) and str(key).isdigit():
                if isinstance(entry.get("content"), str):
                    added[int(key)] = entry["content"]
                if entry.get("special") is True:
                    special.add(int(key))
    template = tc.get("chat_template")
    if isinstance(template, list):  # [{"name": ..., "template": ...}, ...]
        template = "\n".join(str(t.get("template", "")) for t in template if isinstance(t, dict))
    return special, added, template if isinstance(template, str) else ""


@dataclass(frozen=True)
class Evidence:
    """Step 1: what the tokenizer says of each row, independent of the values."""

    vocab: Vocab | None
    tok: Tokenizer | None
    tokens: TokenEvidence | None  # declared-unused and unreachable ids; None without a tokenizer
    tokenizer_vocab_size: int | None
    beyond: np.ndarray  # per row: past the tokenizer's vocabulary
    special: set[int]
    added: dict[int, str]  # added tokens' texts by id
    template: str  # the chat template
    notes: list[str]


def _gather_evidence(source: TableSource, rows: int, token_types: Sequence[str] | None) -> Evidence:
    import numpy as np

    notes = []
    vocab = source.vocab(fetch=True)
    if token_types is None and vocab is not None:
        token_types = vocab.all_types()  # GGUF records unused, control, byte ...
    try:
        tok = source.tokenizer()
    except InputError as exc:  # a GGUF tokenizer emb cannot run exactly: no encode test
        tok = None
        notes.append(f"no unreachable-token test: {exc.message}")
    ev = evidence(tok, token_types)
    tok_size = ev.vocab_size if ev is not None else None
    beyond = np.zeros(rows, dtype=bool)
    if tok_size is not None and tok_size < rows:
        beyond[tok_size:] = True
    special, added, template = _tokenizer_facts(source, tok)
    return Evidence(vocab, tok, ev, tok_size, beyond, special, added, template, notes)


@dataclass(frozen=True)
class FirstPass:
    """Step 3: input norms, and the cosine matrix's squares, sums and first product."""

    in_sq: np.ndarray  # input rows' sums of squares
    m_sq: np.ndarray  # cosine-matrix rows' sums of squares (the same array for "input")
    colsum: np.ndarray  # the cosine matrix's column sums over its finite rows


def _first_pass(
    source: TableSource,
    blocks: Iterator[tuple[int, np.ndarray]],
    head_stream: Stream | None,
    sketch: pca.CovarianceSketch | None,
    n_workers: int,
    scan: ScanPass | None = None,
) -> FirstPass:
    """One read of the input table (and the head beside it); `scan` measures the same
    input blocks as init-stats does, when a caller wants both from one read."""
    import numpy as np

    info = source.info
    rows, dim = info.vocab_size, info.embed_dim
    in_sq = np.empty(rows, dtype=np.float64)
    m_sq = in_sq if head_stream is None else np.empty(rows, dtype=np.float64)
    colsum = np.zeros(dim, dtype=np.float64)
    heads = head_stream() if head_stream is not None else None

    def items() -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        for start, block in blocks:
            m_block = None
            if heads is not None:
                hstart, m_block = next(heads)
                assert hstart == start
            if sketch is not None and sketch.center is None:  # the first block's mean
                mb = block if m_block is None else m_block
                sketch.prepare(mb, ~np.isfinite(mb).all(axis=1))
            yield start, block, m_block

    def work(
        item: tuple[int, np.ndarray, np.ndarray | None],
    ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, pca.Part | None, ScanPart | None]:
        start, block, m_block = item
        measured = None
        if scan is not None:  # its sub-blocks give the squares and sums too, digit for digit
            measured = scan.measure(start, block, squares=True)
            assert measured.squares is not None
            sq, cs = measured.squares
        else:
            sq, cs = row_squares(block)
        msq = sq
        if m_block is not None:
            msq, cs = row_squares(m_block)
        part = None
        if sketch is not None:
            bad = ~np.isfinite(msq)
            part = sketch.compute(block if m_block is None else m_block, bad if bad.any() else None)
        return start, sq, msq, cs, part, measured

    for start, sq, msq, cs, part, measured in bounded_map(work, items(), n_workers):
        in_sq[start : start + sq.size] = sq
        if m_sq is not in_sq:
            m_sq[start : start + sq.size] = msq
        colsum += cs
        if sketch is not None and part is not None:
            sketch.merge(part)
        if scan is not None and measured is not None:
            scan.add(measured)
    return FirstPass(in_sq, m_sq, colsum)


@dataclass(frozen=True)
class NormStats:
    """Step 4: the input rows' norms against the bulk, and which rows take part."""

    norms: np.ndarray
    finite: np.ndarray  # finite in the input table and the cosine matrix
    m_finite: np.ndarray  # finite in the cosine matrix
    usable: np.ndarray  # finite and nonzero: rows that can point somewhere
    zero: np.ndarray
    median: float | None  # None when no row is finite
    mad: float | None
    robust_z: np.ndarray  # NaN where not finite, or the MAD is zero
    percentile: np.ndarray
    notes: list[str]


def _norm_statistics(first: FirstPass) -> NormStats:
    import numpy as np

    in_sq, m_sq = first.in_sq, first.m_sq
    rows = in_sq.size
    norms = np.sqrt(in_sq)
    m_finite = np.isfinite(m_sq)
    finite = np.isfinite(norms) & m_finite
    bad_ids = np.flatnonzero(~finite)
    notes = []
    if bad_ids.size:
        notes.append(
            f"{bad_ids.size} rows hold NaN/Inf: left out of the ranking, the principal "
            f"component and the reference mean: {bad_ids[:20].tolist()}"
        )
    good = norms[finite]
    med = float(np.median(good)) if good.size else None
    mad = float(np.median(np.abs(good - med))) if med is not None else None
    z = np.full(rows, np.nan)
    if med is not None and mad:
        z[finite] = (norms[finite] - med) / (MAD_SCALE * mad)
    pct = np.full(rows, np.nan)
    pct[finite] = 100.0 * np.searchsorted(np.sort(good), good, side="left") / max(1, good.size)
    usable = m_finite & (m_sq > 0) & np.isfinite(norms)
    return NormStats(norms, finite, m_finite, usable, norms == 0, med, mad, z, pct, notes)


@dataclass(frozen=True)
class Reference:
    """Step 5: the rows whose mean the Magikarp cosine measures against."""

    ids: list[int]
    source: ReferenceSource
    detail: str
    notes: list[str]


def _reference(
    given: Sequence[int] | None,
    ev: TokenEvidence | None,
    beyond_ids: np.ndarray,
    usable: np.ndarray,
    norms: np.ndarray,
) -> Reference:
    import numpy as np

    if given is not None:
        ids = sorted({int(t) for t in given})
        return Reference(ids, "given", f"{len(ids)} ids from --reference", [])
    found: set[int] = set(beyond_ids.tolist())
    parts = [(beyond_ids.size, f"{beyond_ids.size} rows past the tokenizer")]
    if ev is not None:
        found.update(i for i in ev.declared_unused if i < usable.size)
        found.update(i for i in ev.unreachable if i < usable.size)
        parts.append(
            (len(ev.declared_unused), f"{len(ev.declared_unused)} declared unused or reserved")
        )
        parts.append(
            (len(ev.unreachable), f"{len(ev.unreachable)} unreachable of {ev.tested:,} tested")
        )
    if any(usable[i] for i in found):
        return Reference(sorted(found), "evidence", ", ".join(t for _, t in parts), [])
    candidates = np.flatnonzero(usable)
    k = max(REFERENCE_MIN, math.ceil(REFERENCE_SHARE * usable.size))
    k = min(k, max(1, candidates.size // 2))
    tail = candidates[np.argsort(norms[candidates], kind="stable")[:k]]
    if found:  # the evidence names rows, but none of them can point anywhere
        named = ", ".join(t for n, t in parts if n)
        why = f"the {len(found)} rows known unused ({named}) are all zero or hold NaN/Inf"
    elif ev is None:
        why = "no evidence of unused rows independent of the values (no tokenizer)"
    else:
        why = (
            "no evidence of unused rows independent of the values "
            "(the tokenizer declares no unused token and reaches all)"
        )
    note = (
        f"{why}: the reference is the {tail.size} lowest-norm rows, which rank high by "
        "construction; they are listed apart"
    )
    return Reference(
        sorted(tail.tolist()), "lowest-norm", f"the {tail.size} lowest-norm rows", [note]
    )


@dataclass(frozen=True)
class Scores:
    """Step 7: each row's score, and the rows flagged."""

    score: np.ndarray  # -inf for rows holding NaN/Inf: never ranked
    flagged: np.ndarray


def _scores(stats: NormStats, cosine: np.ndarray, beyond: np.ndarray) -> Scores:
    import numpy as np

    s_cos = np.where(np.isnan(cosine), 0.0, np.clip(cosine, 0.0, 1.0))
    z = stats.robust_z
    s_z = np.where(np.isnan(z), 0.0, np.clip(-z, 0.0, Z_CAP) / Z_CAP)
    score = 0.5 * s_cos + 0.5 * s_z
    score[stats.zero] = 1.0
    score[~stats.finite] = -np.inf
    flagged = stats.finite & (stats.zero | beyond | (score >= FLAG_SCORE))
    return Scores(score, flagged)


@dataclass(frozen=True)
class Ranked:
    """Step 8: the top candidates outside the reference set, and inside it."""

    outside: list[Candidate]
    inside: list[Candidate]


def _candidates(
    ev: Evidence, stats: NormStats, cosine: np.ndarray, scores: Scores, in_ref: np.ndarray, top: int
) -> Ranked:
    import numpy as np

    tok, tok_size, vocab = ev.tok, ev.tokenizer_vocab_size, ev.vocab
    unused = set(ev.tokens.declared_unused) if ev.tokens is not None else set()
    unreached = set(ev.tokens.unreachable) if ev.tokens is not None else set()
    z = stats.robust_z

    def candidate(i: int) -> Candidate:
        token = decoded = None
        if tok is not None and (tok_size is None or i < tok_size):
            token = tok.id_to_token(i)
            decoded = tok.decode([i], skip_special_tokens=False)
        elif vocab is not None:
            token = vocab.tokens([i])[0]
        text = ev.added.get(i)
        return Candidate(
            id=i,
            score=float(scores.score[i]),
            token=token if token is not None else text,
            decoded=decoded,
            norm=float(stats.norms[i]),
            norm_percentile=float(stats.percentile[i]),
            robust_z=None if math.isnan(z[i]) else float(z[i]),
            cosine=None if math.isnan(cosine[i]) else float(cosine[i]),
            zero=bool(stats.zero[i]),
            beyond_tokenizer=bool(ev.beyond[i]),
            special=i in ev.special,
            in_chat_template=bool(text and ev.template and text in ev.template),
            in_reference=bool(in_ref[i]),
            declared_unused=i in unused,
            unreachable=i in unreached,
        )

    order = np.argsort(-scores.score, kind="stable")
    order = order[stats.finite[order]]
    return Ranked(
        outside=[candidate(int(i)) for i in order[~in_ref[order]][:top]],
        inside=[candidate(int(i)) for i in order[in_ref[order]][:top]],
    )


@dataclass(frozen=True)
class FlaggedRows:
    """The report, and every row's flag (emb check asks about rows the top list leaves out)."""

    report: UndertrainedReport
    flagged: np.ndarray  # bool per row: zero, past the tokenizer, or score >= FLAG_SCORE
    known_unused: np.ndarray  # bool per row: past the tokenizer, declared unused, unreachable


def undertrained_rows(
    source: TableSource,
    top: int = 20,
    reference: Sequence[int] | None = None,
    token_types: Sequence[str] | None = None,
    *,
    pc_plan: pca.Plan | None = None,
    scan: ScanPass | None = None,
) -> FlaggedRows:
    """Rank the rows that look untrained. `token_types`: GGUF token types by id ("normal",
    "unused", "control", "byte", ...), when the reader has them. `pc_plan` overrides
    pca.plan's choice of method and block (tests compare the two methods). `scan`: measures
    of the input table (init_stats.scan_pass) that the first pass fills as it reads it, so
    that init-stats, NaN/Inf rows and the pad row's norm need no pass of their own. The
    report (`.report`, what `emb undertrained` prints), and every row's flag (emb check)."""
    check_top(top, "--top")
    if reference is not None:
        if not reference:
            raise UsageError("--reference names no ids; pass ids such as `--reference 5,6,7`")
        check_ids(reference, source.info.vocab_size)
    # Workers share the cores when BLAS can be held to one thread each (blas_threads.py).
    with one_blas_thread() as limited:
        n_workers = workers() if limited else 1
        return _find(source, top, reference, token_types, pc_plan, n_workers, scan)


def scratch_bytes(rows: int, dim: int, p: pca.Plan, n_workers: int) -> int:
    """What the passes hold besides the table's chunks: per-row float64 results, each
    worker's (width x D) products and its block of per-row products, the sample and bases,
    and the D x D covariance when exact (each float64)."""
    per_row = 16 * 8 * rows  # norms, scores, projections, percentiles ...
    products = (n_workers + 4) * (p.width + 2) * dim * 8
    sample = pca.SAMPLE_ROWS * dim * 8 if p.method == "randomized" else 0
    cov = 2 * dim * dim * 8 if p.method == "exact" else 0
    return per_row + products + sample + cov


def _find(
    source: TableSource,
    top: int,
    reference: Sequence[int] | None,
    token_types: Sequence[str] | None,
    pc_plan: pca.Plan | None,
    n_workers: int,
    scan: ScanPass | None,
) -> FlaggedRows:
    """The steps in order: evidence, cosine input, the first pass and norm statistics, the
    reference and the cosines (the remaining passes), scores, candidates, the report."""
    import numpy as np

    info = source.info
    rows, dim = info.vocab_size, info.embed_dim
    # First: a built table too large to stream is refused before any per-row array below.
    blocks = source.chunks(rows_per_chunk(dim))
    ev = _gather_evidence(source, rows, token_types)
    cin = cosine_input(source)
    p = pc_plan or pca.plan(rows, dim)
    ensure_memory(
        scratch_bytes(rows, dim, p, n_workers),
        f"undertrained on a {rows:,} x {dim:,} table",
        "the principal component alone needs that much scratch; use a smaller --dim",
    )
    sk = sketch(source, cin, p)
    head_stream = cin.stream if cin.role == "head" else None
    first = _first_pass(source, blocks, head_stream, sk, n_workers, scan)
    stats = _norm_statistics(first)
    ref = _reference(reference, ev.tokens, np.flatnonzero(ev.beyond), stats.usable, stats.norms)
    sums = RowSums(first.m_sq, first.colsum, stats.m_finite, stats.usable)
    cos = cosine_indicator(cin, sk, p, sums, ref.ids, FLAG_SCORE, n_workers)
    scores = _scores(stats, cos.values, ev.beyond)
    in_ref = np.zeros(rows, dtype=bool)
    in_ref[ref.ids] = True
    ranked = _candidates(ev, stats, cos.values, scores, in_ref, top)
    notes = ev.notes + cin.notes + stats.notes + ref.notes + cos.notes
    known = ev.beyond.copy()
    if ev.tokens is not None:
        known[[i for i in (*ev.tokens.declared_unused, *ev.tokens.unreachable) if i < rows]] = True
    report = _report(source, ev, cin, stats, ref, cos, scores, ranked, notes)
    return FlaggedRows(report, scores.flagged, known)


def _report(
    source: TableSource,
    ev: Evidence,
    cin: CosineInput,
    stats: NormStats,
    ref: Reference,
    cos: Cosines,
    scores: Scores,
    ranked: Ranked,
    notes: list[str],
) -> UndertrainedReport:
    """Step 9: the counts and the first MAX_LISTED ids of each kind of row."""
    import numpy as np

    zero_ids = np.flatnonzero(stats.zero)
    beyond_ids = np.flatnonzero(ev.beyond)
    bad_ids = np.flatnonzero(~stats.finite)
    unused = sorted(set(ev.tokens.declared_unused)) if ev.tokens is not None else []
    unreached = sorted(set(ev.tokens.unreachable)) if ev.tokens is not None else []
    comp = cos.component
    return UndertrainedReport(
        source=summarize(source.info),
        rows=source.info.vocab_size,
        cosine_matrix=cin.name,
        cosine_matrix_role=cin.role,
        tokenizer_vocab_size=ev.tokenizer_vocab_size,
        norm_median=stats.median,
        norm_mad=stats.mad,
        zero_rows=int(zero_ids.size),
        zero_row_ids=zero_ids[:MAX_LISTED].tolist(),
        beyond_tokenizer_rows=int(beyond_ids.size),
        beyond_tokenizer_ids=beyond_ids[:MAX_LISTED].tolist(),
        nonfinite_rows=int(bad_ids.size),
        nonfinite_row_ids=bad_ids[:MAX_LISTED].tolist(),
        declared_unused_rows=len(unused),
        declared_unused_ids=unused[:MAX_LISTED],
        unreachable_rows=len(unreached) if ev.tok is not None else None,
        unreachable_ids=unreached[:MAX_LISTED],
        unreachable_tested=ev.tokens.tested if ev.tokens is not None else 0,
        reference_source=ref.source,
        reference_rows=len(ref.ids),
        reference_ids=ref.ids[:MAX_LISTED],
        reference_detail=ref.detail,
        cosine_computed=comp is not None,
        pc_method=comp.method if comp is not None else None,
        pc_passes=comp.passes if comp is not None else 0,
        pc_width=comp.width if comp is not None else 0,
        pc_explained=comp.explained if comp is not None else None,
        pc_gap=comp.gap if comp is not None else None,
        pc_angle_bound=comp.angle_bound if comp is not None else None,
        pc_removed=comp is not None and comp.separated,
        flag_score=FLAG_SCORE,
        flagged=int(scores.flagged.sum()),
        candidates=ranked.outside,
        reference_candidates=ranked.inside,
        notes=notes,
    )
