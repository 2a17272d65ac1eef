"""`emb init-stats`: measured beside expected, the histograms, the verdict."""

from __future__ import annotations

from typing import Any

from emb_cli.analysis.init_stats import init_stats
from emb_cli.render.init_stats import render_init_stats


def test_init_stats_compares_with_the_init(screen: Any, open_table: Any) -> None:
    screen.show(render_init_stats, init_stats(open_table()))
    text = screen.getvalue()
    assert "23,992 values in 3,000 rows; pad row [0] left out" in text
    assert "compared with the init that built it: N(0, 0.02)" in text
    header = next(line for line in screen.lines() if "statistic" in line)
    assert ["measured", "expected", "z (std errors)"] == [
        h for h in ("measured", "expected", "z (std errors)") if h in header
    ]
    assert "│ row_norm_mean " in text and "KS D (sampled)" in text
    assert "values (23,992 sampled)" in text and "█" in text  # the histograms
    assert "zero rows: 1 [0]" in text
    assert "verdict: consistent-with-init: consistent with N(0, 0.02)" in screen.flat()


def test_init_stats_without_histograms(screen: Any, open_table: Any) -> None:
    screen.show(render_init_stats, init_stats(open_table()), histograms=False)
    text = screen.getvalue()
    assert "█" not in text and "values (" not in text
    assert "row norms: p1 " in text  # the percentiles stay
