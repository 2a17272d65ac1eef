"""emb info: a checkpoint's embedding tensors, config and tokenizer facts."""

from __future__ import annotations

from typing import Annotated

import typer

from emb_cli.options import (
    JsonOpt,
    PathVerboseOpt,
    TensorOpt,
    TsvOpt,
    fetch_report,
    source_path_help,
)


def info(
    path: Annotated[str, typer.Argument(help=source_path_help())],
    tensor: TensorOpt = None,
    json_: JsonOpt = False,
    tsv: TsvOpt = False,
    verbose: PathVerboseOpt = False,
    no_siblings: Annotated[
        bool,
        typer.Option(
            "--no-siblings",
            help="A weights file: read it alone, not the config.json, generation_config.json "
            "and tokenizer files beside it.",
        ),
    ] = False,
) -> None:
    """List a checkpoint's embedding tensors, config and tokenizer facts (headers only).

    Example: emb info ./Llama-3-8B
    """
    from emb_cli.analysis.info import checkpoint_info
    from emb_cli.render.info import render_info, tsv_info
    from emb_cli.render.output import emit
    from emb_cli.sources.resolve import open_checkpoint_source

    with fetch_report(verbose, path):
        report = checkpoint_info(
            open_checkpoint_source(path, tensor, tokenizer_only=True, siblings=not no_siblings)
        )
    emit(report, json_, tsv, human=render_info, tsv_rows=tsv_info)
