"""emb diff: compare two embedding tables, or a checkpoint against a fresh init."""

from __future__ import annotations

from typing import Annotated

import typer

from emb_cli.options import JsonOpt, PathVerboseOpt, TsvOpt, fetch_report, finish


def diff(
    # str, not Path: a Path turns https:// into https:/
    a: Annotated[
        str,
        typer.Argument(
            help="First checkpoint (before): a file or model directory.", show_default=False
        ),
    ],
    b: Annotated[
        str | None, typer.Argument(help="Second checkpoint (after).", show_default=False)
    ] = None,
    init: Annotated[
        bool,
        typer.Option("--init", help="Compare A against a fresh init built from its config.json."),
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", help="torch.manual_seed for --init (default 42).")
    ] = None,
    tensor_a: Annotated[
        str | None,
        typer.Option("--tensor-a", help="Tensor name in A (default: found by name)."),
    ] = None,
    tensor_b: Annotated[
        str | None,
        typer.Option("--tensor-b", help="Tensor name in B (default: found by name)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="How many most-changed ids to list.")] = 10,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when the tables differ.")] = False,
    json_: JsonOpt = False,
    tsv: TsvOpt = False,
    verbose: PathVerboseOpt = False,
) -> None:
    """Compare two embedding tables row by row: shape, dtype, changed rows, most changed ids.

    Example: emb diff ./base/model.safetensors ./finetuned/model.safetensors
    """
    from emb_cli.analysis.common import check_top
    from emb_cli.analysis.diff import INIT_NOTE, check_diff_args, diff_tables
    from emb_cli.render.diff import render_diff, tsv_diff
    from emb_cli.render.output import emit
    from emb_cli.sources.resolve import open_checkpoint_source, open_init_twin

    check_top(k)
    check_diff_args(b is not None, init, tensor_b is not None, seed is not None)
    with fetch_report(verbose, a, b):
        src_a = open_checkpoint_source(a, tensor_a)
        if b is not None:
            report = diff_tables(src_a, open_checkpoint_source(b, tensor_b), k)
        else:
            # the init is the "before" side, the checkpoint the "after"
            report = diff_tables(open_init_twin(src_a, a, seed), src_a, k, notes=[INIT_NOTE])
    emit(report, json_, tsv, human=render_diff, tsv_rows=tsv_diff)
    if check:
        finish(not report.differ)
