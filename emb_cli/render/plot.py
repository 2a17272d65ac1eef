"""`emb init-stats --plot FILE.png`: the value and row-norm histograms as a real figure."""

from __future__ import annotations

from pathlib import Path

from emb_cli.analysis.init_stats import InitStatsReport
from emb_cli.errors import UsageError
from emb_cli.sources.files.output import check_output, write_new_file


def write_plot(report: InitStatsReport, path: Path, force: bool = False) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'emb-cli[plot]'") from None
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot writes .png, .svg or .pdf files, got {path.name!r}")
    check_output(path, (), force, "--plot", "a new .png, .svg or .pdf file")
    fig, (ax_v, ax_n) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, hist, title in (
        (ax_v, report.value_histogram, f"values ({report.sample_values:,} sampled)"),
        (ax_n, report.norm_histogram, f"row norms ({report.rows:,} rows)"),
    ):
        if hist.counts:
            widths = [b - a for a, b in zip(hist.edges, hist.edges[1:], strict=False)]
            ax.bar(hist.edges[:-1], hist.counts, width=widths, align="edge", color="#4477aa")
        ax.set_title(title)
    exp = report.expected
    if exp is not None and exp.get("row_norm_mean") is not None:
        ax_n.axvline(float(exp["row_norm_mean"] or 0), color="#cc3311", label="expected E||row||")
        ax_n.legend()
    fig.suptitle(f"{report.source.name}: {report.verdict}")
    fig.tight_layout()
    try:
        write_new_file(path, fig.savefig, force, "--plot")
    finally:
        plt.close(fig)
