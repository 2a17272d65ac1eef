"""emb stats: parameters and memory, by arithmetic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emb_cli.options import JsonOpt, with_source

if TYPE_CHECKING:
    from emb_cli.sources.base import TableSource


@with_source
def stats(json_: JsonOpt = False, *, source: TableSource) -> None:
    """Count parameters and memory (arithmetic: nothing is allocated).

    Example: emb stats --vocab 100352 --dim 4096
    """
    from emb_cli.analysis.counting import count
    from emb_cli.analysis.ties import has_lm_head
    from emb_cli.render.output import emit
    from emb_cli.render.stats import render_count

    emit(count(source.info, has_lm_head(source)), json_, human=render_count)
