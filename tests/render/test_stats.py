"""`emb stats`: sizes whole, however narrow the terminal."""

from __future__ import annotations

from typing import Any

from emb_cli.analysis.counting import count
from emb_cli.analysis.ties import has_lm_head
from emb_cli.render.stats import render_count


def test_stats_shows_params_bytes_and_the_head(screen: Any, open_table: Any) -> None:
    source = open_table(vocab_size=100352, embed_dim=4096)
    screen.show(render_count, count(source.info, has_lm_head(source)))
    text = screen.getvalue()
    assert text.startswith("flags: 100,352 x 4,096 float32, pad 0 (default), untied")
    assert "params  100,352 x 4,096 = 411,041,792" in text
    assert "│ float32  │ 1,644,167,168 │" in text
    assert "this model: untied: head stored separately -> 822,083,584 params stored" in text
    # 16 bytes/param for both AdamW recipes, never cut to fit the 100 columns
    assert text.count("13,153,337,344") == 2 and "…" not in text


def test_stats_of_an_encoder_says_it_has_no_head(
    screen: Any, minilm_dir: Any, open_table: Any
) -> None:
    source = open_table(from_=minilm_dir)
    screen.show(render_count, count(source.info, has_lm_head(source)))
    assert "this model: no LM head (a base model) -> 11,720,448 params stored" in screen.flat()
