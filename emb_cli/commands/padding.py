"""emb padding: the pad row, and its gradient in a real backward pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import JsonOpt, finish, parse_ids, with_source

if TYPE_CHECKING:
    from emb_cli.sources.base import TableSource


@with_source
def padding(
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="Ids for the gradient batch (built tables).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a checkpoint's pad row is not zero.")
    ] = False,
    no_padding_idx: Annotated[
        bool, typer.Option("--no-padding-idx", help="Also run the pass without padding_idx.")
    ] = False,
    json_: JsonOpt = False,
    *,
    source: TableSource,
) -> None:
    """Check the pad row: exactly zero, and (built tables) zero gradient in a real backward pass.

    Example: emb padding --preset bert-base-uncased
    """
    from emb_cli.analysis.padding import check_padding
    from emb_cli.render.output import emit
    from emb_cli.render.padding import render_padding

    report = check_padding(
        source, parse_ids(ids), strict=strict, without_padding_idx=no_padding_idx
    )
    emit(report, json_, human=render_padding)
    finish(report.ok)
