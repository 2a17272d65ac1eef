"""`emb check`: the source, a table of check, status and summary, then the verdict line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emb_cli.analysis.check import run_check
from emb_cli.render.check import render_check
from tests.helpers.llama3_like import save_llama3_like


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_llama3_like(tmp_path_factory.mktemp("render") / "base")


def test_check_table_then_verdict(screen: Any, open_table: Any, base: Path) -> None:
    report = run_check(open_table(from_=base)).report
    screen.show(render_check, report)
    lines = screen.lines()
    # the source line wraps at 100 columns when the tmp path is long (pytest-xdist's)
    assert screen.flat().startswith(f"hf-dir {base} tensor model.embed_tokens.weight: 437 x 64")
    assert lines[-1] == "FAIL: 4 pass, 1 warn, 1 fail, 1 skip"
    flat = screen.flat()
    for check in report.checks:  # each row whole: name, status, its summary wrapped in place
        assert f"│ {check.name}" in flat
    assert "│ special │ fail │ 3 of 5 special tokens have untrained rows:" in flat
    assert all(len(line) <= 100 for line in lines)


def test_a_passing_built_table(screen: Any, open_table: Any) -> None:
    report = run_check(open_table(), select=["padding", "finite"]).report
    screen.show(render_check, report)
    lines = screen.lines()
    assert lines[-1] == "PASS: 2 pass"
    assert "│ padding │ pass   │ pad row 0 is exactly zero" in screen.getvalue()
