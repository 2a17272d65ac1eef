"""emb undertrained: rank the rows that look never (or barely) trained."""

from __future__ import annotations

from typing import Annotated

import typer

from emb_cli.options import (
    JsonOpt,
    TsvOpt,
    check_tsv,
    finish,
    open_source,
    parse_ids,
    with_source,
)
from emb_cli.sources.resolve import SourceArgs  # with_source reads the annotation at runtime


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
    src: SourceArgs,
) -> None:
    """Find tokens whose rows were never trained: zero rows, low norms, Magikarp cosine.

    Example: emb undertrained --from ./Meta-Llama-3-8B --top 30
    """
    from emb_cli.analysis.undertrained import find_undertrained

    check_tsv(json_, tsv)
    ref = parse_ids(reference) if reference is not None else None
    report = find_undertrained(open_source(src), top=top, reference=ref)
    from emb_cli.render.console import print_json
    from emb_cli.render.undertrained import render_undertrained, tsv_undertrained

    if json_:
        print_json(report)
    else:
        tsv_undertrained(report) if tsv else render_undertrained(report)
    if check:
        finish(report.flagged == 0)
