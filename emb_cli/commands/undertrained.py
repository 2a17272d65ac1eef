"""emb undertrained: rank the rows that look never (or barely) trained."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import JsonOpt, TsvOpt, finish, parse_ids, with_source

if TYPE_CHECKING:
    from emb_cli.sources.base import TableSource


@with_source
def undertrained(
    top: Annotated[int, typer.Option("--top", help="Candidates to list.")] = 20,
    reference: Annotated[
        list[str] | None,
        typer.Option("--reference", help="Ids of known-unused rows for the cosine indicator."),
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when any row is flagged.")] = False,
    json_: JsonOpt = False,
    tsv: TsvOpt = False,
    *,
    source: TableSource,
) -> None:
    """Find tokens whose rows were never trained: zero rows, low norms, Magikarp cosine.

    Example: emb undertrained --from ./Meta-Llama-3-8B --top 30
    """
    from emb_cli.analysis.undertrained import undertrained_rows
    from emb_cli.render.output import emit
    from emb_cli.render.undertrained import render_undertrained, tsv_undertrained

    ref = parse_ids(reference) if reference is not None else None
    report = undertrained_rows(source, top=top, reference=ref).report
    emit(report, json_, tsv, human=render_undertrained, tsv_rows=tsv_undertrained)
    if check:
        finish(report.flagged == 0)
