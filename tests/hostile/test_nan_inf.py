"""NaN and Inf in a table are data: every command inspects them, exit 0 or 1, and --json
stays JSON (no NaN or Infinity constants)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import EMB, entry, snapshot, st_bytes


def _no_constants(name: str) -> Any:
    raise AssertionError(f"--json wrote {name}, which is not JSON (RFC 8259); jq rejects it")


@pytest.fixture
def nonfinite_file(tmp_path: Path) -> Path:
    import numpy as np

    w = np.arange(32, dtype=np.float32).reshape(8, 4) / 10
    w[2, 1] = np.nan
    w[5, 0] = np.inf
    w[6, 3] = -np.inf
    w[0] = 0  # a zero pad row
    head = w.copy()
    header = {
        EMB: entry("F32", [8, 4], 0, 128),
        "lm_head.weight": entry("F32", [8, 4], 128, 256),
    }
    path = tmp_path / "model.safetensors"
    path.write_bytes(st_bytes(header, w.tobytes() + head.tobytes()))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["init-stats"],
        ["init-stats", "--no-hist"],
        ["lookup", "2", "5", "6"],
        ["padding", "--pad", "0"],
        ["padding", "--pad", "2"],
        ["padding", "--pad", "2", "--strict"],
        ["tie"],
        ["tie", "--all-rows"],
        ["stats"],
    ],
    ids=lambda a: "-".join(a),
)
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_nonfinite_table_is_inspected(
    emb: Any, nonfinite_file: Path, args: list[str], as_json: bool
) -> None:
    before = snapshot(nonfinite_file.parent)
    extra = ["--json"] if as_json else []
    result = emb(*args, "--from", str(nonfinite_file), *extra)
    detail = (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.exit_code in (0, 1), detail
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout
    if as_json:
        json.loads(result.stdout, parse_constant=_no_constants)
    assert snapshot(nonfinite_file.parent) == before


def test_nonfinite_counts_are_reported(emb: Any, nonfinite_file: Path) -> None:
    result = emb("init-stats", "--json", "--from", str(nonfinite_file))
    assert result.exit_code in (0, 1), (result.stdout, result.stderr)
    data = json.loads(result.stdout, parse_constant=_no_constants)
    assert (data["nan_values"], data["inf_values"]) == (1, 2)
    assert data["nonfinite_rows"] == [2, 5, 6]


def test_nonfinite_lookup_values(emb: Any, nonfinite_file: Path) -> None:
    result = emb("lookup", "5", "6", "2", "--json", "--from", str(nonfinite_file), ok=True)
    data = json.loads(result.stdout)
    assert len(data["vectors"]) == 3
