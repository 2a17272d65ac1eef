"""`emb tokenize`: a count line, then a token a row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emb_cli.analysis.tokenize import tokenize
from emb_cli.render.tokenize import render_tokenize
from emb_cli.sources.resolve import open_checkpoint_source


def test_tokenize_shows_ids_and_tokens_in_order(screen: Any, minilm_dir: Path) -> None:
    source = open_checkpoint_source(str(minilm_dir), tokenizer_only=True)
    screen.show(render_tokenize, tokenize(source, "Hello world", False))
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in screen.lines() if "│" in line]
    assert rows == [["0", "7592", "'hello'"], ["1", "2088", "'world'"]]
    assert "2 tokens from 11 characters" in screen.flat()
