"""emb export: projector TSVs, .npy and .parquet, compared with the file's own rows."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers.report_pages import HOSTILE_TOKENS, hostile_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_model(tmp_path_factory.mktemp("export") / "model")


def _rows(model: Path) -> np.ndarray:
    from safetensors.numpy import load_file

    out: np.ndarray = load_file(str(model / "model.safetensors"))["model.embed_tokens.weight"]
    return out


def _unescape(cell: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m[1], m[1]), cell)


def test_projector_files(emb: Any, model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    r = emb("export", str(model), "--projector", str(folder), ok=True)
    assert r.stdout == ""
    tensors = np.loadtxt(folder / "tensors.tsv", delimiter="\t", dtype=np.float64)
    np.testing.assert_allclose(tensors, _rows(model), rtol=1e-6, atol=1e-12)  # %.7g
    with open(folder / "metadata.tsv", encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    assert lines[0] == "id\ttoken\tkind\tnorm\tscore"
    body = [line.split("\t") for line in lines[1:-1]]
    assert len(body) == 300 and all(len(cells) == 5 for cells in body)
    assert [int(c[0]) for c in body] == list(range(300))
    assert [_unescape(c[1]) for c in body[:9]] == HOSTILE_TOKENS
    assert body[2][2] == "zero" and body[0][2] == "normal"
    norms = np.linalg.norm(_rows(model).astype(np.float64), axis=1)
    np.testing.assert_allclose([float(c[3]) for c in body], norms, rtol=1e-12)
    config = (folder / "projector_config.pbtxt").read_text()
    assert config == (
        'embeddings {\n  tensor_name: "emb"\n  tensor_shape: 300\n  tensor_shape: 16\n'
        '  tensor_path: "tensors.tsv"\n  metadata_path: "metadata.tsv"\n}\n'
    )


def test_projector_refuses_existing_files_without_force(
    emb: Any, model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "metadata.tsv").write_text("mine")
    r = emb("export", str(model), "--projector", str(folder))
    assert r.exit_code == 2
    assert (
        r.stderr
        == f"Error: --projector {folder / 'metadata.tsv'} exists; pass --force to replace it\n"
    )
    assert (folder / "metadata.tsv").read_text() == "mine"
    assert not (folder / "tensors.tsv").exists()
    emb("export", str(model), "--projector", str(folder), "--force", ok=True)
    assert (folder / "metadata.tsv").read_text().startswith("id\ttoken")


def test_npy_holds_rows_and_metadata(emb: Any, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.npy"
    emb("export", str(model), "--npy", str(out), ok=True)
    arr = np.load(out)  # no pickle needed
    assert arr.dtype.names == ("id", "token", "kind", "norm", "score", "vector")
    assert arr["id"].tolist() == list(range(300))
    np.testing.assert_array_equal(arr["vector"], _rows(model))
    assert arr["token"][:9].tolist() == HOSTILE_TOKENS
    assert arr["kind"][2] == "zero"


def test_parquet_holds_rows_and_metadata(emb: Any, model: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "rows.parquet"
    emb("export", str(model), "--parquet", str(out), ok=True)
    table = pq.read_table(out)
    assert table.column_names == ["id", "token", "kind", "norm", "score", "vector"]
    np.testing.assert_array_equal(
        np.array(table["vector"].to_pylist(), dtype=np.float32), _rows(model)
    )
    assert table["token"].to_pylist()[:9] == HOSTILE_TOKENS


def test_parquet_without_pyarrow_is_one_error_line(
    emb: Any, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what `import pyarrow` meets when absent
    out = tmp_path / "rows.parquet"
    r = emb("export", str(model), "--parquet", str(out))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (
        "Error: --parquet needs pyarrow, which is not installed: `pip install pyarrow`, or "
        "write --npy instead\n"
    )
    assert not out.exists()


def test_sample_keeps_every_row_of_note(emb: Any, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.npy"
    emb("export", str(model), "--npy", str(out), "--sample", "50", ok=True)
    arr = np.load(out)
    ids = arr["id"].tolist()
    assert {2, 7, 8} <= set(ids)  # the zero rows, two of them reserved
    assert 50 <= len(ids) <= 53 and ids == sorted(ids)
    np.testing.assert_array_equal(arr["vector"], _rows(model)[ids])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Error: nothing to write: pass --projector DIR, --npy FILE or --parquet FILE\n"),
        (["--npy", "x.npy", "--sample", "0"], "Error: --sample must be at least 1, got 0\n"),
    ],
)
def test_bad_usage(
    emb: Any,
    model: Path,
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    r = emb("export", str(model), *args)
    assert r.exit_code == 2 and r.stderr == message
    assert not (tmp_path / "x.npy").exists()


def test_never_over_an_input(emb: Any, model: Path) -> None:
    before = (model / "model.safetensors").read_bytes()
    r = emb("export", str(model), "--npy", str(model / "model.safetensors"), "--force")
    assert r.exit_code == 2 and "is an input file of this command" in r.stderr
    assert (model / "model.safetensors").read_bytes() == before
