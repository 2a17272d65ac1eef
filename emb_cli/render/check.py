"""Human output of `emb check`: a table of the checks, then the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rich.table import Table
from rich.text import Text

from emb_cli.render.console import out, source_line

if TYPE_CHECKING:
    from emb_cli.analysis.check import CheckReport

STYLES: Final = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


def render_check(r: CheckReport) -> None:
    c = out()
    c.print(source_line(r.source))
    t = Table()
    t.add_column("check")
    t.add_column("status")
    t.add_column("summary", overflow="fold")
    for check in r.checks:
        t.add_row(check.name, Text(check.status, style=STYLES[check.status]), check.summary)
    c.print(t)
    counts = {s: sum(1 for x in r.checks if x.status == s) for s in STYLES}
    told = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    c.print(Text(f"{r.status.upper()}: {told}", style=STYLES[r.status]))
