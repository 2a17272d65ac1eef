"""emb tokenize: text to ids with a checkpoint's own tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emb_cli.options import JsonOpt, source_path_help


def tokenize(
    text: Annotated[
        str | None, typer.Argument(help="Text to tokenise (or --file).", show_default=False)
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help=source_path_help(), show_default=False)
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read the text from a UTF-8 file.")
    ] = None,
    special: Annotated[
        bool,
        typer.Option("--special/--no-special", help="Add the tokenizer's special tokens."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Turn text into token ids with the checkpoint's tokenizer (tokenizer.json or GGUF).

    Example: emb tokenize --from ./ggml-vocab-llama-spm.gguf "Hello world"
    """
    from emb_cli.analysis.tokenize import tokenize as run
    from emb_cli.errors import UsageError
    from emb_cli.render.output import emit
    from emb_cli.render.tokenize import render_tokenize
    from emb_cli.sources.resolve import open_checkpoint_source, read_text_file

    if from_ is None:
        raise UsageError("tokenize needs --from PATH: a checkpoint with a tokenizer")
    if (text is None) == (file is None):
        raise UsageError("pass the text as an argument or with --file FILE (one of them)")
    if file is not None:
        text = read_text_file(file)
    assert text is not None
    report = run(open_checkpoint_source(from_, tokenizer_only=True), text, special)
    emit(report, json_, human=render_tokenize)
