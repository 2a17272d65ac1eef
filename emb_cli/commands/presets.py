"""emb presets: the shipped configs."""

from __future__ import annotations

from emb_cli.options import JsonOpt


def presets(json_: JsonOpt = False) -> None:
    """List the presets shipped in configs/, with their sizes.

    Example: emb presets
    """
    from emb_cli.analysis.presets import list_presets
    from emb_cli.render.console import print_json
    from emb_cli.render.presets import render_presets

    report = list_presets()
    print_json(report) if json_ else render_presets(report)
