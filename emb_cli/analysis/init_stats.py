"""emb init-stats: the table measured, beside what its init predicts, with a verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.analysis.distributions import Expected, expected_for, normal
from emb_cli.analysis.scan import MAX_LISTED, ScanPass, ScanResult, erf, scan
from emb_cli.sources.base import TableInfo, TableSource

if TYPE_CHECKING:
    import numpy as np

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
Z_LIMIT = 5.0  # |z| above this many standard errors: not this init
EXTREME_ROWS = 5
ROUNDED_DTYPES = frozenset({"bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"})
# consistent/inconsistent-with-init: a built table against the init that made it;
# init-like/trained: a loaded one against its config's init; unknown: nothing to compare with.
Verdict = Literal[
    "consistent-with-init", "inconsistent-with-init", "init-like", "trained", "unknown"
]


@dataclass(frozen=True)
class RowRef:
    id: int
    norm: float
    token: str | None
    token_type: str | None = None  # GGUF's control, unused, byte ...


@dataclass(frozen=True)
class Histogram:
    edges: list[float]
    counts: list[int]


@dataclass(frozen=True)
class InitStatsReport:
    source: SourceSummary
    reference: str | None  # the distribution compared against, and where it came from
    values: int  # finite values measured
    rows: int
    excluded_rows: list[int]  # the pad row: its zeros are not part of the init
    measured: dict[str, float]
    expected: dict[str, float | None] | None
    z_scores: dict[str, float]  # (measured - expected) / standard error
    ks: float | None  # Kolmogorov-Smirnov D of the sampled values against the reference
    ks_critical: float | None  # D above this rejects at the 0.1% level
    sample_values: int
    row_norm_percentiles: dict[str, float]
    lowest_norm_rows: list[RowRef]
    highest_norm_rows: list[RowRef]
    zero_rows: int
    zero_row_ids: list[int]
    nan_values: int
    inf_values: int
    nonfinite_rows: list[int]
    pad_row: dict[str, Any] | None
    value_histogram: Histogram
    norm_histogram: Histogram
    verdict: Verdict
    verdict_detail: str


def _within(sample: np.ndarray, mean: float, std: float) -> dict[str, float]:
    import numpy as np

    if sample.size == 0 or std <= 0:
        return {}
    a = np.abs(sample - mean)
    return {
        f"within_{k}_std": float(np.count_nonzero(a <= k * std) / sample.size) for k in (1, 2, 3)
    }


def _cdf(exp: Expected, xs: np.ndarray) -> np.ndarray:
    import numpy as np

    if exp.family == "normal":
        return 0.5 * (1.0 + erf((xs - exp.mean) / (exp.std * math.sqrt(2.0))))
    return np.clip((xs - exp.low) / (exp.high - exp.low), 0.0, 1.0)


def ks_statistic(sample: np.ndarray, exp: Expected, dtype: str | None = None) -> float:
    """KS D of the sample against exp, or against exp rounded to a 16- or 8-bit dtype.

    A bf16 value stands for every real that rounds to it, so its ECDF step is compared with
    the CDF at the edges of its rounding interval: against the continuous CDF, the steps of
    bf16's 8-bit mantissa alone add about 0.001 to D, half the 0.1% critical value at 2^20.
    """
    import numpy as np

    if sample.size == 0:
        return float("nan")
    n = sample.size
    if dtype in ROUNDED_DTYPES:
        import ml_dtypes

        from emb_cli.sources.dtypes import numpy_dtype

        values, counts = np.unique(sample, return_counts=True)
        dt = numpy_dtype(dtype)
        stored = values.astype(dt)
        largest = float(ml_dtypes.finfo(dt).max)  # type: ignore[no-untyped-call]
        top = np.array(largest).astype(dt)
        up = np.nextafter(stored, top).astype(np.float64)
        down = np.nextafter(stored, -top).astype(np.float64)
        after = np.cumsum(counts) / n
        before = after - counts / n
        hi = after - _cdf(exp, (values + up) / 2)
        lo = _cdf(exp, (values + down) / 2) - before
        return float(max(hi.max(), lo.max()))
    xs = np.sort(sample)
    f = _cdf(exp, xs)
    hi = np.arange(1, n + 1) / n - f
    lo = f - np.arange(0, n) / n
    return float(max(hi.max(), lo.max()))


def _histogram(values: np.ndarray, bins: int = 24) -> Histogram:
    import numpy as np

    v = values[np.isfinite(values)]
    if v.size == 0:
        return Histogram([], [])
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return Histogram([float(e) for e in edges], [int(c) for c in counts])


def _rows(source: TableSource, ids: list[int], norms: np.ndarray) -> list[RowRef]:
    vocab = source.vocab(fetch=True)  # the table is streamed: a tokenizer.json is small
    tokens = vocab.tokens(ids) if vocab is not None else [None] * len(ids)
    types = vocab.types(ids) if vocab is not None else None
    return [
        RowRef(int(i), float(norms[i]), tokens[n], types[n] if types is not None else None)
        for n, i in enumerate(ids)
    ]


def excluded_rows(info: TableInfo) -> list[int]:
    """The pad row, when the table has it: its zeros are not part of the init."""
    pad = info.pad_token_id
    return [pad] if pad is not None and 0 <= pad < info.vocab_size else []


def scan_pass(info: TableInfo) -> ScanPass:
    """Measures for another pass over the table to fill as it reads (undertrained_rows'
    `scan`): their result() is init_stats' `scanned`, and no pass of its own is made."""
    return ScanPass(info, excluded_rows(info))


