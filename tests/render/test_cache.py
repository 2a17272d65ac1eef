"""`emb cache`: a cached revision a row; what was skipped goes to stderr."""

from __future__ import annotations

from typing import Any

import pytest

from emb_cli.analysis.cached_models import CacheEntry, CacheReport, CacheSkip
from emb_cli.render.cache import fmt_size, render_cache

ENTRY = CacheEntry(
    repo_id="sentence-transformers/all-MiniLM-L6-v2",
    revision="main",
    commit="c9745ed",
    path="/cache/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/c9745ed",
    tensor="embeddings.word_embeddings.weight",
    vocab_size=30522,
    embed_dim=384,
    dtype="float32",
    tied=True,
    tied_source="config",
    has_lm_head=None,
    size_on_disk=90_868_376,
)


def test_cache_lists_models_and_notes_the_skipped(screen: Any) -> None:
    skipped = [CacheSkip(repo_id="gpt2", commit="607a30d", reason="PyTorch .bin only")]
    screen.show(render_cache, CacheReport("/cache", [ENTRY], skipped))
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in screen.lines() if "│" in line]
    assert rows == [
        [
            "sentence-transformers/all-MiniLM-L6-v2",
            "main",
            "30,522 x 384",
            "float32",
            "tied",
            "90.9M",
        ]
    ]
    assert screen.lines()[-1] == "1 tables in /cache"
    assert "note: 1 cached revision without a table emb lists" in screen.err.getvalue()


def test_an_empty_cache_says_so(screen: Any) -> None:
    text = screen.show(render_cache, CacheReport("/cache", []))
    assert text == "no cached model with an embedding table in /cache\n"
    assert screen.err.getvalue() == ""


@pytest.mark.parametrize(
    ("n", "shown"), [(999, "999"), (988_100_000, "988.1M"), (16_100_000_000, "16.1G")]
)
def test_sizes_in_decimal_units_as_hf_cache_ls(n: int, shown: str) -> None:
    assert fmt_size(n) == shown
