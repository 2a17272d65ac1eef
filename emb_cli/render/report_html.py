"""`emb report`'s page: one self-contained HTML file (no request when opened).

The verdicts, facts, evidence, histograms (inline SVG) and candidates are HTML written here,
so they read with JavaScript off; the map is drawn by assets/report.js from the JSON block.
Every string from the checkpoint (tokens, names, messages) is escaped: html.escape in the
markup, and `<`, `>`, `&`, U+2028/9 as \\u escapes inside the JSON, so that a token such as
`</script>` cannot end the block it sits in.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from emb_cli import __version__
from emb_cli.analysis.projection import RECALL_K, RECALL_QUERIES
from emb_cli.analysis.report import KIND_LABELS, KINDS, check_rows
from emb_cli.render.output import clean

if TYPE_CHECKING:
    from emb_cli.analysis.padding import PaddingReport
    from emb_cli.analysis.report import DimStats, MapPoints, NormHistogram, ReportPage
    from emb_cli.analysis.ties import TieReport
    from emb_cli.analysis.undertrained import Candidate

# One colour a kind, in KINDS order (normal, special, reserved, flagged, zero, past).
COLORS = ("#7b8794", "#2f6fde", "#9b59b6", "#e8590c", "#d6336c", "#2b8a3e")
STATUSES = ("pass", "warn", "fail", "skip")


def asset(name: str) -> str:
    return (resources.files("emb_cli.render") / "assets" / name).read_text(encoding="utf-8")


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def script_json(obj: Any) -> str:
    """JSON safe inside <script>: no `<`, `>` or `&` (no `</script>`, no `<!--`), and the
    two line separators JavaScript once refused in strings, written as \\u escapes."""
    text = json.dumps(clean(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, rep)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_page(page: ReportPage) -> str:
    body = "\n".join(
        [
            _header(page),
            _verdicts(page.check),
            _map_section(page.points),
            _charts(page.norms, page.dims),
            _candidates(page.candidates),
            _evidence(page.tie, page.padding),
            _facts(page.facts, page.notes),
        ]
    )
    out = asset("report.html")
    for marker, value in (
        ("VERSION", esc(__version__)),
        ("TITLE", esc(f"emb report: {page.source.name}")),
        ("CSS", asset("report.css")),
        ("JS", asset("report.js")),
        ("BODY", body),
        ("DATA", script_json(map_data(page.points))),
    ):
        out = out.replace(f"<!--EMB:{marker}-->", value, 1)
    return out


def map_data(p: MapPoints) -> dict[str, Any]:
    """The JSON block: one list a column, the int8 search vectors as base64."""
    return {
        "ids": p.ids,
        "x": p.x,
        "y": p.y,
        "kind": p.kind,
        "norm": p.norm,
        "score": p.score,
        "token": p.token,
        "vectors": base64.b64encode(p.vectors).decode("ascii"),
        "scales": p.scales,
        "width": p.width,
        "kinds": [KIND_LABELS[k] for k in KINDS],
        "colors": list(COLORS),
    }


def _status(status: object) -> str:
    s = str(status)
    return s if s in STATUSES else "skip"


def _header(page: ReportPage) -> str:
    s = page.source
    status = _status(page.status)
    return (
        "<header><h1>emb report</h1>"
        f'<p class="source">{esc(s.name)} &middot; {s.vocab_size:,} x {s.embed_dim:,} '
        f"{esc(s.dtype)}</p>"
        f'<p class="overall bg-{status}" id="overall" data-status="{status}">overall: '
        f"{esc(page.status)}</p></header>"
    )


def _evidence_text(check: dict[str, Any]) -> str:
    extra = {k: v for k, v in check.items() if k not in ("name", "status", "summary")}
    if not extra:
        return ""
    text = json.dumps(clean(extra), ensure_ascii=False, indent=1)
    return f"<details><summary>evidence</summary><pre>{esc(text)}</pre></details>"


def _verdicts(check: dict[str, Any]) -> str:
    rows = []
    for c in check_rows(check):
        status = _status(c.get("status"))
        rows.append(
            f'<tr data-check="{esc(c.get("name"))}" data-status="{esc(c.get("status"))}">'
            f"<td><code>{esc(c.get('name'))}</code></td>"
            f'<td class="status {status}">{esc(c.get("status"))}</td>'
            f"<td>{esc(c.get('summary'))}{_evidence_text(c)}</td></tr>"
        )
    return (
        '<section id="checks"><h2>Checks (emb check)</h2>'
        '<table id="verdict-table"><thead><tr><th>check</th><th>status</th><th>summary</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _legend() -> str:
    return "".join(
        f'<span><span class="sw" style="background:{COLORS[i]}"></span>{esc(KIND_LABELS[k])}</span>'
        for i, k in enumerate(KINDS)
    )


def _map_section(p: MapPoints) -> str:
    counts = [0] * len(KINDS)
    for k in p.kind:
        counts[k] += 1
    by_kind = ", ".join(f"{counts[i]:,} {KIND_LABELS[k]}" for i, k in enumerate(KINDS) if counts[i])
    drawn = (
        f"all {len(p.ids):,} rows"
        if not p.sampled
        else f"{len(p.ids):,} of {p.table_rows:,} rows (a uniform sample, plus every flagged, "
        "special, reserved and zero row)"
    )
    if p.exact:
        how = f"exact cosine over all {p.width:,} dimensions"
    else:
        how = (
            f"cosine estimated in a {p.width}-dimensional projection: the mean's direction "
            "and the top principal directions"
        )
    if p.recall is not None:
        how += (
            f"; for {RECALL_QUERIES} random rows it finds {p.recall * RECALL_K:.1f} of the true "
            f"{RECALL_K} nearest among the drawn rows"
        )
    return (
        '<section id="map"><h2>Map of the rows</h2>'
        "<noscript><p>The map needs JavaScript; everything else on this page reads without it."
        "</p></noscript>"
        '<div class="controls"><input id="search" type="search" '
        'placeholder="find a token (or #id), Enter" autocomplete="off">'
        f'<div class="legend">{_legend()}</div></div>'
        '<div id="map-wrap"><canvas id="map-canvas" data-drawn="0"></canvas>'
        '<div id="tooltip" hidden></div></div>'
        '<div id="search-result"></div>'
        f'<p class="caption">First two principal components of the centred rows (PC1 '
        f"{_pct(p.explained[0])}, PC2 {_pct(p.explained[1])} of the variance); {drawn}: "
        f"{by_kind}. Hover a point for its id, token, norm and undertrained score; the search "
        f"box marks a token and its 10 nearest neighbours ({how}).</p></section>"
    )


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _charts(norms: NormHistogram, dims: DimStats) -> str:
    curve = (
        f"the curve: the norms a row of {esc(norms.curve_label)} would have"
        if norms.curve_label
        else "no init known (no initializer_range in the config): no expected curve"
    )
    return (
        '<div class="grid"><section id="norms"><h2>Row norms</h2>'
        f'{_histogram_svg(norms)}<p class="caption">Histogram of the rows\' L2 norms; {curve}.'
        '</p></section><section id="dims"><h2>Per-dimension mean and std</h2>'
        f'{_dims_svg(dims)}<p class="caption">Each column\'s mean (blue) and standard '
        f"deviation (orange) over the finite rows, {len(dims.mean):,} dimensions.</p>"
        "</section></div>"
    )


W, H, PAD = 560, 260, 34


def _scale(values: Iterable[float], lo: float, hi: float, a: float, b: float) -> list[float]:
    span = hi - lo if hi > lo else 1.0
    return [a + (v - lo) / span * (b - a) for v in values]


def _polyline(xs: Sequence[float], ys: Sequence[float], color: str) -> str:
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{pts}"/>'


def _axis(lo: float, hi: float, y_label: str) -> str:
    return (
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 8}" y2="{H - PAD}" stroke="#999"/>'
        f'<text x="{PAD}" y="{H - PAD + 14}">{lo:.4g}</text>'
        f'<text x="{W - 8}" y="{H - PAD + 14}" text-anchor="end">{hi:.4g}</text>'
        f'<text x="4" y="14">{esc(y_label)}</text>'
    )


def _histogram_svg(h: NormHistogram) -> str:
    lo, hi = h.edges[0], h.edges[-1]
    top = max([*h.counts, *h.curve_y, 1])
    bars = []
    xs = _scale(h.edges, lo, hi, PAD, W - 8)
    for i, c in enumerate(h.counts):
        y = (H - PAD) - c / top * (H - PAD - 20)
        bars.append(
            f'<rect x="{xs[i]:.1f}" y="{y:.1f}" width="{max(xs[i + 1] - xs[i] - 0.5, 0.5):.1f}" '
            f'height="{H - PAD - y:.1f}" fill="#8fa8c8"><title>{h.edges[i]:.4g} to '
            f"{h.edges[i + 1]:.4g}: {c:,} rows</title></rect>"
        )
    curve = ""
    if h.curve_x:
        cx = _scale(h.curve_x, lo, hi, PAD, W - 8)
        cy = [(H - PAD) - v / top * (H - PAD - 20) for v in h.curve_y]
        curve = _polyline(cx, cy, "#e8590c")
    return (
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="row norm histogram">'
        f"{''.join(bars)}{curve}{_axis(lo, hi, f'rows (max {max(h.counts, default=0):,})')}"
        '<text x="50%" y="252" text-anchor="middle">row norm</text></svg>'
    )


def _dims_svg(d: DimStats) -> str:
    vals = [v for v in (*d.mean, *d.std) if math.isfinite(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    lo = min(lo, 0.0)
    n = max(1, len(d.mean) - 1)
    xs = _scale(range(len(d.mean)), 0, n, PAD, W - 8)
    lines = []
    for values, color in ((d.mean, "#2f6fde"), (d.std, "#e8590c")):
        ys = _scale(values, lo, hi, H - PAD, 20)
        lines.append(_polyline(xs, ys, color))
    zero = _scale([0.0], lo, hi, H - PAD, 20)[0]
    return (
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="per-dimension mean '
        f'and std"><line x1="{PAD}" y1="{zero:.1f}" x2="{W - 8}" y2="{zero:.1f}" '
        f'stroke="#ccc" stroke-dasharray="3 3"/>{"".join(lines)}'
        f"{_axis(0, len(d.mean) - 1, f'{lo:.3g} .. {hi:.3g}')}"
        '<text x="50%" y="252" text-anchor="middle">dimension</text></svg>'
    )


def _tok(t: str | None) -> str:
    return '<span class="tok">-</span>' if t is None else f'<span class="tok">{esc(t)}</span>'


def _candidates(cands: Sequence[Candidate]) -> str:
    if not cands:
        body = "<p>No candidates (no undertrained ranking for this table).</p>"
    else:
        rows = "".join(
            f'<tr data-id="{c.id}"><td class="num">{c.id}</td><td>{_tok(c.token)}</td>'
            f'<td class="num">{c.score:.3f}</td><td class="num">{c.norm:.4g}</td>'
            f"<td>{esc(_why(c))}</td></tr>"
            for c in cands
        )
        body = (
            '<table id="candidates"><thead><tr><th>id</th><th>token</th><th>score</th>'
            f"<th>norm</th><th>why</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return f'<section id="undertrained"><h2>Undertrained candidates</h2>{body}</section>'


def _why(c: Candidate) -> str:
    parts = [
        name
        for name, on in (
            ("zero row", c.zero),
            ("past the tokenizer", c.beyond_tokenizer),
            ("special", c.special),
            ("in the chat template", c.in_chat_template),
            ("declared unused", c.declared_unused),
            ("unreachable", c.unreachable),
        )
        if on
    ]
    if c.robust_z is not None:
        parts.append(f"robust z {c.robust_z:+.2f}")
    if c.cosine is not None:
        parts.append(f"cosine {c.cosine:.3f}")
    return ", ".join(parts)


def _evidence(tie: TieReport | None, padding: PaddingReport | None) -> str:
    parts = ['<section id="evidence"><h2>Tie and padding</h2>']
    if tie is not None:
        lines = "".join(f"<li>{esc(e)}</li>" for e in tie.evidence)
        parts.append(
            f"<p><b>tie</b>: {esc(tie.verdict)} (config tied: {esc(tie.config_tied)}, "
            f"{esc(tie.config_tied_source)}; head tensor {esc(tie.head_tensor or '-')})</p>"
            f'<ul class="evidence">{lines}</ul>'
        )
    if padding is not None:
        found = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in padding.pad_ids_found.items())
        parts.append(f"<p><b>padding</b>: {esc(padding.verdict)}: {esc(padding.detail)}</p>")
        if padding.pad_token_id is not None:
            norm = "-" if padding.row_norm is None else f"{padding.row_norm:.4g}"
            median = "-" if padding.median_row_norm is None else f"{padding.median_row_norm:.4g}"
            parts.append(
                f'<ul class="evidence"><li>pad id {esc(padding.pad_token_id)} '
                f"({esc(padding.pad_source)}); ids found: {found or 'none'}</li>"
                f"<li>pad row norm {norm}; median row norm {median}</li></ul>"
            )
    if tie is None and padding is None:
        parts.append("<p>Not measured.</p>")
    parts.append("</section>")
    return "".join(parts)


def _facts(facts: Sequence[tuple[str, str]], notes: Sequence[str]) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    note = "".join(f"<li>{esc(n)}</li>" for n in notes)
    notes_html = f'<ul class="evidence">{note}</ul>' if notes else ""
    return (
        f'<section id="facts"><h2>Table facts</h2><dl class="facts">{items}</dl>'
        f"{notes_html}</section>"
    )
