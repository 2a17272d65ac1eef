"""`emb lookup`: the rows as torch prints them, shortened past 1000 values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emb_cli.analysis.lookup import lookup_batch, lookup_rows
from emb_cli.render.lookup import render_batch, render_lookup


def test_lookup_shows_each_row_with_its_norm(
    screen: Any, open_table: Any, arange_file: Path
) -> None:
    screen.show(render_lookup, lookup_rows(open_table(from_=arange_file), [3, 0]), False)
    lines = screen.lines()
    assert "model.embed_tokens.weight: 8 x 4 float32, pad none, tie unknown" in screen.flat()
    assert "shape (1, 2, 4)  = embed(torch.tensor([[3, 0]])).shape" in lines
    assert "[12.0000, 13.0000, 14.0000, 15.0000]" in screen.getvalue()
    row = next(line for line in lines if "12.0000" in line).split()
    assert row[:3] == ["0", "│", "3"] and "27.0924" in row  # pos, id, norm of row 3


def test_lookup_shortens_long_output_unless_full(screen: Any, open_table: Any) -> None:
    ids = list(range(200))  # 200 x 8 values: past torch's 1000
    report = lookup_rows(open_table(), ids)
    text = screen.show(render_lookup, report, False)
    # the ids in the shape line are shortened either way; the vectors only without --full
    assert "embed(torch.tensor([[0, 1, 2, 3, 4, 5, ..., 197, 198, 199]]))" in text
    assert "vector (--full for all)" in text and text.count(", ..., ") == 1 + 200
    full = type(screen)().show(render_lookup, report, True)
    assert "--full for all" not in full and full.count(", ..., ") == 1


def test_batch_marks_the_padded_positions(screen: Any, open_table: Any) -> None:
    screen.show(render_batch, lookup_batch(open_table(), [[73, 786], [5]]), False)
    text = screen.getvalue()
    assert "input_ids [[73, 786], [5, 0]]  (lengths [2, 1], padded with 0)" in text
    assert "shape (2, 2, 8)  = embed(input_ids).shape" in text
    assert "0 (pad)" in text
    assert "padded positions 1: all exactly zero vectors (the pad row is zero)" in text
