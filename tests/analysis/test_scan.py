"""The streamed scan is numerically sound: float64 accumulation, exact on constants."""

from __future__ import annotations

import numpy as np
import pytest

from emb_cli.analysis.scan import scan
from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.loaded import LoadedSource


def _source(write_safetensors, table: np.ndarray) -> LoadedSource:
    import torch

    path = write_safetensors({"model.embed_tokens.weight": torch.from_numpy(table)})
    return LoadedSource(open_checkpoint(path), None, None, False)


def test_1e8_values_match_float64_numpy(write_safetensors):
    """10^8 float32 values: mean and std within 1e-9 of a float64 numpy reference."""
    rng = np.random.default_rng(0)
    table = rng.standard_normal((25_000, 4000), dtype=np.float32) * np.float32(0.02)
    table += np.float32(0.001)
    s = scan(_source(write_safetensors, table))
    ref = table.astype(np.float64)
    assert s.count == 10**8
    assert s.mean == pytest.approx(ref.mean(), rel=1e-9)
    assert s.std == pytest.approx(ref.std(), rel=1e-9)
    norms = np.sqrt(np.einsum("ij,ij->i", ref, ref))
    np.testing.assert_allclose(s.row_norms, norms, rtol=1e-12)


def test_offset_rows_keep_precision(write_safetensors):
    """A mean that dwarfs the spread (1000 +- 1e-3) is where naive sum-of-squares breaks."""
    rng = np.random.default_rng(1)
    table = (1000 + rng.standard_normal((3000, 64)) * 1e-3).astype(np.float32)
    s = scan(_source(write_safetensors, table))
    ref = table.astype(np.float64)
    assert s.std == pytest.approx(ref.std(), rel=1e-6)
    assert s.mean == pytest.approx(ref.mean(), rel=1e-12)


def test_constant_table_has_zero_std(write_safetensors):
    s = scan(_source(write_safetensors, np.full((5000, 33), 0.1, dtype=np.float32)))
    assert s.std == 0.0
    assert s.mean == np.float64(np.float32(0.1))


def test_excluded_row_and_nonfinite_rows(write_safetensors):
    table = np.arange(40, dtype=np.float32).reshape(10, 4)
    table[3, 1] = np.nan
    table[7, 0] = np.inf
    s = scan(_source(write_safetensors, table), exclude=[0])
    keep = np.delete(table, [0], axis=0).astype(np.float64)
    finite = keep[np.isfinite(keep)]
    assert (s.nan_values, s.inf_values, s.nonfinite_rows) == (1, 1, [3, 7])
    assert s.count == finite.size
    assert s.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert s.std == pytest.approx(finite.std(), rel=1e-12)
    assert np.isnan(s.row_norms[3]) and np.isnan(s.row_norms[7])


def test_plot_writes_a_png(emb, tmp_path):
    out = tmp_path / "stats.png"
    emb("init-stats", "--vocab", "500", "--dim", "16", "--plot", str(out), ok=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = emb("init-stats", "--plot", str(tmp_path / "nope" / "x.png"))
    assert r.exit_code == 2 and r.stderr.startswith("Error: --plot")
