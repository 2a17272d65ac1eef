"""`emb padding`: the pad row, the gradient table, the verdict."""

from __future__ import annotations

from typing import Any

from emb_cli.analysis.padding import check_padding
from emb_cli.render.padding import render_padding


def test_padding_shows_the_gradient_rows_and_verdict(screen: Any, open_table: Any) -> None:
    screen.show(render_padding, check_padding(open_table(), [], without_padding_idx=True))
    text, flat = screen.getvalue(), screen.flat()
    assert "pad row 0: norm 0, max |x| 0" in text
    assert "gradient rows with padding_idx" in text
    assert "gradient rows with no padding_idx" in text  # the second pass, asked for
    assert "times in batch" in text and "grad norm" in text
    assert "padded positions of the output exactly zero: True" in text
    assert flat.endswith("get gradient")
    assert "verdict: zero-and-frozen: pad row 0 is exactly zero" in flat


def test_padding_without_a_pad_token(screen: Any, open_table: Any) -> None:
    screen.show(render_padding, check_padding(open_table(pad="none"), []))
    text = screen.getvalue()
    assert "pad 0" not in text and "pad none" in text
    assert "gradient rows" not in text
    assert "verdict: no-pad-token: no pad token" in screen.flat()
