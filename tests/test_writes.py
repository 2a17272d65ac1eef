"""What writes: --plot says where, and replaces a file only with --force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_refused


def test_plot_refuses_an_existing_file(emb: Any, tmp_path: Path) -> None:
    target = tmp_path / "hist.png"
    target.write_bytes(b"mine")
    assert_refused(emb("init-stats", "--plot", target), "exists", "--force")
    assert target.read_bytes() == b"mine"


def test_plot_says_where_it_wrote_and_force_replaces(emb: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "hist.png"
    r = emb("init-stats", "--plot", target, "--json", ok=True)
    assert r.stderr == f"wrote {target}\n"
    assert r.stdout.startswith("{") and r.stdout.count("\n") == 1  # stdout: one document
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target.write_bytes(b"old")
    r = emb("init-stats", "--plot", target, "--force", "--no-hist", ok=True)
    assert r.stderr == f"wrote {target}\n"
    assert target.read_bytes()[:4] == b"\x89PNG"
