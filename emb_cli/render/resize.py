"""Human output of `emb resize`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.render.console import num, out, source_line

if TYPE_CHECKING:
    from emb_cli.analysis.resize import (
        Distribution,
        ResizeReport,
        TensorPlan,
        TokenizerFit,
        WriteResult,
    )


def render_resize(r: ResizeReport) -> None:
    c = out()
    c.print(source_line(r.source))
    pad = f", pad_to_multiple_of {r.pad_to_multiple_of}" if r.pad_to_multiple_of is not None else ""
    c.print(
        f"resize_token_embeddings({r.requested:,}{pad}) -> {r.new_num_tokens:,} rows "
        f"({r.action}: +{r.rows_added:,} / -{r.rows_removed:,} from {r.old_num_tokens:,})"
    )
    plans = [r.embedding] + ([r.head] if r.head is not None else [])
    c.print(_plans_table(plans))
    if r.head_follows_embedding:
        c.print("head: tied, follows the embedding (one table)")
    c.print(_size_line(r))
    if r.tokenizer is not None:
        c.print(_tokenizer_line(r.tokenizer))
    if r.rows_added:
        if r.mean_resizing:
            c.print("new rows (mean resizing): N(mean of old rows, 1e-9 x their covariance)")
            c.print(_distributions_table(plans))
        z = r.zero_mean_init
        c.print(
            f"{'instead, ' if r.mean_resizing else ''}--no-mean-resizing: N(0, {z.std:g}) "
            f"({z.std_source} initializer_range), row norm ~ {z.expected_row_norm:.6g}"
        )
    if r.written is not None:
        for line in _written_lines(r.written):
            c.print(line)
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))


def _plans_table(plans: list[TensorPlan]) -> Table:
    """The embedding (and an untied head): rows before and after."""
    t = Table()
    for col in ("tensor", "role", "rows", "new rows", "added", "removed", "values"):
        t.add_column(col, justify="left" if col in ("tensor", "role", "values") else "right")
    for p in plans:
        label = (p.tensor or "(built)") if p.stored else "(not stored)"
        t.add_row(
            label,
            p.role,
            f"{p.old_rows:,}",
            f"{p.new_rows:,}",
            f"{p.rows_added:,}",
            f"{p.rows_removed:,}",
            "stored" if p.stored else "-",
        )
    return t


def _size_line(r: ResizeReport) -> str:
    stored = (
        f"; as stored ({r.stored_dtype}) {r.stored_bytes_old:,} -> {r.stored_bytes_new:,} B"
        if r.stored_bytes_new is not None
        else ""
    )
    return (
        f"params {r.params_old:,} -> {r.params_new:,} ({r.params_delta:+,}); "
        f"fp32 {r.bytes_new['float32']:,} B, bf16 {r.bytes_new['bfloat16']:,} B{stored}"
    )


def _tokenizer_line(k: TokenizerFit) -> str:
    lost = (
        f"; {k.tokenizer_ids_dropped:,} tokenizer ids LOSE their rows"
        if k.tokenizer_ids_dropped
        else ""
    )
    return (
        f"tokenizer: {k.tokenizer_vocab_size:,} tokens, "
        f"{k.padding_rows:,} padding rows past it; "
        f"new ids {k.new_token_ids:,}: {k.new_ids_in_existing_rows:,} already have a row, "
        f"{k.new_ids_needing_rows:,} need one{lost}"
    )


# The rows of the mean-resizing table: what each old table's rows give the new ones.
_DISTRIBUTION_ROWS: tuple[tuple[str, Callable[[Distribution], str]], ...] = (
    ("rows", lambda s: f"{s.rows:,}"),
    ("|mean|", lambda s: num(s.mean_norm)),
    ("max |mean_i|", lambda s: num(s.mean_abs_max)),
    ("trace cov", lambda s: num(s.covariance_trace)),
    ("largest eigenvalue", lambda s: num(s.covariance_max_eigenvalue)),
    ("smallest eigenvalue", lambda s: num(s.covariance_min_eigenvalue)),
    ("1e-9 x trace", lambda s: num(s.scaled_trace)),
    ("positive definite", lambda s: "yes" if s.positive_definite else "no"),
    ("sampler", lambda s: s.sampler),
    ("E new-row norm", lambda s: num(s.expected_row_norm)),
)


def _distributions_table(plans: list[TensorPlan]) -> Table:
    """Mean resizing: the old rows' mean and covariance, a column per resized tensor."""
    dists = [(p.tensor or p.role, p.distribution) for p in plans if p.distribution]
    d = Table()
    d.add_column("old rows ->")
    for name, _ in dists:
        d.add_column(name, justify="right")
    if any(s.nonfinite_rows for _, s in dists):
        d.add_row("rows with NaN/Inf (left out)", *(f"{s.nonfinite_rows:,}" for _, s in dists))
    for label, f in _DISTRIBUTION_ROWS:
        d.add_row(label, *(f(s) for _, s in dists))
    return d


def _written_lines(w: WriteResult) -> list[str]:
    lines = [f"wrote {w.path} (torch.manual_seed({w.seed}) before the resize):"]
    return lines + [
        f"  {t.name} {t.shape} {t.dtype}, new rows: {t.new_rows_init}" for t in w.tensors
    ]
