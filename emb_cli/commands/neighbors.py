"""emb neighbors: nearest tokens to an id, a text, or king - man + woman."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from emb_cli.options import JsonOpt, open_source, parse_ids, with_source

# already loaded by emb_cli.options; the name is needed at runtime by with_source's signature
from emb_cli.sources.resolve import SourceArgs


class Metric(StrEnum):
    cosine = "cosine"
    dot = "dot"
    l2 = "l2"


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"ignore_unknown_options": True})
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
            typer.Option(
                "--text", help="Text to tokenise; the mean of its tokens' rows is the query."
            ),
        ] = None,
        each: Annotated[
            bool,
            typer.Option("--each", help="One query per token of IDS/--text instead of their mean."),
        ] = False,
        positive: Annotated[
            list[str] | None,
            typer.Option(
                "--positive", "-p", help="A word added to the query (mean of its tokens)."
            ),
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
        *,
        src: SourceArgs,
    ) -> None:
        """Find the nearest tokens to an id, a text, or an arithmetic of words.

        Example: emb neighbors --from ./model --positive king --positive woman --negative man
        """
        from emb_cli.analysis.lookup import encode_text
        from emb_cli.analysis.neighbors import Term, nearest
        from emb_cli.errors import UsageError

        if k < 1:
            raise UsageError(f"-k must be at least 1, got {k}")
        source = open_source(src)
        seq = parse_ids(ids)
        if text is not None:
            seq += encode_text(source, text, False)
        arithmetic: list[Any] = []
        for sign, words in ((1, positive), (-1, negative)):
            for w in words or []:
                arithmetic.append(Term(sign, encode_text(source, w, False), w))
        for sign, raw in ((1, positive_id), (-1, negative_id)):
            arithmetic += [Term(sign, [i]) for i in parse_ids(raw)]
        if each:
            if arithmetic:
                raise UsageError("--each takes IDS or --text alone, not --positive/--negative")
            if not seq:
                raise UsageError("--each needs token ids or --text")
            queries = [[Term(1, [i])] for i in seq]
        else:
            label = text if text is not None and not ids else None
            queries = [([Term(1, seq, label)] if seq else []) + arithmetic]
        report = nearest(source, queries, metric.value, k, exclude_query=not include_query)
        from emb_cli import render

        render.print_json(report) if json_ else render.render_neighbors(report)
