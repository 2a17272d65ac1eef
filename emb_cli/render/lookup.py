"""Human output of `emb lookup`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from emb_cli.render.console import (
    TORCH_THRESHOLD,
    fmt_vector,
    out,
    source_line,
    token_cell,
    use_sci,
)
from emb_cli.render.output import Tsv

if TYPE_CHECKING:
    from emb_cli.analysis.lookup import BatchLookupResult, LookupResult


def render_lookup(r: LookupResult, full: bool) -> None:
    c = out()
    c.print(source_line(r.source))
    shown = r.ids if len(r.ids) <= 12 else [*r.ids[:6], "...", *r.ids[-3:]]
    ids = ", ".join(map(str, shown))
    c.print(f"shape {tuple(r.shape)}  = embed(torch.tensor([[{ids}]])).shape")
    summarize = not full and len(r.ids) * r.shape[2] > TORCH_THRESHOLD
    flat = [v for row in r.vectors for v in row]
    sci = use_sci(flat)
    t = Table(show_edge=False, pad_edge=False)
    t.add_column("pos", justify="right")
    t.add_column("id", justify="right")
    if r.tokens is not None:
        t.add_column("token")
    t.add_column("norm", justify="right")
    t.add_column("vector" + ("" if full or not summarize else " (--full for all)"), overflow="fold")
    for pos, (tid, row, norm) in enumerate(zip(r.ids, r.vectors, r.norms, strict=True)):
        cells = [str(pos), str(tid)]
        if r.tokens is not None:
            cells.append(token_cell(r.tokens[pos]))
        cells += [f"{norm:.4f}", fmt_vector(row, summarize, sci)]
        t.add_row(*cells)
    c.print(t)


def render_batch(r: BatchLookupResult, full: bool) -> None:
    c = out()
    c.print(source_line(r.source))
    c.print(f"input_ids {r.batch}  (lengths {r.lengths}, padded with {r.pad_token_id})")
    c.print(f"shape {tuple(r.shape)}  = embed(input_ids).shape")
    summarize = not full and r.shape[0] * r.shape[1] * r.shape[2] > TORCH_THRESHOLD
    sci = use_sci([v for seq in r.vectors for row in seq for v in row])
    padded = {(b, t) for b, t in r.padded_positions}
    t = Table(show_edge=False, pad_edge=False)
    for col in ("b", "t", "id", "vector"):
        t.add_column(col, justify="right" if col != "vector" else "left", overflow="fold")
    for b, seq in enumerate(r.vectors):
        for pos, row in enumerate(seq):
            mark = " (pad)" if (b, pos) in padded else ""
            t.add_row(str(b), str(pos), f"{r.batch[b][pos]}{mark}", fmt_vector(row, summarize, sci))
    c.print(t)
    if r.padded_positions:
        zero = r.padded_positions_zero
        c.print(
            f"padded positions {len(r.padded_positions)}: "
            + (
                "all exactly zero vectors (the pad row is zero)"
                if zero
                else "NOT zero: the pad row holds values, so attention masks must keep them out"
            )
        )


def tsv_lookup(r: LookupResult) -> Tsv:
    """pos, id, token, norm, then one column per value (v0 ... v{D-1}), full precision."""
    header = ["pos", "id", "token", "norm", *(f"v{j}" for j in range(r.shape[2]))]
    tokens: list[str | None] = list(r.tokens) if r.tokens is not None else [None] * len(r.ids)
    rows = zip(r.ids, tokens, r.norms, r.vectors, strict=True)
    return Tsv(
        header, [[pos, tid, tok, norm, *row] for pos, (tid, tok, norm, row) in enumerate(rows)]
    )


def tsv_batch(r: BatchLookupResult) -> Tsv:
    """b, t, id, pad (true at a padded position), then one column per value."""
    padded = {(b, t) for b, t in r.padded_positions}
    header = ["b", "t", "id", "pad", *(f"v{j}" for j in range(r.shape[2]))]
    rows = [
        [b, t, r.batch[b][t], (b, t) in padded, *row]
        for b, seq in enumerate(r.vectors)
        for t, row in enumerate(seq)
    ]
    return Tsv(header, rows)
