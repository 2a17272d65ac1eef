"""emb cache: the models in the local Hugging Face cache that hold an embedding table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emb_cli.options import JsonOpt


def cache(
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="The cache to list (default: $HF_HUB_CACHE, else $HF_HOME/hub, as "
            "huggingface_hub finds it).",
            show_default=False,
        ),
    ] = None,
    clear_tokenizers: Annotated[
        bool,
        typer.Option(
            "--clear-tokenizers",
            help="Empty emb's cache of built GGUF tokenizers ($XDG_CACHE_HOME/emb/tokenizers) "
            "and say how many entries went.",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """List the cached Hugging Face models that hold an embedding table (headers only).

    Example: emb cache   (then: emb lookup 5 --from ORG/NAME reads the cached copy)
    """
    from emb_cli.analysis.cached_models import cache_models
    from emb_cli.render.cache import render_cache, render_tokenizer_cache
    from emb_cli.render.output import emit
    from emb_cli.sources.gguf import tokenizer_cache

    if clear_tokenizers:
        gone = tokenizer_cache.clear()
        emit(gone, json_, human=lambda g: render_tokenizer_cache(g, cleared=True))
        return
    emit(cache_models(cache_dir), json_, human=render_cache)
    if not json_:
        render_tokenizer_cache(tokenizer_cache.summary(), cleared=False)
