"""Human output of `emb diff`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.analysis.diff import ChangedRow
from emb_cli.render.console import num, out, source_line, token_cell
from emb_cli.render.output import Tsv, cells, columns

if TYPE_CHECKING:
    from emb_cli.analysis.diff import DiffReport


def _changed_table(rows: list[ChangedRow], title: str) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("id", justify="right")
    if rows and rows[0].token is not None:
        t.add_column("token")
    t.add_column("l2", justify="right")
    t.add_column("cosine", justify="right")
    for x in rows:
        cells = [str(x.id)] + ([token_cell(x.token)] if x.token is not None else [])
        t.add_row(*cells, "-" if x.l2 is None else f"{x.l2:.4g}", num(x.cosine))
    return t


def render_diff(r: DiffReport) -> None:
    c = out()
    c.print("a: " + source_line(r.a))
    c.print("b: " + source_line(r.b))
    c.print(f"shape {r.shape_a} -> {r.shape_b}" + (" (changed)" if r.shape_changed else ""))
    c.print(f"dtype {r.dtype_a} -> {r.dtype_b}" + (" (changed)" if r.dtype_changed else ""))
    if r.rows_only_in_a:
        c.print(f"rows only in a: ids {r.rows_only_in_a[0]}..{r.rows_only_in_a[1] - 1}")
    if r.rows_only_in_b:
        c.print(f"rows only in b: ids {r.rows_only_in_b[0]}..{r.rows_only_in_b[1] - 1}")
    if r.comparable:
        c.print(
            f"rows changed: {r.rows_changed:,} of {r.rows_compared:,} "
            f"({r.values_changed:,} values); max |diff| {num(r.max_abs_diff)}, "
            f"mean L2 change {num(r.mean_l2_change)}, mean cosine {num(r.mean_cosine)}"
        )
        c.print(
            f"mean row norm {num(r.mean_row_norm_a)} -> {num(r.mean_row_norm_b)} "
            f"(ratio {num(r.row_norm_ratio)}); std {num(r.std_a)} -> {num(r.std_b)}"
        )
        if r.most_changed_l2:
            c.print(_changed_table(r.most_changed_l2, "most changed by L2 distance"))
            c.print(_changed_table(r.most_changed_cosine, "most changed by cosine"))
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))
    style = "yellow" if r.differ else "green"
    c.print(Text("verdict: " + ("differ" if r.differ else "identical"), style=style))


def tsv_diff(r: DiffReport) -> Tsv:
    """The most-changed rows: by (l2 or cosine, the list it is in), rank, a ChangedRow."""
    cols = columns(ChangedRow)
    rows = [
        [by, rank, *cells(x, cols)]
        for by, items in (("l2", r.most_changed_l2), ("cosine", r.most_changed_cosine))
        for rank, x in enumerate(items, 1)
    ]
    return Tsv(["by", "rank", *cols], rows)
