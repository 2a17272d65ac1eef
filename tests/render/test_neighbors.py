"""`emb neighbors`: a query line, then its ranked tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emb_cli.analysis.lookup import encode_text
from emb_cli.analysis.neighbors import build_queries, nearest
from emb_cli.render.neighbors import render_neighbors


def test_neighbors_ranks_tokens_under_their_query(
    screen: Any, open_table: Any, minilm_dir: Path
) -> None:
    source = open_table(from_=minilm_dir)
    ids = encode_text(source, "zebra", False)
    queries = build_queries(source, ids, "zebra", ([], []), ([], []), False, ids_given=False)
    screen.show(render_neighbors, nearest(source, queries, "cosine", 3, exclude_query=True))
    lines = screen.lines()
    query = lines.index("query zebra  ids [29145]  (cosine, higher is nearer)")
    header, ranked = lines[query + 1], lines[query + 3 :]
    assert header.split() == ["rank", "┃", "id", "┃", "token", "┃", "cosine"]
    assert len(ranked) == 3 and ranked[0].split()[:5] == ["1", "│", "17716", "│", "'moose'"]
