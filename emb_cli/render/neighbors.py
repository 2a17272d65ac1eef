"""Human output of `emb neighbors`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.analysis.neighbors import Neighbor
from emb_cli.render.console import out, source_line, token_cell
from emb_cli.render.output import Tsv, cells, columns

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


def tsv_neighbors(r: NeighborsReport) -> Tsv:
    """query (its expression), rank, a Neighbor; its score column is named after the metric."""
    cols = columns(Neighbor)
    rows = [
        [q.expression, rank, *cells(n, cols)]
        for q in r.queries
        for rank, n in enumerate(q.results, 1)
    ]
    return Tsv(["query", "rank", *(r.metric if c == "score" else c for c in cols)], rows)
