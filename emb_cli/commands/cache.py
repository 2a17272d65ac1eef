"""emb cache: the models in the local Hugging Face cache that hold an embedding table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emb_cli.options import JsonOpt


def register(app: typer.Typer) -> None:
    @app.command()
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
        json_: JsonOpt = False,
    ) -> None:
        """List the cached Hugging Face models that hold an embedding table (headers only).

        Example: emb cache   (then: emb lookup 5 --from ORG/NAME reads the cached copy)
        """
        from emb_cli.analysis.cached_models import cache_models

        report = cache_models(cache_dir)
        from emb_cli import render

        if json_:
            render.print_json(report)
        else:
            from emb_cli.render_cache import render_cache

            render_cache(report)
