"""Human output of `emb tokenize`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from emb_cli.render.console import out

if TYPE_CHECKING:
    from emb_cli.analysis.tokenize import TokenizeReport


def render_tokenize(r: TokenizeReport) -> None:
    c = out()
    c.print(f"{r.source}: {r.count:,} tokens from {r.text_chars:,} characters")
    t = Table()
    t.add_column("#", justify="right")
    t.add_column("id", justify="right")
    t.add_column("token")
    if r.token_types is not None:
        t.add_column("type")
    for n, (tid, tok) in enumerate(zip(r.ids, r.tokens, strict=True)):
        row = [str(n), str(tid), repr(tok)]
        if r.token_types is not None:
            row.append(r.token_types[n])
        t.add_row(*row)
    c.print(t)


def render_count(count: int) -> None:
    """`--count`: the number alone, for scripts."""
    out().print(str(count), highlight=False)
