"""`emb resize`: what resize_token_embeddings does, and where the new rows come from."""

from __future__ import annotations

from typing import Any

from emb_cli.analysis.resize import plan_resize
from emb_cli.render.resize import render_resize


def test_resize_grow_with_mean_resizing(screen: Any, open_table: Any) -> None:
    screen.show(render_resize, plan_resize(open_table(), 3100, None, True, None))
    text, lines = screen.getvalue(), screen.lines()
    assert "resize_token_embeddings(3,100) -> 3,100 rows (grow: +100 / -0 from 3,000)" in lines
    plans = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if "rows" not in line]
    assert ["(built)", "embedding", "3,000", "3,100", "100", "0", "stored"] in plans
    assert ["(not stored)", "head", "3,000", "3,100", "100", "0", "-"] in plans
    assert "params 48,000 -> 49,600 (+1,600)" in text
    assert "new rows (mean resizing): N(mean of old rows, 1e-9 x their covariance)" in text
    for label in ("|mean|", "trace cov", "positive definite", "E new-row norm"):
        assert f"│ {label} " in text
    assert "instead, --no-mean-resizing: N(0, 0.02) (config initializer_range)" in text


def test_resize_without_mean_resizing_or_new_rows(screen: Any, open_table: Any) -> None:
    text = screen.show(render_resize, plan_resize(open_table(), 3100, None, False, None))
    assert "new rows (mean resizing)" not in text and "old rows ->" not in text
    assert "\n--no-mean-resizing: N(0, 0.02)" in text
    shrink = type(screen)().show(render_resize, plan_resize(open_table(), 2900, None, True, None))
    assert "(shrink: +0 / -100 from 3,000)" in shrink
    assert "mean-resizing" not in shrink  # no new rows, nothing to draw
