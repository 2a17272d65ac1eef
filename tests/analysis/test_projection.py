"""emb report's one projection pass: principal components, the sample, the search vectors,
against numpy's eigh and exact cosines on the same rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emb_cli.analysis import projection
from emb_cli.analysis.projection import choose_rows, estimated_cosines, project, search_width
from emb_cli.sources.config.spec import Overrides
from emb_cli.sources.resolve import SourceArgs, open_source


def _open(path: Path):  # type: ignore[no-untyped-def]
    return open_source(SourceArgs(overrides=Overrides(), from_=str(path)))


def _project(path: Path, x: np.ndarray, ids, **kw):  # type: ignore[no-untyped-def]
    """project() with the rows' norms, as emb check's first pass measures them."""
    return project(_open(path), ids, np.linalg.norm(x.astype(np.float64), axis=1), **kw)


def _table(tmp_path: Path, x: np.ndarray) -> Path:
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({"model.embed_tokens.weight": np.ascontiguousarray(x, dtype=np.float32)}, str(path))
    return path


def _structured(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    """Rows with two dominant directions (variances 9 and 4) over unit noise, and an offset."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    coef = rng.standard_normal((rows, 2)) * np.array([3.0, 2.0])
    noise = rng.standard_normal((rows, dim)) * 0.05
    return (coef @ basis.T + noise + 0.5).astype(np.float32)


def _exact_pcs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xd = x.astype(np.float64)
    xc = xd - xd.mean(axis=0)
    lam, vec = np.linalg.eigh(xc.T @ xc / len(xd))
    top = vec[:, ::-1][:, :2]
    for k in range(2):
        if top[np.argmax(np.abs(top[:, k])), k] < 0:
            top[:, k] *= -1
    return xc @ top, lam[::-1][:2] / lam.sum()


def test_exact_components_equal_numpy_eigh(tmp_path: Path) -> None:
    x = _structured(600, 24)
    proj = _project(_table(tmp_path, x), x, range(600))
    assert proj.exact and proj.width == 24
    coords, share = _exact_pcs(x)
    np.testing.assert_allclose(proj.xy, coords, atol=1e-4)
    np.testing.assert_allclose(proj.explained, share, rtol=1e-5)
    np.testing.assert_allclose(proj.col_mean, x.astype(np.float64).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(proj.col_std, x.astype(np.float64).std(axis=0), rtol=1e-5)


def test_exact_search_vectors_give_cosines_within_int8_rounding(tmp_path: Path) -> None:
    x = _structured(300, 16)
    proj = _project(_table(tmp_path, x), x, range(300))
    xd = x.astype(np.float64)
    unit = xd / np.linalg.norm(xd, axis=1, keepdims=True)
    est = estimated_cosines(proj.vectors, proj.scales, 7)
    np.testing.assert_allclose(est, unit @ unit[7], atol=0.02)
    assert proj.recall is not None and proj.recall >= 0.9  # int8 rounding swaps near-ties


def test_randomized_subspace_finds_the_dominant_plane(tmp_path: Path) -> None:
    """A width below D: Rayleigh-Ritz in the sample's subspace still finds the two strong
    directions (they hold 99% of the variance), so the map equals the exact one."""
    x = _structured(3000, 64)
    proj = _project(_table(tmp_path, x), x, range(3000), budget=3000 * 16)
    assert not proj.exact and proj.width == 16
    coords, share = _exact_pcs(x)
    np.testing.assert_allclose(proj.xy, coords, atol=2e-3 * np.abs(coords).max())
    np.testing.assert_allclose(proj.explained, share, rtol=1e-3)


def test_drawn_rows_only_but_components_of_all_rows(tmp_path: Path) -> None:
    x = _structured(900, 12)
    drawn = [3, 10, 500, 899]
    proj = _project(_table(tmp_path, x), x, drawn)
    coords, _ = _exact_pcs(x)  # the components of all 900 rows
    assert proj.ids.tolist() == drawn
    np.testing.assert_allclose(proj.xy, coords[drawn], atol=1e-4)


def test_nonfinite_rows_stay_off_the_map_and_out_of_the_statistics(tmp_path: Path) -> None:
    x = _structured(400, 8)
    x[5, 2] = np.nan
    x[9, 0] = np.inf
    proj = _project(_table(tmp_path, x), x, range(400))
    assert proj.nonfinite_ids == [5, 9]
    assert 5 not in proj.ids.tolist() and proj.ids.size == 398
    good = np.delete(x, [5, 9], axis=0)
    coords, _ = _exact_pcs(good)
    np.testing.assert_allclose(proj.xy, coords, atol=1e-4)
    assert proj.finite_rows == 398


def test_choose_rows_keeps_all_up_to_the_limit_then_samples_plus_kept() -> None:
    assert choose_rows(1000, [3], limit=1000) == list(range(1000))
    picked = choose_rows(100_352, [7, 128_000, 100_351, 99_999], limit=50_000)
    assert {7, 100_351, 99_999} <= set(picked) and 128_000 not in picked
    assert 50_000 <= len(picked) <= 50_003 and picked == sorted(picked)
    assert picked == choose_rows(100_352, [7, 100_351, 99_999], limit=50_000)  # seeded


def test_search_width_fits_the_budget() -> None:
    assert search_width(30_522, 384) == 384  # MiniLM: exact
    width = search_width(50_256, 4096, rows=100_352)
    assert width % 8 == 0 and 50_256 * width <= projection.SEARCH_BYTES
    assert 100_352 * 4096 * width <= projection.SEARCH_MULADDS


@pytest.mark.parametrize("rows", [1, 2])
def test_tiny_tables(tmp_path: Path, rows: int) -> None:
    x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4) + 1
    proj = _project(_table(tmp_path, x), x, range(rows))
    assert proj.ids.tolist() == list(range(rows))
    assert np.isfinite(proj.xy).all()
