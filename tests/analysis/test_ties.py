"""The tie verdict is decided from the gathered evidence alone: every verdict, no file read."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from emb_cli.analysis.ties import VERDICTS_OK, Comparison, StoredTie, _decide

EMB = SimpleNamespace(name="model.embed_tokens.weight", nbytes=4096)
HEAD = SimpleNamespace(name="lm_head.weight", nbytes=4096)
SAME = Comparison(True, True, 0.0, 0, 8, False)
DIFFERENT = Comparison(True, False, 0.5, 3, 8, False)


def _stored(tied: bool | None, emb: Any = EMB, head: Any = None, **kw: Any) -> StoredTie:
    fields: dict[str, Any] = {
        "config_tied": tied,
        "config_tied_source": None if tied is None else "config",
        "embedding": emb,
        "head": head,
        "architectures": ["LlamaForCausalLM"] if tied is not None else None,
        "pointers": {},
        "comparison": None,
        "shared_storage": False,
    }
    return StoredTie(**(fields | kw))


@pytest.mark.parametrize(
    ("stored", "verdict", "wasted"),
    [
        (_stored(True), "tied", 0),
        (_stored(None, emb=HEAD), "tied", 0),  # one table under the head's name
        (_stored(False, architectures=["BertModel"]), "no-head", 0),
        (_stored(None), "no-head", 0),  # a bare table
        (_stored(False), "missing-head", 0),
        (_stored(False, head=HEAD, comparison=SAME, shared_storage=True), "tied", 0),
        (_stored(True, head=HEAD, comparison=SAME), "tied-duplicated", 4096),
        (_stored(False, head=HEAD, comparison=SAME), "untied-identical", 0),
        (_stored(True, head=HEAD, comparison=DIFFERENT), "diverged", 0),
        (_stored(False, head=HEAD, comparison=DIFFERENT), "untied", 0),
    ],
)
def test_every_verdict_from_its_evidence(stored: StoredTie, verdict: str, wasted: int) -> None:
    d = _decide(stored)
    assert (d.verdict, d.wasted_bytes) == (verdict, wasted)
    assert VERDICTS_OK[d.verdict] == (verdict not in ("diverged", "missing-head"))