def init_stats(source: TableSource, scanned: ScanResult | None = None) -> InitStatsReport:
    """Measure the table beside its init, with a verdict. `scanned`: the measures of a pass
    already made (scan_pass), else init-stats makes one."""
    info = source.info
    s = scanned if scanned is not None else scan(source, exclude=excluded_rows(info))
    if s.excluded != excluded_rows(info):
        raise ValueError("init-stats measures the table without its pad row: use scan_pass()")
    norms = _kept_norms(s)
    against = _against_init(source, s, norms.kept)
    verdict, detail = _verdict(info.built, against, norms.kept, s)
    return _report(source, s, norms, against, verdict, detail)


@dataclass(frozen=True)
class KeptNorms:
    """Step 1: the row norms that describe the init: finite rows, the pad row left out."""

    norms: np.ndarray  # every row's, NaN for rows with NaN/Inf
    keep: np.ndarray
    kept: np.ndarray


def _kept_norms(s: ScanResult) -> KeptNorms:
    import numpy as np

    keep = np.isfinite(s.row_norms)
    for r in s.excluded:
        keep[r] = False
    return KeptNorms(s.row_norms, keep, s.row_norms[keep])


@dataclass(frozen=True)
class AgainstInit:
    """Step 2: what the reference init predicts, and how far the table is from it."""

    law: Expected | None  # None: no init to compare with
    reference: str | None  # the law, and where it came from
    expected: dict[str, float | None] | None
    within: dict[str, float]  # shares of values within 1, 2, 3 std of the law (or the table)
    z: dict[str, float]
    ks: float | None
    ks_critical: float | None


def _against_init(source: TableSource, s: ScanResult, kn: np.ndarray) -> AgainstInit:
    exp, reference = _reference(source, s)
    if exp is None:
        within = _within(s.sample, s.mean, s.std)
        return AgainstInit(None, None, None, within, {}, None, None)
    expected: dict[str, float | None] = {
        "mean": exp.mean,
        "std": exp.std,
        "mean_sq": exp.mean_sq,
        "row_norm_mean": exp.row_norm_exact,
        "row_norm_approx": exp.row_norm_approx,
        "row_norm_std": exp.row_norm_std,
        "within_1_std": exp.within(1),
        "within_2_std": exp.within(2),
        "within_3_std": exp.within(3),
    }
    return AgainstInit(
        law=exp,
        reference=reference,
        expected=expected,
        within=_within(s.sample, exp.mean, exp.std),
        z=_z_scores(s, kn, exp),
        ks=ks_statistic(s.sample, exp, source.info.dtype),
        ks_critical=1.95 / math.sqrt(max(1, s.sample.size)),
    )


def _measured(s: ScanResult, kn: np.ndarray, within: dict[str, float]) -> dict[str, float]:
    nan = float("nan")
    return {
        "mean": s.mean,
        "std": s.std,
        "mean_sq": s.mean_sq,
        "min": s.vmin,
        "max": s.vmax,
        "row_norm_mean": float(kn.mean()) if kn.size else nan,
        "row_norm_std": float(kn.std()) if kn.size else nan,
        "row_norm_min": float(kn.min()) if kn.size else nan,
        "row_norm_max": float(kn.max()) if kn.size else nan,
        **within,
    }


def _pad_row(info: TableInfo, norms: KeptNorms) -> dict[str, Any] | None:
    import numpy as np

    pad = info.pad_token_id
    if pad is None:
        return None
    exists = 0 <= pad < info.vocab_size
    row: dict[str, Any] = {"id": pad, "exists": exists}
    if exists:
        median = float(np.median(norms.kept)) if norms.kept.size else float("nan")
        n = norms.norms[pad]
        row.update(is_zero=bool(n == 0), norm=float(n), median_row_norm=median)
    return row


def _percentiles(kn: np.ndarray) -> dict[str, float]:
    import numpy as np

    if not kn.size:
        return {}
    values = np.percentile(kn, PERCENTILES)
    return {str(p): float(v) for p, v in zip(PERCENTILES, values, strict=True)}


