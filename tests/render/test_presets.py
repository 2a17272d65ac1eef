"""`emb presets`: a preset a row, sizes with thousands separators."""

from __future__ import annotations

from typing import Any

from emb_cli.analysis.presets import list_presets
from emb_cli.render.presets import render_presets


def test_presets_one_row_each(screen: Any) -> None:
    report = list_presets()
    screen.show(render_presets, report)
    rows = {
        cells[0]: cells[1:]
        for line in screen.lines()
        if (cells := [c.strip() for c in line.split("│")[1:-1]])
    }
    assert set(rows) == {p.name for p in report.presets}
    assert rows["bert-base-uncased"] == ["30,522", "768", "0", "tied", "float32", "23,440,896"]
    assert rows["gpt2"][2] == "none"  # no pad token
    assert max(map(len, screen.lines())) <= 100
