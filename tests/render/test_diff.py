"""`emb diff`: shape and dtype, what changed, the most-changed rows, the verdict."""

from __future__ import annotations

from typing import Any

from emb_cli.analysis.diff import diff_tables
from emb_cli.render.diff import render_diff


def test_diff_of_two_seeds(screen: Any, open_table: Any) -> None:
    screen.show(render_diff, diff_tables(open_table(), open_table(seed=7), 2))
    lines, flat = screen.lines(), screen.flat()
    assert lines[0].startswith("a: default: 3,000 x 8 float32") and lines[0].endswith("seed 42")
    assert lines[1].startswith("b: default: 3,000 x 8 float32") and lines[1].endswith("seed 7")
    assert "shape [3000, 8] -> [3000, 8]" in lines and "dtype float32 -> float32" in lines
    assert "rows changed: 2,999 of 3,000 (23,992 values)" in flat  # the pad row stays zero
    assert "most changed by L2" in flat and "most changed by cosine" in flat
    assert lines[-1] == "verdict: differ"


def test_diff_of_a_table_with_itself(screen: Any, open_table: Any) -> None:
    screen.show(render_diff, diff_tables(open_table(), open_table(), 2))
    text = screen.getvalue()
    assert "rows changed: 0 of 3,000" in text
    assert "most changed" not in text
    assert screen.lines()[-1] == "verdict: identical"
