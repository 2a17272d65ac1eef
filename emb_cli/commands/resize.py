"""emb resize: simulate transformers' resize_token_embeddings, and optionally write the result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import JsonOpt, open_source, with_source

if TYPE_CHECKING:
    from emb_cli.sources.resolve import SourceArgs


@with_source
def resize(
    new_num_tokens: Annotated[
        int, typer.Argument(help="new_num_tokens, as passed to resize_token_embeddings.")
    ],
    pad_to_multiple_of: Annotated[
        int | None,
        typer.Option("--pad-to-multiple-of", help="Round the new size up to a multiple of N."),
    ] = None,
    mean_resizing: Annotated[
        bool,
        typer.Option(
            "--mean-resizing/--no-mean-resizing",
            help="New rows from N(old mean, 1e-9 cov), transformers' default; "
            "or N(0, initializer_range).",
        ),
    ] = True,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write", help="Write the resized table (and untied head) to a NEW .safetensors."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Let --write replace an existing file.")
    ] = False,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Predict what model.resize_token_embeddings(N) does to this table; --write does it.

    --seed N: torch.manual_seed(N) just before the resize (default 0; also the build seed).

    Example: emb resize 32064 --pad-to-multiple-of 64 --from ./tiny-llama
    """
    from emb_cli.analysis.resize import (
        WriteResult,
        input_files,
        plan_resize,
        resized_tensors,
        validate,
    )
    from emb_cli.render.output import emit
    from emb_cli.render.resize import render_resize
    from emb_cli.sources.files.output import check_output, save_tensors
    from emb_cli.sources.resolve import resize_args

    validate(new_num_tokens, pad_to_multiple_of)
    src, seed = resize_args(src)
    source = open_source(src)
    written = None
    if write is not None:
        inputs = input_files(source)
        check_output(write, inputs, force)
        tensors, parts = resized_tensors(
            source, new_num_tokens, pad_to_multiple_of, mean_resizing, seed
        )
        save_tensors(write, tensors, force, inputs)
        written = WriteResult(path=str(write), seed=seed, tensors=parts)
    report = plan_resize(source, new_num_tokens, pad_to_multiple_of, mean_resizing, written)
    emit(report, json_, human=render_resize)
