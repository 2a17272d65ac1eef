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
        Path | None,
        typer.Option(
            "--file",
            help="Read the text from a UTF-8 file or pipe, in blocks (any size; a GGUF "
            "tokenizer keeps memory bounded).",
        ),
    ] = None,
    special: Annotated[
        bool,
        typer.Option("--special/--no-special", help="Add the tokenizer's special tokens."),
    ] = False,
    count: Annotated[
        bool, typer.Option("--count", help="Print only the number of tokens.")
    ] = False,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Build a GGUF tokenizer afresh: neither read nor write emb's tokenizer cache.",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Turn text into token ids with the checkpoint's tokenizer (tokenizer.json or GGUF).

    Example: emb tokenize --from ./ggml-vocab-llama-spm.gguf "Hello world"
    """
    from emb_cli.analysis.text_input import check_text
    from emb_cli.analysis.tokenize import TokenCountReport, TokenizeReport, tokenize_file
    from emb_cli.analysis.tokenize import tokenize as run
    from emb_cli.errors import UsageError
    from emb_cli.render.output import emit
    from emb_cli.render.tokenize import render_count, render_tokenize
    from emb_cli.sources.files.text_stream import open_text_file
    from emb_cli.sources.gguf import tokenizer_cache
    from emb_cli.sources.resolve import open_checkpoint_source

    if from_ is None:
        raise UsageError("tokenize needs --from PATH: a checkpoint with a tokenizer")
    if (text is None) == (file is None):
        raise UsageError("pass the text as an argument or with --file FILE (one of them)")
    if text is not None:
        check_text(text)
    text_file = open_text_file(file) if file is not None else None
    with tokenizer_cache.switched(not no_cache):
        source = open_checkpoint_source(from_, tokenizer_only=True)
        if text_file is not None:
            report = tokenize_file(source, text_file, special, count)
        else:
            assert text is not None
            report = run(source, text, special)
    if count:
        counted = TokenCountReport(report.source, report.text_chars, special, report.count)
        emit(counted, json_, human=lambda r: render_count(r.count))
        return
    assert isinstance(report, TokenizeReport)
    emit(report, json_, human=render_tokenize)
