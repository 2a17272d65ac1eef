"""emb presets: the shipped configs."""

from __future__ import annotations

from emb_cli.options import JsonOpt, TsvOpt


def presets(json_: JsonOpt = False, tsv: TsvOpt = False) -> None:
    """List the presets shipped in configs/, with their sizes.

    Example: emb presets
    """
    from emb_cli.analysis.presets import list_presets
    from emb_cli.render.output import emit
    from emb_cli.render.presets import render_presets, tsv_presets

    emit(list_presets(), json_, tsv, human=render_presets, tsv_rows=tsv_presets)
