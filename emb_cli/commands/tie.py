"""emb tie: is the LM head the input embedding?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import JsonOpt, finish, parse_ids, with_source

if TYPE_CHECKING:
    from emb_cli.sources.base import TableSource


@with_source
def tie(
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="Ids for the forward pass (built tables).")
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all-rows", help="Compare every row even after a difference.")
    ] = False,
    json_: JsonOpt = False,
    *,
    source: TableSource,
) -> None:
    """Verify whether the LM head is tied to the input embedding, with the evidence.

    Example: emb tie --from ./tiny-llama
    """
    from emb_cli.analysis.ties import verify_tie
    from emb_cli.render.output import emit
    from emb_cli.render.tie import render_tie

    report = verify_tie(source, parse_ids(ids), all_rows=all_rows)
    emit(report, json_, human=render_tie)
    finish(report.ok)
