"""What `emb report`'s page holds: emb check's verdicts and measures, the map, the histograms.

Everything comes from the passes `emb check` makes (its CheckOutcome) plus the one pass of
projection.py; nothing here prints or formats HTML (render/report_html.py does).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.analysis.distributions import Expected, expected_for, normal
from emb_cli.analysis.projection import Projection, choose_rows, project
from emb_cli.analysis.unused_tokens import is_declared_unused
from emb_cli.sources.base import TableSource

if TYPE_CHECKING:
    import numpy as np

    from emb_cli.analysis.check import CheckOutcome, Measured
    from emb_cli.analysis.padding import PaddingReport
    from emb_cli.analysis.ties import TieReport
    from emb_cli.analysis.undertrained import Candidate
    from emb_cli.sources.files.export_files import ExportRows

# A point's kind, by precedence: a row past the tokenizer or a zero row is that first; a
# flagged row is flagged whatever else it is; then special, reserved, the rest.
Kind = Literal["past-tokenizer", "zero", "flagged", "special", "reserved", "normal"]
KINDS: tuple[Kind, ...] = ("normal", "special", "reserved", "flagged", "zero", "past-tokenizer")
KIND_LABELS: dict[Kind, str] = {
    "normal": "normal",
    "special": "special",
    "reserved": "reserved / unused",
    "flagged": "flagged undertrained",
    "zero": "zero row",
    "past-tokenizer": "past the tokenizer",
}
NORM_BINS = 60
CURVE_POINTS = 200


@dataclass(frozen=True)
class RowFlags:
    """Per row, what the checks found (numpy bool arrays over the whole table)."""

    zero: np.ndarray
    beyond: np.ndarray  # past the tokenizer's vocabulary
    flagged: np.ndarray  # undertrained: zero, past the tokenizer, or score >= flag_score
    special: np.ndarray
    reserved: np.ndarray  # [unusedN], <|reserved_special_token_N|>, GGUF type "unused"
    scores: dict[int, float]  # the undertrained scores emb check lists (its candidates)


@dataclass(frozen=True)
class MapPoints:
    """The drawn rows, column by column (the page's JSON)."""

    ids: list[int]
    x: list[float]
    y: list[float]
    kind: list[int]  # index into KINDS
    norm: list[float]
    score: list[float | None]  # None: not among the candidates emb check ranked
    token: list[str | None]
    vectors: bytes  # int8, len(ids) x width, row-major: the search box's cosine estimates
    scales: list[float]
    width: int
    exact: bool
    explained: tuple[float, float]
    recall: float | None
    sampled: bool  # above MAP_ROWS rows: a uniform sample plus every row of note
    table_rows: int
    nonfinite_ids: list[int]


@dataclass(frozen=True)
class NormHistogram:
    edges: list[float]
    counts: list[int]
    curve_x: list[float]  # the init's expected density, scaled to counts per bin
    curve_y: list[float]
    curve_label: str | None  # None: the init is not known


@dataclass(frozen=True)
class DimStats:
    mean: list[float]
    std: list[float]


@dataclass(frozen=True)
class ReportPage:
    source: SourceSummary
    status: str
    check: dict[str, Any]  # the document `emb check --json` prints
    facts: list[tuple[str, str]]
    tie: TieReport | None
    padding: PaddingReport | None
    norms: NormHistogram
    dims: DimStats
    points: MapPoints
    candidates: list[Candidate]
    notes: list[str]


def row_flags(source: TableSource, measured: Measured) -> RowFlags:
    """Zero, past-the-tokenizer, flagged, special and reserved rows, from check's measures
    and the vocabulary's tokens."""
    import numpy as np

    rows = source.info.vocab_size
    norms = measured.row_norms
    zero = norms == 0
    beyond = np.zeros(rows, dtype=bool)
    flagged = zero.copy()
    scores: dict[int, float] = {}
    und = measured.undertrained
    if und is not None:
        if und.tokenizer_vocab_size is not None and und.tokenizer_vocab_size < rows:
            beyond[und.tokenizer_vocab_size :] = True
        flagged |= beyond
        for c in [*und.candidates, *und.reference_candidates]:
            scores[c.id] = c.score
            if c.score >= und.flag_score:
                flagged[c.id] = True
    if measured.flagged is not None:
        flagged |= measured.flagged
    special = np.zeros(rows, dtype=bool)
    special[[i for i in measured.special_ids if 0 <= i < rows]] = True
    return RowFlags(zero, beyond, flagged, special, _reserved(source, rows), scores)


def _reserved(source: TableSource, rows: int) -> np.ndarray:
    import numpy as np

    out = np.zeros(rows, dtype=bool)
    vocab = source.vocab(fetch=True)
    if vocab is None:
        return out
    n = min(rows, vocab.size)
    for i, t in enumerate(vocab.tokens(range(n))):
        if t is not None and is_declared_unused(t):
            out[i] = True
    types = vocab.all_types()
    if types is not None:
        out[: min(n, len(types))] |= np.asarray(types[:n]) == "unused"
    return out


def kinds_of(flags: RowFlags, ids: np.ndarray) -> np.ndarray:
    """Each row's kind (index into KINDS), by the precedence of Kind."""
    import numpy as np

    k = np.full(ids.size, KINDS.index("normal"), dtype=np.int8)
    for name, mask in (
        ("reserved", flags.reserved),
        ("special", flags.special),
        ("flagged", flags.flagged),
        ("zero", flags.zero),
        ("past-tokenizer", flags.beyond),
    ):
        k[mask[ids]] = KINDS.index(name)  # later wins
    return k


def kept_rows(flags: RowFlags) -> list[int]:
    """Rows every sample keeps: flagged, special, reserved, zero, past the tokenizer."""
    import numpy as np

    mask = flags.flagged | flags.special | flags.reserved | flags.zero | flags.beyond
    return [int(i) for i in np.flatnonzero(mask)]


def map_points(
    source: TableSource, flags: RowFlags, norms: np.ndarray, proj: Projection
) -> MapPoints:
    from emb_cli.analysis.lookup import token_strings
    from emb_cli.analysis.projection import MAP_ROWS

    ids = [int(i) for i in proj.ids]
    tokens: list[str | None] = [None] * len(ids)
    vocab = source.vocab(fetch=True)
    if vocab is not None:
        tokens = list(vocab.tokens(ids))
    elif (strings := token_strings(source, ids)) is not None:
        tokens = list(strings)
    rows = source.info.vocab_size
    return MapPoints(
        ids=ids,
        x=shortened(proj.xy[:, 0]),
        y=shortened(proj.xy[:, 1]),
        kind=kinds_of(flags, proj.ids).tolist(),
        norm=shortened(norms[proj.ids]),
        score=[flags.scores.get(i) for i in ids],
        token=tokens,
        vectors=proj.vectors.tobytes(),
        scales=shortened(proj.scales),
        width=proj.width,
        exact=proj.exact,
        explained=proj.explained,
        recall=proj.recall,
        sampled=rows > MAP_ROWS,
        table_rows=rows,
        nonfinite_ids=proj.nonfinite_ids,
    )


def _short(v: float, digits: int = 5) -> float:
    """A float rounded to `digits` significant digits: the page's JSON stays small."""
    if not math.isfinite(v) or v == 0:
        return 0.0 if v == 0 else v
    return round(v, digits - 1 - math.floor(math.log10(abs(v))))


def shortened(values: np.ndarray, digits: int = 5) -> list[float]:
    """_short over an array at numpy speed: k / 10^n, correctly rounded, prints as the short
    decimal (10^n is exact up to 10^22)."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    ok = np.isfinite(v) & (v != 0)
    mag = np.floor(np.log10(np.abs(v[ok])))
    places = (digits - 1 - mag).astype(np.int64)
    scale = np.power(10.0, np.abs(places))
    k = np.rint(np.where(places >= 0, v[ok] * scale, v[ok] / scale))
    out[ok] = np.where(places >= 0, k / scale, k * scale)
    result: list[float] = out.tolist()
    return result


def expected_norm_law(source: TableSource) -> Expected | None:
    """The init the rows are compared with, as init-stats chooses it."""
    info = source.info
    if info.init is not None:
        return expected_for(info.init, info.vocab_size, info.embed_dim)
    if info.initializer_range is not None and info.initializer_range > 0:
        r = info.initializer_range
        return normal(r, info.embed_dim, f"N(0, {r:g}) from config initializer_range")
    return None


def norm_density(exp: Expected, dim: int, xs: np.ndarray) -> np.ndarray:
    """The density of a row's norm: std times a chi law with D degrees of freedom for a
    normal init; a normal approximation (its mean and std) for a uniform one."""
    import numpy as np

    if exp.family == "normal" and exp.std > 0:
        t = np.maximum(xs / exp.std, 1e-300)
        k = dim
        log_pdf = (k - 1) * np.log(t) - t * t / 2 - (k / 2 - 1) * math.log(2) - math.lgamma(k / 2)
        out: np.ndarray = np.exp(log_pdf) / exp.std
        return out
    mu, sd = exp.row_norm_exact or exp.row_norm_approx, exp.row_norm_std
    if sd <= 0:
        return np.zeros_like(xs)
    return np.exp(-0.5 * ((xs - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def norm_histogram(source: TableSource, norms: np.ndarray) -> NormHistogram:
    import numpy as np

    good = norms[np.isfinite(norms)]
    exp = expected_norm_law(source)
    lo, hi = (float(good.min()), float(good.max())) if good.size else (0.0, 1.0)
    if exp is not None:  # the curve's bulk stays in view
        mu = exp.row_norm_exact or exp.row_norm_approx
        lo, hi = min(lo, mu - 5 * exp.row_norm_std), max(hi, mu + 5 * exp.row_norm_std)
        lo = max(lo, 0.0)
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(good, bins=NORM_BINS, range=(lo, hi))
    cx: list[float] = []
    cy: list[float] = []
    if exp is not None:
        xs = np.linspace(lo, hi, CURVE_POINTS)
        width = (hi - lo) / NORM_BINS
        ys = norm_density(exp, source.info.embed_dim, xs) * good.size * width
        cx, cy = [_short(float(v)) for v in xs], [_short(float(v)) for v in ys]
    return NormHistogram(
        edges=[_short(float(e), 6) for e in edges],
        counts=[int(c) for c in counts],
        curve_x=cx,
        curve_y=cy,
        curve_label=exp.label if exp is not None else None,
    )


def table_facts(source: TableSource, measured: Measured) -> list[tuple[str, str]]:
    """The facts `info` and `stats` give, as (label, value) lines."""
    from emb_cli.analysis.counting import count

    info = source.info
    c = count(info)
    facts = [
        ("source", info.name),
        ("tensor", info.tensor_name or "(built)"),
        ("shape", f"{info.vocab_size:,} x {info.embed_dim:,}"),
        ("dtype", info.dtype),
        ("parameters", f"{c.params:,}"),
        ("config vocab_size", _opt(info.config_vocab_size)),
        ("model_type", _opt(info.model_type)),
        ("tied (config)", f"{_opt(info.tied)} ({info.tied_source or 'unknown'})"),
        ("head tensor", _opt(info.head_name)),
        ("pad token id", f"{_opt(info.pad_token_id)} ({info.pad_source or 'none'})"),
    ]
    und = measured.undertrained
    if und is not None:
        facts.append(("tokenizer size", _opt(und.tokenizer_vocab_size)))
    if measured.init is not None:
        m = measured.init.measured
        facts.append(("mean / std of values", f"{m.get('mean', 0):.6g} / {m.get('std', 0):.6g}"))
        facts.append(("init verdict", f"{measured.init.verdict}: {measured.init.verdict_detail}"))
    facts.append(("special tokens", f"{len(measured.special_ids):,}"))
    return facts


def _opt(v: object) -> str:
    return (
        "-" if v is None else f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
    )


def build_report(source: TableSource, outcome: CheckOutcome) -> ReportPage:
    """The page's content: check's verdicts and measures, and the projection pass."""

    measured = outcome.measured
    check = _check_json(outcome.report)
    flags = row_flags(source, measured)
    ids = choose_rows(source.info.vocab_size, kept_rows(flags))
    proj = project(source, ids, measured.row_norms)
    points = map_points(source, flags, measured.row_norms, proj)
    und = measured.undertrained
    notes = []
    if proj.nonfinite_ids:
        notes.append(f"{len(proj.nonfinite_ids)} drawn rows hold NaN/Inf and are not on the map")
    dims = DimStats(mean=shortened(proj.col_mean), std=shortened(proj.col_std))
    return ReportPage(
        source=summarize(source.info),
        status=str(check.get("status", "")),
        check=check,
        facts=table_facts(source, measured),
        tie=measured.tie,
        padding=measured.padding,
        norms=norm_histogram(source, measured.row_norms),
        dims=dims,
        points=points,
        candidates=list(und.candidates) if und is not None else [],
        notes=notes,
    )


def _check_json(report: Any) -> dict[str, Any]:
    out: dict[str, Any] = report if isinstance(report, dict) else asdict(report)
    return out


def check_rows(check: dict[str, Any]) -> Sequence[dict[str, Any]]:
    rows: Sequence[dict[str, Any]] = check.get("checks", [])
    return rows


def export_rows(source: TableSource, outcome: CheckOutcome, sample: int) -> ExportRows:
    """`emb export`'s rows: `sample` uniform rows plus every row of note (all rows when the
    table has at most `sample`), with id, token, kind, norm and score."""
    from emb_cli.sources.base import rows_per_chunk
    from emb_cli.sources.files.export_files import ExportRows

    measured = outcome.measured
    flags = row_flags(source, measured)
    ids = choose_rows(source.info.vocab_size, kept_rows(flags), limit=sample)
    import numpy as np

    arr = np.asarray(ids, dtype=np.int64)
    vocab = source.vocab(fetch=True)
    tokens: list[str | None] = list(vocab.tokens(ids)) if vocab is not None else [None] * len(ids)
    step = rows_per_chunk(source.info.embed_dim)

    def blocks() -> Iterator[np.ndarray]:
        for at in range(0, len(ids), step):
            yield source.rows(ids[at : at + step])

    return ExportRows(
        ids=ids,
        token=tokens,
        kind=[KINDS[k] for k in kinds_of(flags, arr)],
        norm=[float(measured.row_norms[i]) for i in ids],
        score=[flags.scores.get(i) for i in ids],
        dim=source.info.embed_dim,
        blocks=blocks,
    )
