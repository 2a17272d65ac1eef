"""emb undertrained: rows that were never (or barely) trained, the cause of glitch tokens.

Indicators, all from streamed chunks (memory: one block plus a few D-sized vectors):
- exactly-zero rows of the input table, and rows past the tokenizer's vocabulary;
- input row norms far below the bulk: percentile rank and robust z, (norm - median) / (1.4826 MAD);
- the Magikarp indicator (Land & Bartolo 2024, "Fishing for Magikarp"): remove the first
  principal component of the LM head U (the input table when there is no separate head),
  then the cosine of each row to the mean of a reference set of unused rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emb_cli.analysis.common import SourceSummary, check_top, summarize
from emb_cli.errors import UsageError
from emb_cli.sources.base import TableSource, check_ids, rows_per_chunk

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

MAD_SCALE = 1.4826  # MAD of a normal sample x 1.4826 = its std
REFERENCE_SHARE = 0.001  # seeded reference: the lowest-norm 0.1% of nonzero rows ...
REFERENCE_MIN = 8  # ... and at least this many
Z_CAP = 4.0  # a robust z of -4 or lower gives the full norm score
FLAG_SCORE = 0.75  # score >= this flags a row (zero rows and rows past the tokenizer: always)
SUBSPACE = 4  # power iteration on 4 vectors at once, with Rayleigh-Ritz: converges faster
MAX_ITERS = 300
TOL = 1e-12  # stop when 1 - |v_new . v_old| is below this (angle ~1.4e-6 rad)
MAX_LISTED = 100


@dataclass(frozen=True)
class Candidate:
    id: int
    score: float  # 0.5 * max(cosine, 0) + 0.5 * min(max(-robust_z, 0), 4) / 4; zero rows 1
    token: str | None  # tokenizer.id_to_token
    decoded: str | None  # tokenizer.decode([id])
    norm: float
    norm_percentile: float  # share of rows with a smaller norm, in percent
    robust_z: float | None  # None when the MAD is zero
    cosine: float | None  # Magikarp cosine; None for a zero row of the matrix used
    zero: bool
    beyond_tokenizer: bool
    special: bool
    in_chat_template: bool
    in_reference: bool


@dataclass(frozen=True)
class UndertrainedReport:
    source: SourceSummary
    rows: int
    cosine_matrix: str  # the tensor the Magikarp cosine was computed on
    cosine_matrix_role: str  # head | input
    tokenizer_vocab_size: int | None
    norm_median: float
    norm_mad: float
    zero_rows: int
    zero_row_ids: list[int]  # the first MAX_LISTED
    beyond_tokenizer_rows: int
    beyond_tokenizer_ids: list[int]  # the first MAX_LISTED
    reference_source: str  # given | seeded
    reference_ids: list[int]
    reference_detail: str
    pc_iterations: int
    pc_explained: float  # share of the centred matrix's variance on the removed component
    flag_score: float
    flagged: int  # zero rows, rows past the tokenizer, and rows scoring >= flag_score
    candidates: list[Candidate]
    notes: list[str]


Stream = Callable[[], Iterator[tuple[int, "np.ndarray"]]]


def _mean(stream: Stream, rows: int, dim: int) -> np.ndarray:
    import numpy as np

    total = np.zeros(dim, dtype=np.float64)
    for _, block in stream():
        total += block.sum(axis=0, dtype=np.float64)
    out: np.ndarray = total / rows
    return out


def top_component(stream: Stream, mean: np.ndarray, seed: int = 0) -> tuple[np.ndarray, int, float]:
    """Top right singular vector of (M - mean) by streamed subspace iteration.

    Each iteration is one pass: W = sum_c (X_c - mean)^T (X_c - mean) Q. Returns the unit
    vector (sign: largest |entry| positive), the passes made and its share of the variance.
    """
    import numpy as np

    dim = mean.size
    k = min(SUBSPACE, dim)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, k)))
    v_old = q[:, 0]
    trace = 0.0
    it = 0
    lam = 0.0
    for it in range(1, MAX_ITERS + 1):
        w = np.zeros((dim, k), dtype=np.float64)
        trace = 0.0
        for _, block in stream():
            x = block.astype(np.float64) - mean
            w += x.T @ (x @ q)
            if it == 1:
                trace += float(np.vdot(x, x))
        if it == 1:
            total_var = trace
        h = q.T @ w  # Rayleigh-Ritz: the best rotation inside the subspace
        evals, evecs = np.linalg.eigh((h + h.T) / 2)
        order = np.argsort(evals)[::-1]
        lam = float(evals[order[0]])
        q, _ = np.linalg.qr(w @ evecs[:, order])
        v = q[:, 0]
        if 1.0 - abs(float(v @ v_old)) < TOL:
            break
        v_old = v
    v = q[:, 0].copy()
    if v[np.argmax(np.abs(v))] < 0:
        v = -v
    explained = lam / total_var if total_var > 0 else 0.0
    return v, it, explained


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
    ckpt: Any = getattr(source, "ckpt", None)
    tc = getattr(ckpt, "tokenizer_config", None) or {}
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


def find_undertrained(
    source: TableSource, top: int = 20, reference: Sequence[int] | None = None
) -> UndertrainedReport:
    import numpy as np

    check_top(top, "--top")
    info = source.info
    rows, dim = info.vocab_size, info.embed_dim
    if reference is not None:
        if not reference:
            raise UsageError("--reference names no ids; pass ids such as `--reference 5,6,7`")
        check_ids(reference, rows)
    notes: list[str] = []

    # Pass 1 over the input table: row norms (float64) and, if it is the cosine matrix, its mean.
    blocks = source.chunks()  # builds (or refuses) a built table before the arrays below
    norms = np.empty(rows, dtype=np.float64)
    total = np.zeros(dim, dtype=np.float64)
    for start, block in blocks:
        b = block.astype(np.float64)
        norms[start : start + b.shape[0]] = np.sqrt(np.einsum("ij,ij->i", b, b))
        total += b.sum(axis=0)
    finite = np.isfinite(norms)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        notes.append(
            f"{bad.size} rows hold NaN/Inf and were left out of the ranking: {bad[:20].tolist()}"
        )
    zero = norms == 0
    zero_ids = np.flatnonzero(zero)

    tok = source.tokenizer()
    tok_size = int(tok.get_vocab_size(with_added_tokens=True)) if tok is not None else None
    beyond = np.zeros(rows, dtype=bool)
    if tok_size is not None and tok_size < rows:
        beyond[tok_size:] = True
    beyond_ids = np.flatnonzero(beyond)

    good = norms[finite]
    med = float(np.median(good)) if good.size else float("nan")
    mad = float(np.median(np.abs(good - med))) if good.size else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (norms - med) / (MAD_SCALE * mad) if mad > 0 else np.full(rows, np.nan)
    sorted_norms = np.sort(good)
    pct = 100.0 * np.searchsorted(sorted_norms, norms, side="left") / max(1, good.size)

    # The cosine matrix: the separate head when its shape matches, else the input table.
    head = source.head()
    if head is not None and tuple(head.shape) == (rows, dim):
        n_head = rows_per_chunk(dim)
        head_ref = head

        def stream() -> Iterator[tuple[int, np.ndarray]]:
            return head_ref.iter_chunks(n_head)

        matrix, role = head.name, "head"
        mean = _mean(stream, rows, dim)
        read_rows: Callable[[Sequence[int]], np.ndarray] = head.read_rows
    else:
        if head is not None:
            notes.append(
                f"head {head.name} has shape {list(head.shape)}, not the table's; "
                "used the input table"
            )
        stream = source.chunks
        matrix, role = info.tensor_name or info.name, "input"
        mean = total / rows
        read_rows = source.rows

    if reference is not None:
        ref_ids = sorted({int(t) for t in reference})
        ref_source, ref_detail = "given", f"{len(ref_ids)} ids from --reference"
    else:
        k = max(REFERENCE_MIN, math.ceil(REFERENCE_SHARE * rows))
        nonzero = np.flatnonzero(finite & ~zero & ~beyond)
        k = min(k, max(1, nonzero.size // 2))
        tail = nonzero[np.argsort(norms[nonzero], kind="stable")[:k]]
        ref_ids = sorted(set(zero_ids.tolist()) | set(beyond_ids.tolist()) | set(tail.tolist()))
        ref_source = "seeded"
        ref_detail = (
            f"{zero_ids.size} zero rows, {beyond_ids.size} rows past the tokenizer, "
            f"the {tail.size} lowest-norm other rows"
        )

    v, iters, explained = top_component(stream, mean)
    ref_sum = np.zeros(dim, dtype=np.float64)
    for i in range(0, len(ref_ids), 4096):
        ref_sum += read_rows(ref_ids[i : i + 4096]).astype(np.float64).sum(axis=0)
    r = ref_sum / len(ref_ids)
    r -= (r @ v) * v  # the first PC removed from the reference mean too
    r_norm = float(np.linalg.norm(r))
    cosine = np.full(rows, np.nan)
    if r_norm == 0:
        notes.append(
            "the reference rows are zero once the first component is removed: no cosine indicator"
        )
    else:
        # With r orthogonal to v: u' . r = u . r and |u'|^2 = |u|^2 - (u . v)^2.
        for start, block in stream():
            b = block.astype(np.float64)
            proj = b @ v
            sq = np.maximum(np.einsum("ij,ij->i", b, b) - proj * proj, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                cosine[start : start + b.shape[0]] = (b @ r) / (np.sqrt(sq) * r_norm)
        cosine[~np.isfinite(cosine)] = np.nan

    s_cos = np.where(np.isnan(cosine), 0.0, np.clip(cosine, 0.0, 1.0))
    s_z = np.where(np.isnan(z), 0.0, np.clip(-z, 0.0, Z_CAP) / Z_CAP)
    score = 0.5 * s_cos + 0.5 * s_z
    score[zero] = 1.0
    score[~finite] = -np.inf
    flagged = zero | beyond | (score >= FLAG_SCORE)

    special, added, template = _tokenizer_facts(source, tok)
    ref_set = set(ref_ids)
    order = np.argsort(-score, kind="stable")[: min(top, rows)]
    candidates = []
    for i in order.tolist():
        token = decoded = None
        if tok is not None and (tok_size is None or i < tok_size):
            token = tok.id_to_token(i)
            decoded = tok.decode([i], skip_special_tokens=False)
        text = added.get(i)
        candidates.append(
            Candidate(
                id=i,
                score=float(score[i]),
                token=token if token is not None else text,
                decoded=decoded,
                norm=float(norms[i]),
                norm_percentile=float(pct[i]),
                robust_z=None if math.isnan(z[i]) else float(z[i]),
                cosine=None if math.isnan(cosine[i]) else float(cosine[i]),
                zero=bool(zero[i]),
                beyond_tokenizer=bool(beyond[i]),
                special=i in special,
                in_chat_template=bool(text and template and text in template),
                in_reference=i in ref_set,
            )
        )
    return UndertrainedReport(
        source=summarize(info),
        rows=rows,
        cosine_matrix=matrix,
        cosine_matrix_role=role,
        tokenizer_vocab_size=tok_size,
        norm_median=med,
        norm_mad=mad,
        zero_rows=int(zero_ids.size),
        zero_row_ids=zero_ids[:MAX_LISTED].tolist(),
        beyond_tokenizer_rows=int(beyond_ids.size),
        beyond_tokenizer_ids=beyond_ids[:MAX_LISTED].tolist(),
        reference_source=ref_source,
        reference_ids=ref_ids,
        reference_detail=ref_detail,
        pc_iterations=iters,
        pc_explained=explained,
        flag_score=FLAG_SCORE,
        flagged=int(flagged.sum()),
        candidates=candidates,
        notes=notes,
    )
