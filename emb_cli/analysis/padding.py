"""emb padding: is the pad row zero, and does padding_idx keep its gradient zero?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.sources.base import TableSource, check_ids

if TYPE_CHECKING:
    import numpy as np

Verdict = Literal["zero", "zero-and-frozen", "nonzero", "missing-row", "no-pad-token", "grad-leak"]


@dataclass(frozen=True)
class GradRow:
    id: int
    occurrences: int
    grad_norm: float


@dataclass(frozen=True)
class GradientCheck:
    padding_idx: int | None  # what nn.Embedding was given
    batch: list[list[int]]
    rows: list[GradRow]
    pad_grad_zero: bool
    others_nonzero: bool
    padded_positions_zero: bool  # the forward output at pad positions is exactly zero


@dataclass(frozen=True)
class PaddingReport:
    source: SourceSummary
    pad_token_id: int | None
    pad_source: str | None
    pad_ids_found: dict[str, int | None]  # config / generation_config / tokenizer
    sources_disagree: bool
    row_exists: bool
    row_is_zero: bool | None
    row_norm: float | None
    row_max_abs: float | None
    median_row_norm: float | None
    gradient: GradientCheck | None  # built tables: a real backward pass
    gradient_without_padding_idx: GradientCheck | None
    verdict: Verdict
    ok: bool
    detail: str
    notes: list[str] = field(default_factory=list)


def check_padding(
    source: TableSource,
    token_ids: Sequence[int] = (),
    strict: bool = False,
    without_padding_idx: bool = False,
    *,
    row_norms: np.ndarray | None = None,
) -> PaddingReport:
    """The pad ids, the pad row, its gradient (built tables), the verdict. `row_norms`: every
    row's norm from a pass already made (ScanResult.row_norms), else a checkpoint's median
    row norm costs a pass here."""
    info = source.info
    if token_ids:  # --ids index the table: refuse, as lookup does, before torch sees them
        check_ids(token_ids, info.vocab_size)
    ids = _pad_ids(source)
    pad = info.pad_token_id
    if pad is None:
        return _report(source, ids, _NO_PAD)
    if not 0 <= pad < info.vocab_size:
        detail = (
            f"pad id {pad} (from {info.pad_source}) has no row: the table has rows "
            f"0..{info.vocab_size - 1}; nn.Embedding(padding_idx={pad}) would raise"
        )
        return _report(source, ids, Decision("missing-row", False, detail))
    row = _pad_row(source, pad)
    if not info.built:
        median = _median_row_norm(source, pad, row_norms)
        return _report(source, ids, _verdict(pad, row, None, median, strict), row, median)
    batch = _batch_ids(token_ids, info.vocab_size, pad)
    grad = gradient_check(source, batch, pad)
    no_idx = gradient_check(source, batch, None) if without_padding_idx else None
    decision = _verdict(pad, row, grad, None, strict)
    return _report(source, ids, decision, row, None, grad, no_idx)


@dataclass(frozen=True)
class PadIds:
    """Step 1: the pad id of every place that names one."""

    found: dict[str, int | None]  # config / generation_config / tokenizer
    disagree: bool
    notes: list[str]


def _pad_ids(source: TableSource) -> PadIds:
    found: dict[str, int | None] = dict(source.facts.pad.found)
    disagree = len({v for v in found.values() if v is not None}) > 1
    notes = []
    if disagree:
        notes.append("pad ids disagree: " + ", ".join(f"{k} says {v}" for k, v in found.items()))
    return PadIds(found, disagree, notes)


@dataclass(frozen=True)
class PadRow:
    """Step 2: the pad row's values."""

    norm: float
    max_abs: float
    is_zero: bool


def _pad_row(source: TableSource, pad: int) -> PadRow:
    import numpy as np

    row = source.rows([pad])[0].astype(np.float64)
    max_abs = float(np.abs(row).max())
    return PadRow(float(np.sqrt(row @ row)), max_abs, bool(max_abs == 0.0))


def _median_row_norm(source: TableSource, pad: int, norms: np.ndarray | None) -> float | None:
    """Over the finite rows besides the pad row: what a nonzero pad row is compared with."""
    import numpy as np

    if norms is None:
        from emb_cli.analysis.scan import scan

        norms = scan(source, exclude=[pad]).row_norms
    keep = np.isfinite(norms)
    keep[pad] = False
    return float(np.median(norms[keep])) if keep.any() else None


@dataclass(frozen=True)
class Decision:
    """Step 3: the verdict, whether it passes, and why."""

    verdict: Verdict
    ok: bool
    detail: str


_NO_PAD = Decision(
    "no-pad-token",
    True,
    "no pad token: no config, generation_config or tokenizer names one "
    "(pass --pad ID to check a row); batches of unequal length need one",
)


