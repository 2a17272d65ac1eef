"""Human output of `emb tie`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from emb_cli.render.console import out, source_line

if TYPE_CHECKING:
    from emb_cli.analysis.ties import TieReport


def render_tie(r: TieReport) -> None:
    c = out()
    c.print(source_line(r.source))
    for e in r.evidence:
        c.print(f"- {e}")
    style = "green" if r.ok else "red"
    c.print(Text(f"verdict: {r.verdict}", style=style))
