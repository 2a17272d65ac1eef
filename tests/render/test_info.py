"""`emb info`: the embedding tensors, whole names even in a narrow terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emb_cli.analysis.info import checkpoint_info
from emb_cli.render.info import render_info
from emb_cli.sources.resolve import open_checkpoint_source


def test_info_lists_tensors_and_marks_the_embedding(screen: Any, minilm_dir: Path) -> None:
    source = open_checkpoint_source(str(minilm_dir), tokenizer_only=True)
    screen.show(render_info, checkpoint_info(source))
    text, flat = screen.getvalue(), screen.flat()
    assert "104 tensors, 3 embedding-related listed" in flat
    # wider than the terminal: printed whole at its least width, the terminal wraps it
    for name in (
        "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",
    ):
        assert name in text
    row = next(line for line in screen.lines() if "word_embeddings.weight *" in line)
    assert "input_embedding" in row and "[30522, 384]" in row and "46,881,792" in row
    assert "* input embedding: embeddings.word_embeddings.weight" in text
    assert "table: 30,522 rows x 384; tokenizer: 30,522 tokens" in text
    assert "pad token: 0 (from config); config=0, tokenizer=0" in text
    assert "tie: config tied (default for model_type 'bert'); head stored: no" in text
