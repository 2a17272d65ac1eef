"""emb check: one verdict per checkpoint, from the checks of every other command.

The table is read by the passes of `undertrained` alone: its first pass fills the
init-stats measures (init_stats.scan_pass), whose row norms serve padding, finite, special
and data; tie streams the head only where one is stored. Each check is a step returning a
frozen dataclass (check_table.py, check_special.py, check_data.py): name, status (pass,
warn, fail or skip), a one-line summary, its evidence.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from emb_cli.analysis.check_data import DataCheck, check_data, check_data_files
from emb_cli.analysis.check_special import SpecialCheck, check_special, special_ids
from emb_cli.analysis.check_status import CHECK_NAMES, CheckName, Status, worst
from emb_cli.analysis.check_table import (
    FiniteCheck,
    PaddingCheck,
    TieCheck,
    TrainedCheck,
    UndertrainedCheck,
    VocabCheck,
    check_finite,
    check_pad,
    check_tie,
    check_trained,
    check_undertrained,
    check_vocab,
    tokenizer_of,
)
from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.errors import UsageError
from emb_cli.sources.base import TableSource

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from emb_cli.analysis.init_stats import InitStatsReport
    from emb_cli.analysis.padding import PaddingReport
    from emb_cli.analysis.ties import TieReport
    from emb_cli.analysis.undertrained import UndertrainedReport

Check = (
    VocabCheck
    | TieCheck
    | PaddingCheck
    | FiniteCheck
    | TrainedCheck
    | UndertrainedCheck
    | SpecialCheck
    | DataCheck
)
TOP: Final = 20  # undertrained candidates kept in Measured (emb report lists them)
# The checks that need undertrained's passes (its flags), and those the scan alone serves.
_NEED_FLAGS: Final = frozenset({"undertrained", "special", "data"})
_NEED_SCAN: Final = frozenset({"padding", "finite", "trained"})


@dataclass(frozen=True)
class CheckReport:
    """What --json prints for one source."""

    source: SourceSummary
    status: Status  # the worst check's (skip counts for nothing)
    checks: list[Check]


@dataclass(frozen=True)
class Measured:
    """The shared passes' results, for other reports (emb report) to draw from. A report is
    None where no selected check needed it."""

    row_norms: np.ndarray  # float64 per input row; NaN for rows holding NaN/Inf
    init: InitStatsReport | None
    undertrained: UndertrainedReport | None
    padding: PaddingReport | None  # None for built tables (no pass needed for their pad)
    tie: TieReport | None  # None for built tables
    special_ids: dict[int, str]  # id -> token of every special/chat-template token found
    flagged: np.ndarray | None = None  # bool per row: undertrained flags it


@dataclass(frozen=True)
class CheckOutcome:
    report: CheckReport  # exactly what --json prints for one source
    measured: Measured


def selected(select: Collection[str] | None, ignore: Collection[str]) -> list[CheckName]:
    """The checks to run, in their order; UsageError for a name that is no check."""
    for name in [*(select or ()), *ignore]:
        if name not in CHECK_NAMES:
            raise UsageError(f"no check named {name!r}; the checks are: {', '.join(CHECK_NAMES)}")
    chosen = CHECK_NAMES if select is None else [n for n in CHECK_NAMES if n in select]
    return [n for n in chosen if n not in ignore]


@dataclass(frozen=True)
class Passes:
    """Step 1: the table read once (twice with a stored head to compare)."""

    row_norms: np.ndarray
    nonfinite_rows: list[int]
    nonfinite_count: int
    init: InitStatsReport | None
    undertrained: UndertrainedReport | None
    flagged: np.ndarray | None
    known_unused: np.ndarray | None


def _passes(source: TableSource, names: Collection[CheckName]) -> Passes | None:
    """undertrained's passes when a check needs its flags, else the init-stats scan alone."""
    from emb_cli.analysis.init_stats import excluded_rows, init_stats, scan_pass
    from emb_cli.analysis.scan import scan

    if _NEED_FLAGS.isdisjoint(names) and _NEED_SCAN.isdisjoint(names):
        return None
    ut = None
    if not _NEED_FLAGS.isdisjoint(names):
        from emb_cli.analysis.undertrained import undertrained_rows

        measures = scan_pass(source.info)
        ut = undertrained_rows(source, top=TOP, scan=measures)
        s = measures.result()
    else:
        s = scan(source, exclude=excluded_rows(source.info))
    init = init_stats(source, scanned=s)
    if ut is not None:  # rows with NaN/Inf in the head beside the table count too
        report = ut.report
        bad, count = report.nonfinite_row_ids, report.nonfinite_rows
        return Passes(s.row_norms, bad, count, init, report, ut.flagged, ut.known_unused)
    return Passes(s.row_norms, s.nonfinite_rows, len(s.nonfinite_rows), init, None, None, None)