def _report(
    source: TableSource,
    s: ScanResult,
    norms: KeptNorms,
    against: AgainstInit,
    verdict: Verdict,
    detail: str,
) -> InitStatsReport:
    """Step 4: the extreme rows, the zero rows, the pad row and the histograms beside it."""
    import numpy as np

    kn = norms.kept
    order = np.argsort(np.where(norms.keep, norms.norms, np.nan))  # NaN sorts last
    valid = int(norms.keep.sum())
    lowest = order[: min(EXTREME_ROWS, valid)].tolist()
    highest = order[:valid][::-1][:EXTREME_ROWS].tolist()
    zero_ids = np.flatnonzero(norms.norms == 0).tolist()
    return InitStatsReport(
        source=summarize(source.info),
        reference=against.reference,
        values=s.count,
        rows=s.rows,
        excluded_rows=s.excluded,
        measured=_measured(s, kn, against.within),
        expected=against.expected,
        z_scores=against.z,
        ks=against.ks,
        ks_critical=against.ks_critical,
        sample_values=int(s.sample.size),
        row_norm_percentiles=_percentiles(kn),
        lowest_norm_rows=_rows(source, lowest, norms.norms),
        highest_norm_rows=_rows(source, highest, norms.norms),
        zero_rows=len(zero_ids),
        zero_row_ids=zero_ids[:MAX_LISTED],
        nan_values=s.nan_values,
        inf_values=s.inf_values,
        nonfinite_rows=s.nonfinite_rows[:MAX_LISTED],
        pad_row=_pad_row(source.info, norms),
        value_histogram=_histogram(s.sample),
        norm_histogram=_histogram(kn),
        verdict=verdict,
        verdict_detail=detail,
    )


def _reference(source: TableSource, s: ScanResult) -> tuple[Expected | None, str | None]:
    info = source.info
    if info.init is not None:
        exp = expected_for(info.init, info.vocab_size, info.embed_dim)
        return exp, f"the init that built it: {exp.label}"
    if info.initializer_range is not None and info.initializer_range > 0:
        exp = normal(info.initializer_range, info.embed_dim, f"N(0, {info.initializer_range:g})")
        return exp, f"an untrained init from config initializer_range: {exp.label}"
    return None, None


def _z_scores(s: ScanResult, kn: np.ndarray, exp: Expected) -> dict[str, float]:
    z: dict[str, float] = {}
    n = s.count
    if n == 0:
        return z
    z["mean"] = (s.mean - exp.mean) / (exp.std / math.sqrt(n))
    se_var = math.sqrt(max(exp.fourth_central - exp.std**4, 1e-300) / n)
    z["std"] = (s.std - exp.std) / (se_var / (2 * exp.std))
    if kn.size and exp.row_norm_std > 0:
        target = exp.row_norm_exact if exp.row_norm_exact is not None else exp.row_norm_approx
        z["row_norm_mean"] = (float(kn.mean()) - target) / (exp.row_norm_std / math.sqrt(kn.size))
    return z


def _verdict(
    built: bool, against: AgainstInit, kn: np.ndarray, s: ScanResult
) -> tuple[Verdict, str]:
    """Step 3: within Z_LIMIT standard errors and under the KS critical value, or not."""
    exp, z, ks, ks_crit = against.law, against.z, against.ks, against.ks_critical
    if s.count == 0:
        return "unknown", "no finite values to measure"
    if exp is None:
        cv = float(kn.std() / kn.mean()) if kn.size and kn.mean() > 0 else float("nan")
        return "unknown", (
            "no init to compare with (no initializer_range in a config); "
            f"row norms vary by {cv:.1%} (coefficient of variation)"
        )
    worst_key = max(z, key=lambda k: abs(z[k])) if z else None
    worst = abs(z[worst_key]) if worst_key else 0.0
    ks_ok = ks is not None and ks_crit is not None and ks <= ks_crit
    ok = worst <= Z_LIMIT and ks_ok
    how = (
        f"largest deviation {worst:.1f} standard errors ({worst_key}); "
        f"KS D = {ks:.2g} vs {ks_crit:.2g} at the 0.1% level"
    )
    if built:
        return ("consistent-with-init" if ok else "inconsistent-with-init"), (
            f"{'consistent with' if ok else 'NOT consistent with'} {exp.label}: {how}"
        )
    if ok:
        return "init-like", f"still looks like an untrained {exp.label} init: {how}"
    return "trained", f"not an untrained {exp.label} init (trained or re-initialised): {how}"


def contradicts(report: InitStatsReport, expect: str) -> bool:
    """`--expect init|trained`: does the verdict say otherwise (or nothing)?"""
    init_like = report.verdict in ("consistent-with-init", "init-like")
    return report.verdict == "unknown" or init_like != (expect == "init")
