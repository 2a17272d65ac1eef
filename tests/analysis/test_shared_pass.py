"""One read of the table for undertrained, init-stats, NaN/Inf rows and the pad row (emb check):
the reports from the shared pass are the reports each command makes alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emb_cli.analysis.init_stats import excluded_rows, init_stats, scan_pass
from emb_cli.analysis.padding import check_padding
from emb_cli.analysis.scan import ScanPass, scan
from emb_cli.analysis.undertrained import undertrained_rows
from emb_cli.sources.config.spec import Overrides
from emb_cli.sources.resolve import SourceArgs, open_source
from tests.models import tiny_llama

NAN_ROW, INF_ROW = 5, 9


def _checkpoint(root: Path, tied: bool) -> Path:
    """A Llama whose pad row 0 is zero and two of whose rows hold NaN and Inf."""
    import torch

    model = tiny_llama(300, 64, tied=tied)
    with torch.no_grad():
        model.model.embed_tokens.weight[NAN_ROW, 3] = float("nan")
        model.model.embed_tokens.weight[INF_ROW, 0] = float("inf")
    path = root / ("tied" if tied else "untied")
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module", params=["tied", "untied", "built"])
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "built":
        return open_source(SourceArgs(overrides=Overrides(vocab_size=3000, embed_dim=48)))
    root = tmp_path_factory.mktemp("shared")
    return open_source(SourceArgs(from_=_checkpoint(root, request.param == "tied")))


def _counting(source: Any) -> list[int]:
    """Rows of the input table streamed from now on, by source.chunks."""
    streamed: list[int] = []
    chunks: Callable[..., Iterator[tuple[int, np.ndarray]]] = source.chunks

    def counted(*args: Any, **kwargs: Any) -> Iterator[tuple[int, np.ndarray]]:
        for start, block in chunks(*args, **kwargs):
            streamed.append(block.shape[0])
            yield start, block

    source.chunks = counted
    return streamed


def test_reports_from_one_pass_equal_each_alone(source: Any) -> None:
    alone = (
        undertrained_rows(source, top=10).report,
        init_stats(source),
        check_padding(source),
        scan(source, exclude=excluded_rows(source.info)),
    )
    measures = scan_pass(source.info)
    streamed = _counting(source)
    try:
        undertrained = undertrained_rows(source, top=10, scan=measures).report
        s = measures.result()
        shared = (undertrained, init_stats(source, scanned=s))
        pad = check_padding(source, row_norms=s.row_norms)
    finally:
        del source.chunks
    # repr: NaN fields compare equal as text, and every float to the last digit
    assert repr(asdict(shared[0])) == repr(asdict(alone[0]))
    assert repr(asdict(shared[1])) == repr(asdict(alone[1]))
    assert repr(asdict(pad)) == repr(asdict(alone[2]))
    for name, value in vars(alone[3]).items():
        np.testing.assert_array_equal(getattr(s, name), value, err_msg=name)
    rows = source.info.vocab_size
    if undertrained.cosine_matrix_role == "head":  # the input table is read once, for all
        assert sum(streamed) == rows
    if not source.info.built:
        assert s.nonfinite_rows == [NAN_ROW, INF_ROW] == undertrained.nonfinite_row_ids
        assert pad.verdict == "zero" and pad.median_row_norm is not None


def test_a_scan_with_another_exclusion_is_refused(source: Any) -> None:
    """init-stats leaves the pad row out of its moments: a scan that kept it would be wrong."""
    with pytest.raises(ValueError, match="scan_pass"):
        init_stats(source, scanned=scan(source))


def test_a_pass_that_stopped_early_has_no_result(source: Any) -> None:
    measures = ScanPass(source.info)
    start, block = next(iter(source.chunks(16)))
    measures.add(measures.measure(start, block))
    with pytest.raises(ValueError, match=f"measured 16 of {source.info.vocab_size} rows"):
        measures.result()
