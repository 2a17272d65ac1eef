"""emb neighbors: nearest tokens to an id, a text, or king - man + woman."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import JsonOpt, TsvOpt, parse_ids, with_source

if TYPE_CHECKING:
    from emb_cli.sources.base import TableSource


class Metric(StrEnum):
    cosine = "cosine"
    dot = "dot"
    l2 = "l2"


@with_source
def neighbors(
    ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="Token ids (space or comma separated); their mean is the query.",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option("--text", help="Text to tokenise; the mean of its tokens' rows is the query."),
    ] = None,
    each: Annotated[
        bool,
        typer.Option("--each", help="One query per token of IDS/--text instead of their mean."),
    ] = False,
    positive: Annotated[
        list[str] | None,
        typer.Option("--positive", "-p", help="A word added to the query (mean of its tokens)."),
    ] = None,
    negative: Annotated[
        list[str] | None,
        typer.Option("--negative", "-n", help="A word subtracted from the query."),
    ] = None,
    positive_id: Annotated[
        list[str] | None,
        typer.Option("--positive-id", help="Token id(s) added to the query, one term each."),
    ] = None,
    negative_id: Annotated[
        list[str] | None,
        typer.Option("--negative-id", help="Token id(s) subtracted from the query."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="How many neighbours.")] = 10,
    metric: Annotated[
        Metric, typer.Option("--metric", help="cosine (default), dot, or l2 distance.")
    ] = Metric.cosine,
    include_query: Annotated[
        bool,
        typer.Option("--include-query", help="Keep the query's own tokens in the results."),
    ] = False,
    json_: JsonOpt = False,
    tsv: TsvOpt = False,
    *,
    source: TableSource,
) -> None:
    """Find the nearest tokens to an id, a text, or an arithmetic of words.

    Example: emb neighbors --from ./model --positive king --positive woman --negative man
    """
    from emb_cli.analysis.common import check_top
    from emb_cli.analysis.lookup import encode_text
    from emb_cli.analysis.neighbors import build_queries, nearest
    from emb_cli.render.neighbors import render_neighbors, tsv_neighbors
    from emb_cli.render.output import emit

    check_top(k)
    seq = parse_ids(ids)
    if text is not None:
        seq += encode_text(source, text, False)
    queries = build_queries(
        source,
        seq,
        text,
        (positive or [], negative or []),
        (parse_ids(positive_id), parse_ids(negative_id)),
        each,
        ids_given=bool(ids),
    )
    report = nearest(source, queries, metric.value, k, exclude_query=not include_query)
    emit(report, json_, tsv, human=render_neighbors, tsv_rows=tsv_neighbors)
