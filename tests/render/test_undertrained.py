"""`emb undertrained`: the evidence lines, the two candidate tables, the flagged count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emb_cli.analysis.undertrained import undertrained_rows
from emb_cli.render.undertrained import render_undertrained


def test_undertrained_shows_both_lists_and_flags(
    screen: Any, open_table: Any, minilm_dir: Path
) -> None:
    report = undertrained_rows(open_table(from_=minilm_dir), top=3, reference=None).report
    screen.show(render_undertrained, report)
    text, flat = screen.getvalue(), screen.flat()
    assert "30,522 rows, tokenizer 30,522 tokens; row norms: median" in text
    assert "declared unused: 994 [1, 2, 3," in text
    assert "rows outside the reference set" in text and "rows inside the reference set" in text
    header = next(line for line in screen.lines() if "robust z" in line)
    assert [h.strip() for h in header.split("┃")[1:-1]] == [
        "rank", "id", "token", "score", "cosine", "norm", "pct", "robust z", "flags",
    ]  # fmt: skip
    inside = report.reference_candidates[0]
    row = next(line for line in screen.lines() if f" {inside.id} " in line and "[unused" in line)
    assert "unused unreachable" in row  # the flags, as words
    assert f"flagged: {report.flagged:,} rows (zero, past the tokenizer, or score >= 0.75)" in flat
    assert max(map(len, screen.lines())) <= 100  # the tables fit the terminal
