"""emb presets: the shipped configs."""

from __future__ import annotations

from emb_cli.options import JsonOpt, TsvOpt, check_tsv


def presets(json_: JsonOpt = False, tsv: TsvOpt = False) -> None:
    """List the presets shipped in configs/, with their sizes.

    Example: emb presets
    """
    from emb_cli.analysis.presets import list_presets
    from emb_cli.render.console import print_json
    from emb_cli.render.presets import render_presets, tsv_presets

    check_tsv(json_, tsv)
    report = list_presets()
    print_json(report) if json_ else tsv_presets(report) if tsv else render_presets(report)