def _stored(
    source: TableSource, names: Collection[CheckName], passes: Passes | None
) -> tuple[TieReport | None, PaddingReport | None]:
    """Step 2: tie and padding as `emb tie` and `emb padding` decide them (checkpoints)."""
    if source.info.built:
        return None, None
    tie = pad = None
    if "tie" in names:
        from emb_cli.analysis.ties import verify_tie

        tie = verify_tie(source)
    if "padding" in names:
        from emb_cli.analysis.padding import check_padding

        norms = passes.row_norms if passes is not None else None
        pad = check_padding(source, row_norms=norms)
    return tie, pad


def run_check(
    source: TableSource,
    *,
    data: Sequence[Path] = (),
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
    strict: bool = False,
) -> CheckOutcome:
    """Every selected check on one source; `data` adds the data check; `strict`: warn fails."""
    names = selected(select, ignore)
    if not data:
        names = [n for n in names if n != "data"]
    elif "data" in names:
        check_data_files(data)
    passes = _passes(source, names)
    tie, pad = _stored(source, names, passes)
    tok, _ = tokenizer_of(source) if {"special", "data"} & set(names) else (None, None)
    checks = [_one(n, source, tok, data, passes, tie, pad) for n in names]
    if strict:
        checks = [replace(c, status="fail") if c.status == "warn" else c for c in checks]
    report = CheckReport(summarize(source.info), worst(c.status for c in checks), checks)
    return CheckOutcome(report, _measured(source, tok, passes, tie, pad))


def _one(
    name: CheckName,
    source: TableSource,
    tok: Tokenizer | None,
    data: Sequence[Path],
    passes: Passes | None,
    tie: TieReport | None,
    pad: PaddingReport | None,
) -> Check:
    """One check from what the passes measured."""
    if name == "vocab":
        return check_vocab(source)
    if name == "tie":
        return check_tie(tie)
    if name == "padding":
        return check_pad(source, pad)
    assert passes is not None, name
    if name == "finite":
        return check_finite(source, passes.nonfinite_rows, passes.nonfinite_count)
    if name == "trained":
        assert passes.init is not None
        return check_trained(passes.init)
    if name == "undertrained":
        assert passes.undertrained is not None and passes.flagged is not None
        assert passes.known_unused is not None
        return check_undertrained(source, passes.undertrained, passes.flagged, passes.known_unused)
    if name == "special":
        return check_special(source, tok, passes.row_norms, passes.flagged)
    return check_data(source, tok, data, passes.row_norms, passes.flagged)


def _measured(
    source: TableSource,
    tok: Tokenizer | None,
    passes: Passes | None,
    tie: TieReport | None,
    pad: PaddingReport | None,
) -> Measured:
    import numpy as np

    ids = special_ids(source, tok if tok is not None else tokenizer_of(source)[0])
    vocab = source.vocab(fetch=False)
    tokens = vocab.tokens(list(ids)) if vocab is not None else [None] * len(ids)
    named = {i: t if t is not None else "" for i, t in zip(ids, tokens, strict=True)}
    if passes is None:
        return Measured(np.empty(0), None, None, pad, tie, named)
    return Measured(
        passes.row_norms, passes.init, passes.undertrained, pad, tie, named, passes.flagged
    )
