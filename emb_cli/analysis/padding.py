"""emb padding: is the pad row zero, and does padding_idx keep its gradient zero?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.sources.base import TableSource, check_ids

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
) -> PaddingReport:
    import numpy as np

    info = source.info
    if token_ids:  # --ids index the table: refuse, as lookup does, before torch sees them
        check_ids(token_ids, info.vocab_size)
    pad = info.pad_token_id
    found: dict[str, int | None] = dict(source.facts.pad.found)
    disagree = len({v for v in found.values() if v is not None}) > 1
    notes = []
    if disagree:
        notes.append("pad ids disagree: " + ", ".join(f"{k} says {v}" for k, v in found.items()))
    base: dict[str, Any] = {
        "source": summarize(info),
        "pad_token_id": pad,
        "pad_source": info.pad_source,
        "pad_ids_found": found,
        "sources_disagree": disagree,
        "notes": notes,
    }
    # No row to measure: every row-level field is None.
    no_row: dict[str, Any] = dict.fromkeys(
        (
            "row_is_zero",
            "row_norm",
            "row_max_abs",
            "median_row_norm",
            "gradient",
            "gradient_without_padding_idx",
        ),
    )
    if pad is None:
        return PaddingReport(
            **base,
            **no_row,
            row_exists=False,
            verdict="no-pad-token",
            ok=True,
            detail="no pad token: no config, generation_config or tokenizer names one "
            "(pass --pad ID to check a row); batches of unequal length need one",
        )
    if not 0 <= pad < info.vocab_size:
        return PaddingReport(
            **base,
            **no_row,
            row_exists=False,
            verdict="missing-row",
            ok=False,
            detail=f"pad id {pad} (from {info.pad_source}) has no row: the table has rows "
            f"0..{info.vocab_size - 1}; nn.Embedding(padding_idx={pad}) would raise",
        )
    row = source.rows([pad])[0].astype(np.float64)
    norm = float(np.sqrt(row @ row))
    max_abs = float(np.abs(row).max())
    is_zero = bool(max_abs == 0.0)
    median: float | None = None
    grad = no_idx = None
    if info.built:
        ids = _batch_ids(token_ids, info.vocab_size, pad)
        grad = gradient_check(source, ids, pad)
        if without_padding_idx:
            no_idx = gradient_check(source, ids, None)
    else:
        from emb_cli.analysis.scan import scan

        norms = scan(source, exclude=[pad]).row_norms
        keep = np.isfinite(norms)
        keep[pad] = False
        median = float(np.median(norms[keep])) if keep.any() else None

    verdict: Verdict
    if grad is not None:
        ok = is_zero and grad.pad_grad_zero and grad.others_nonzero
        verdict = "zero-and-frozen" if ok else ("grad-leak" if is_zero else "nonzero")
        detail = (
            f"pad row {pad} is exactly zero, and a backward pass through "
            f"nn.Embedding(padding_idx={pad}) gives it zero gradient while "
            f"{sum(1 for r in grad.rows if r.id != pad)} other looked-up rows get gradient"
            if ok
            else f"pad row {pad}: zero={is_zero}, gradient zero={grad.pad_grad_zero}"
        )
    elif is_zero:
        ok, verdict = True, "zero"
        detail = f"pad row {pad} is exactly zero"
    else:
        ok, verdict = not strict, "nonzero"
        ratio = f" ({norm / median:.2f} x the median row norm {median:.4g})" if median else ""
        detail = (
            f"pad row {pad} is not zero: norm {norm:.4g}{ratio}. Common in trained checkpoints "
            "(BERT's [PAD] was trained); with padding_idx it stays frozen, and attention masks "
            "keep padded positions out of the result"
        )
    return PaddingReport(
        **base,
        row_exists=True,
        row_is_zero=is_zero,
        row_norm=norm,
        row_max_abs=max_abs,
        median_row_norm=median,
        gradient=grad,
        gradient_without_padding_idx=no_idx,
        verdict=verdict,
        ok=ok,
        detail=detail,
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
    second = ids[:1] + [pad] * (longest - 1)
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
