"""Tables at the edges of shape: one row of one value (`padding --vocab 1 --dim 1` was a
ValueError), and a 4 x 1,000,000 table whose mean resizing would need a 7.28 TiB D x D
covariance (a MemoryError): refused before the allocation, exit 2, naming the way out.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.helpers.hostile import ALL, CASE_SECONDS, COMMANDS, run_refused, st_bytes, time_limit

TINY = {"1x1": ["--vocab", "1", "--dim", "1"], "2x1": ["--vocab", "2", "--dim", "1"]}


@pytest.mark.parametrize("shape", TINY)
@pytest.mark.parametrize("command", ALL)
def test_a_one_value_table_works(emb, command: str, shape: str) -> None:
    with time_limit(CASE_SECONDS):
        result = emb(*COMMANDS[command], *TINY[shape])
    detail = (result.exit_code, result.stdout, result.stderr)
    assert result.exit_code in (0, 1), detail  # a check may fail; nothing may crash
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, detail


def test_padding_of_a_one_row_table_checks_the_pad_row(emb) -> None:
    doc = emb.json("padding", "--vocab", "1", "--dim", "1")
    assert doc["pad_token_id"] == 0 and doc["verdict"] == "zero-and-frozen"


WIDE = 1_000_000


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    """4 x 1,000,000 float32 (16 MB): its D x D covariance would be 7.28 TiB in float64."""
    data = struct.pack("<f", 0.5) * (4 * WIDE)
    header = {
        "model.embed_tokens.weight": {
            "dtype": "F32",
            "shape": [4, WIDE],
            "data_offsets": [0, len(data)],
        }
    }
    path = tmp_path / "wide.safetensors"
    path.write_bytes(st_bytes(header, data))
    return path


@pytest.mark.parametrize("write", [False, True], ids=["plan", "write"])
def test_resize_refuses_a_covariance_that_cannot_fit(
    emb, tmp_path: Path, wide: Path, write: bool
) -> None:
    out = ["--write", str(tmp_path / "out.safetensors")] if write else []
    run_refused(
        emb,
        tmp_path,
        ["resize", "6", "--from", str(wide), *out],
        "covariance",
        "--no-mean-resizing",
    )
    assert not (tmp_path / "out.safetensors").exists()


def test_resize_without_mean_resizing_needs_no_covariance(emb, tmp_path: Path, wide: Path) -> None:
    with time_limit(CASE_SECONDS):
        doc = emb.json("resize", "6", "--from", str(wide), "--no-mean-resizing")
    assert doc["new_num_tokens"] == 6 and doc["embedding"]["distribution"] is None


def test_shrinking_a_wide_table_needs_no_covariance(emb, tmp_path: Path, wide: Path) -> None:
    with time_limit(CASE_SECONDS):
        doc = emb.json("resize", "2", "--from", str(wide))
    assert doc["action"] == "shrink"
