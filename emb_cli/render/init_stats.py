"""Human output of `emb init-stats`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.render.console import num, out, source_line

if TYPE_CHECKING:
    from emb_cli.analysis.init_stats import Histogram, InitStatsReport


def _bars(h: Histogram, label: str, width: int = 40) -> Table:
    t = Table(title=label, title_justify="left", show_header=False, show_edge=False, box=None)
    t.add_column(justify="right")
    t.add_column()
    t.add_column(justify="right")
    top = max(h.counts) if h.counts else 0
    for i, count in enumerate(h.counts):
        bar = "█" * (round(width * count / top) if top else 0)
        t.add_row(f"{h.edges[i]:+.4g}", bar, f"{count:,}")
    return t


def render_init_stats(r: InitStatsReport, histograms: bool = True) -> None:
    c = out()
    c.print(source_line(r.source))
    excl = f"; pad row {r.excluded_rows} left out" if r.excluded_rows else ""
    c.print(f"{r.values:,} values in {r.rows:,} rows{excl}")
    if r.reference:
        c.print(f"compared with {r.reference}")
    t = Table()
    t.add_column("statistic")
    t.add_column("measured", justify="right")
    if r.expected is not None:
        t.add_column("expected", justify="right")
        t.add_column("z (std errors)", justify="right")
    keys = [
        "mean",
        "std",
        "mean_sq",
        "min",
        "max",
        "row_norm_mean",
        "row_norm_std",
        "row_norm_min",
        "row_norm_max",
        "within_1_std",
        "within_2_std",
        "within_3_std",
    ]
    for k in keys:
        if k not in r.measured and (r.expected is None or k not in r.expected):
            continue
        row = [k, num(r.measured.get(k))]
        if r.expected is not None:
            row.append(num(r.expected.get(k)))
            row.append(f"{r.z_scores[k]:+.2f}" if k in r.z_scores else "")
        t.add_row(*row)
    if r.expected is not None:
        # sqrt(D E[x^2]): std*sqrt(D) when the init has zero mean
        approx = num(r.expected.get("row_norm_approx"))
        t.add_row("sqrt(D E[x^2]) (std*sqrt(D) at mean 0)", "", approx, "")
        t.add_row("KS D (sampled)", num(r.ks), f"<= {num(r.ks_critical)}", "")
    c.print(t)
    pct = "  ".join(f"p{k} {v:.4g}" for k, v in r.row_norm_percentiles.items())
    c.print(f"row norms: {pct}")
    for label, rows in (("lowest", r.lowest_norm_rows), ("highest", r.highest_norm_rows)):
        shown = ", ".join(
            f"{x.id}{' ' + repr(x.token) if x.token is not None else ''} ({x.norm:.4g})"
            for x in rows
        )
        c.print(f"{label} norms: {shown}")
    c.print(f"zero rows: {r.zero_rows:,}" + (f" {r.zero_row_ids[:20]}" if r.zero_rows else ""))
    c.print(
        f"NaN values: {r.nan_values:,}  Inf values: {r.inf_values:,}"
        + (f"  rows {r.nonfinite_rows[:20]}" if r.nonfinite_rows else "")
    )
    if r.pad_row is not None:
        p = r.pad_row
        if p.get("exists"):
            zero = "exactly zero" if p["is_zero"] else "not zero"
            c.print(f"pad row {p['id']}: {zero}, norm {p['norm']:.4g}")
        else:
            c.print(f"pad id {p['id']} has no row in this table")
    if histograms:
        c.print(_bars(r.value_histogram, f"values ({r.sample_values:,} sampled)"))
        c.print(_bars(r.norm_histogram, "row norms"))
    style = "green" if r.verdict in ("consistent-with-init", "init-like") else "yellow"
    c.print(Text(f"verdict: {r.verdict}: {r.verdict_detail}", style=style))
