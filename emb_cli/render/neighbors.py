"""Human output of `emb neighbors`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.render.console import out, print_tsv, source_line, token_cell

if TYPE_CHECKING:
    from emb_cli.analysis.neighbors import NeighborsReport


def render_neighbors(r: NeighborsReport) -> None:
    c = out()
    c.print(source_line(r.source))
    nearer = "lower is nearer" if r.metric == "l2" else "higher is nearer"
    for q in r.queries:
        kept = "" if r.exclude_query else ", query tokens kept"
        c.print(f"query {q.expression}  ids {q.ids}  ({r.metric}, {nearer}{kept})")
        t = Table(show_edge=False, pad_edge=False)
        t.add_column("rank", justify="right")
        t.add_column("id", justify="right")
        if q.results and q.results[0].token is not None:
            t.add_column("token")
        t.add_column(r.metric, justify="right")
        for rank, n in enumerate(q.results, 1):
            cells = [str(rank), str(n.id)]
            if q.results[0].token is not None:
                cells.append(token_cell(n.token))
            t.add_row(*cells, f"{n.score:.4f}")
        c.print(t)
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))


def tsv_neighbors(r: NeighborsReport) -> None:
    """query (its expression), rank, id, token, score (the metric's value)."""
    rows = [
        [q.expression, rank, n.id, n.token, n.score]
        for q in r.queries
        for rank, n in enumerate(q.results, 1)
    ]
    print_tsv(["query", "rank", "id", "token", r.metric], rows)
