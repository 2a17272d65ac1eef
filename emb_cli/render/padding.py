"""Human output of `emb padding`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.render.console import out, source_line

if TYPE_CHECKING:
    from emb_cli.analysis.padding import GradientCheck, PaddingReport


def _grad_table(g: GradientCheck, title: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("id", justify="right")
    t.add_column("times in batch", justify="right")
    t.add_column("grad norm", justify="right")
    for row in g.rows:
        t.add_row(str(row.id), str(row.occurrences), f"{row.grad_norm:.6g}")
    return t


def render_padding(r: PaddingReport) -> None:
    c = out()
    c.print(source_line(r.source))
    if r.pad_ids_found:
        c.print("pad ids named by: " + ", ".join(f"{k}={v}" for k, v in r.pad_ids_found.items()))
    for note in r.notes:
        c.print(Text(note, style="yellow"))
    if r.row_exists:
        med = f", median row norm {r.median_row_norm:.4g}" if r.median_row_norm is not None else ""
        c.print(
            f"pad row {r.pad_token_id}: norm {r.row_norm:.6g}, max |x| {r.row_max_abs:.6g}{med}"
        )
    for g, title in (
        (r.gradient, "padding_idx"),
        (r.gradient_without_padding_idx, "no padding_idx"),
    ):
        if g is None:
            continue
        c.print(
            f"batch {g.batch} (pad {r.pad_token_id}) -> nn.Embedding(padding_idx={g.padding_idx}), "
            "loss = sum(out * r), backward"
        )
        c.print(_grad_table(g, f"gradient rows with {title}"))
        c.print(f"padded positions of the output exactly zero: {g.padded_positions_zero}")
    style = "green" if r.ok else "red"
    c.print(Text(f"verdict: {r.verdict}: {r.detail}", style=style))
