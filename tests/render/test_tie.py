"""`emb tie`: the evidence a line each, then the verdict."""

from __future__ import annotations

from typing import Any

import pytest

from emb_cli.analysis.ties import verify_tie
from emb_cli.render.tie import render_tie


@pytest.mark.parametrize(("tied", "verdict"), [(True, "verdict: tied"), (False, "verdict: untied")])
def test_tie_lists_evidence_then_the_verdict(
    screen: Any, open_table: Any, tied: bool, verdict: str
) -> None:
    report = verify_tie(open_table(tied=tied), [])
    screen.show(render_tie, report)
    lines = screen.lines()
    assert lines[0].startswith("default: 3,000 x 8 float32")
    assert lines[-1] == verdict
    assert lines[1] == f"- lm_head.weight is embed.weight: {tied}"
    # one bullet per piece of evidence, each whole (a long one wraps onto the next line)
    assert sum(line.startswith("- ") for line in lines) == len(report.evidence) >= 3
    for e in report.evidence:
        assert "- " + " ".join(e.split()) in screen.flat()
