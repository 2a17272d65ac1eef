"""emb lookup: the rows for token ids, as nn.Embedding's forward returns them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import JsonOpt, TsvOpt, parse_ids, with_source

if TYPE_CHECKING:
    from emb_cli.sources.base import TableSource


@with_source
def lookup(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Token ids (space or comma separated).", show_default=False),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option("--text", help="Text to tokenise with the checkpoint's tokenizer.json."),
    ] = None,
    extra_ids: Annotated[
        list[str] | None, typer.Option("--ids", help="More ids, appended after --text.")
    ] = None,
    special: Annotated[
        bool,
        typer.Option(
            "--special/--no-special", help="Add the tokenizer's special tokens to --text."
        ),
    ] = False,
    batch: Annotated[
        list[str] | None,
        typer.Option(
            "--batch", help="One sequence of ids (repeat for a batch); ragged ones are padded."
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Show every value (default: shortened like torch).")
    ] = False,
    json_: JsonOpt = False,
    tsv: TsvOpt = False,
    *,
    source: TableSource,
) -> None:
    """Show the rows for token ids, as nn.Embedding's forward returns them (1, T, D).

    Example: emb lookup 73 786 2934   (or --batch 73,786,2934 --batch 5,6 for (B, T, D))
    """
    from emb_cli.analysis.lookup import encode_text, lookup_batch, lookup_rows
    from emb_cli.errors import UsageError
    from emb_cli.render.lookup import render_batch, render_lookup, tsv_batch, tsv_lookup
    from emb_cli.render.output import emit

    token_ids = parse_ids(ids)
    if text is not None:
        token_ids += encode_text(source, text, special)
    token_ids += parse_ids(extra_ids)
    if batch:
        if token_ids:
            raise UsageError(
                "pass ids either as arguments/--text/--ids or as --batch sequences, not both"
            )
        result = lookup_batch(source, [parse_ids([seq]) for seq in batch])
        emit(result, json_, tsv, human=lambda r: render_batch(r, full), tsv_rows=tsv_batch)
        return
    report = lookup_rows(source, token_ids)
    emit(report, json_, tsv, human=lambda r: render_lookup(r, full), tsv_rows=tsv_lookup)