def _verdict(
    pad: int, row: PadRow, grad: GradientCheck | None, median: float | None, strict: bool
) -> Decision:
    if grad is not None:
        ok = row.is_zero and grad.pad_grad_zero and grad.others_nonzero
        verdict: Verdict = "zero-and-frozen" if ok else ("grad-leak" if row.is_zero else "nonzero")
        detail = (
            f"pad row {pad} is exactly zero, and a backward pass through "
            f"nn.Embedding(padding_idx={pad}) gives it zero gradient while "
            f"{sum(1 for r in grad.rows if r.id != pad)} other looked-up rows get gradient"
            if ok
            else f"pad row {pad}: zero={row.is_zero}, gradient zero={grad.pad_grad_zero}"
        )
        return Decision(verdict, ok, detail)
    if row.is_zero:
        return Decision("zero", True, f"pad row {pad} is exactly zero")
    ratio = f" ({row.norm / median:.2f} x the median row norm {median:.4g})" if median else ""
    return Decision(
        "nonzero",
        not strict,
        f"pad row {pad} is not zero: norm {row.norm:.4g}{ratio}. Common in trained checkpoints "
        "(BERT's [PAD] was trained); with padding_idx it stays frozen, and attention masks "
        "keep padded positions out of the result",
    )


def _report(
    source: TableSource,
    ids: PadIds,
    decision: Decision,
    row: PadRow | None = None,
    median: float | None = None,
    grad: GradientCheck | None = None,
    no_idx: GradientCheck | None = None,
) -> PaddingReport:
    """Step 4; without a row (no pad id, or none in the table) every row field is None."""
    info = source.info
    return PaddingReport(
        source=summarize(info),
        pad_token_id=info.pad_token_id,
        pad_source=info.pad_source,
        pad_ids_found=ids.found,
        sources_disagree=ids.disagree,
        row_exists=row is not None,
        row_is_zero=row.is_zero if row is not None else None,
        row_norm=row.norm if row is not None else None,
        row_max_abs=row.max_abs if row is not None else None,
        median_row_norm=median,
        gradient=grad,
        gradient_without_padding_idx=no_idx,
        verdict=decision.verdict,
        ok=decision.ok,
        detail=decision.detail,
        notes=ids.notes,
    )


def _batch_ids(token_ids: Sequence[int], vocab_size: int, pad: int) -> list[list[int]]:
    """A ragged batch padded with the pad id: the lessons' [[a, b, c], [d]] story."""
    ids = [t for t in token_ids if t != pad]
    if not ids:
        ids = [t for t in (73, 786, 2934) if t < vocab_size and t != pad]
    if not ids:
        ids = [t for t in range(min(vocab_size, 4)) if t != pad][:3]
    longest = len(ids) + 1
    first = ids + [pad] * (longest - len(ids))
    # a one-row table has no id but the pad: both sequences are [pad]
    second = (ids[:1] or [pad]) + [pad] * (longest - 1)
    return [first, second]


def gradient_check(
    source: TableSource, batch: list[list[int]], padding_idx: int | None
) -> GradientCheck:
    """loss = sum(embed(batch) * r) for a fixed random r; then read weight.grad row by row."""
    import torch

    weight = source.weight()
    # sparse=True: the gradient holds only looked-up rows, so a 128256 x 4096 table
    # does not need a second dense 2 GB tensor for its grad.
    embed = torch.nn.Embedding.from_pretrained(
        weight.clone(), freeze=False, padding_idx=padding_idx, sparse=True
    )  # type: ignore[no-untyped-call]
    ids = torch.tensor(batch)
    out = embed(ids)
    gen = torch.Generator().manual_seed(0)
    r = torch.randn(out.shape, generator=gen).to(out.dtype)
    (out * r).sum().backward()
    grad = embed.weight.grad
    assert grad is not None
    dense_rows = grad.coalesce()
    index = {int(i): k for k, i in enumerate(dense_rows.indices()[0].tolist())}
    values = dense_rows.values().float()
    rows = []
    for tid in sorted({t for seq in batch for t in seq}):
        g = values[index[tid]] if tid in index else torch.zeros(weight.shape[1])
        rows.append(GradRow(tid, sum(seq.count(tid) for seq in batch), float(g.norm())))
    pad = padding_idx if padding_idx is not None else source.info.pad_token_id
    pad_positions = ids == pad
    return GradientCheck(
        padding_idx=padding_idx,
        batch=batch,
        rows=rows,
        pad_grad_zero=all(r.grad_norm == 0.0 for r in rows if r.id == pad),
        others_nonzero=all(r.grad_norm > 0.0 for r in rows if r.id != pad),
        padded_positions_zero=bool((out.detach()[pad_positions] == 0).all()),
    )
