"""emb stats: parameters and memory, by arithmetic."""

from __future__ import annotations

from emb_cli.options import JsonOpt, open_source, with_source
from emb_cli.sources.resolve import SourceArgs  # with_source reads the annotation at runtime


@with_source
def stats(json_: JsonOpt = False, *, src: SourceArgs) -> None:
    """Count parameters and memory (arithmetic: nothing is allocated).

    Example: emb stats --vocab 100352 --dim 4096
    """
    from emb_cli.analysis.counting import count
    from emb_cli.analysis.ties import has_lm_head
    from emb_cli.render.output import emit
    from emb_cli.render.stats import render_count
    from emb_cli.sources.resolve import resolve_spec

    if src.from_ is None:
        resolve_spec(src)  # validate sizes without building anything
    source = open_source(src)
    report = count(source.info, has_lm_head(source))
    emit(report, json_, human=render_count)
