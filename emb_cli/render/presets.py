"""Human output of `emb presets`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from emb_cli.analysis.presets import PresetRow
from emb_cli.render.console import out
from emb_cli.render.output import Tsv, cells, columns

if TYPE_CHECKING:
    from emb_cli.analysis.presets import PresetsReport


def render_presets(r: PresetsReport) -> None:
    t = Table()
    for col in ("name", "vocab", "dim", "pad", "tie", "dtype", "embedding params"):
        t.add_column(
            col, justify="right" if col in ("vocab", "dim", "embedding params") else "left"
        )
    for p in r.presets:
        t.add_row(
            p.name,
            f"{p.vocab_size:,}",
            f"{p.embed_dim:,}",
            "none" if p.pad_token_id is None else str(p.pad_token_id),
            "tied" if p.tied else "untied",
            p.dtype,
            f"{p.params:,}",
        )
    out().print(t)


def tsv_presets(r: PresetsReport) -> Tsv:
    """One preset a line, the JSON fields in order; pad empty when there is none."""
    cols = columns(PresetRow)
    return Tsv(cols, [cells(p, cols) for p in r.presets])
