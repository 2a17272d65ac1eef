"""Human output of `emb undertrained`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.analysis.undertrained import Candidate
from emb_cli.render.console import out, source_line
from emb_cli.render.output import Tsv, cells, columns

if TYPE_CHECKING:
    from emb_cli.analysis.undertrained import UndertrainedReport


def render_undertrained(r: UndertrainedReport) -> None:
    c = out()
    c.print(source_line(r.source))
    n = r.tokenizer_vocab_size
    tok = "no tokenizer" if n is None else f"tokenizer {n:,} tokens"
    med = "-" if r.norm_median is None else f"{r.norm_median:.4g}"
    mad = "-" if r.norm_mad is None else f"{r.norm_mad:.4g}"
    c.print(f"{r.rows:,} rows, {tok}; row norms: median {med}, MAD {mad}")
    c.print(f"zero rows: {r.zero_rows:,}" + (f" {r.zero_row_ids[:20]}" if r.zero_rows else ""))
    if r.nonfinite_rows:
        c.print(f"rows with NaN/Inf: {r.nonfinite_rows:,} {r.nonfinite_row_ids[:20]}")
    if r.beyond_tokenizer_rows:
        c.print(
            f"rows past the tokenizer: {r.beyond_tokenizer_rows:,} {r.beyond_tokenizer_ids[:20]}"
        )
    if r.declared_unused_rows:
        c.print(f"declared unused: {r.declared_unused_rows:,} {r.declared_unused_ids[:20]}")
    if r.unreachable_rows is not None:
        c.print(
            f"unreachable: {r.unreachable_rows:,} of {r.unreachable_tested:,} tested"
            + (f" {r.unreachable_ids[:20]}" if r.unreachable_rows else "")
        )
    if r.cosine_computed and r.pc_explained is not None:
        what = "removed" if r.pc_removed else "kept (no dominant direction)"
        c.print(
            f"cosine on {r.cosine_matrix_role} {r.cosine_matrix}; first PC {what}: "
            f"{r.pc_explained:.1%} of the variance, gap {r.pc_gap:.0%}, "
            f"{r.pc_method}, {r.pc_passes} passes"
        )
    shown = r.reference_ids[:20]
    more = f" ... ({r.reference_rows:,} in all)" if r.reference_rows > 20 else ""
    c.print(f"reference ({r.reference_source}: {r.reference_detail}): {shown}{more}")
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))
    for title, cands in (
        ("rows outside the reference set", r.candidates),
        ("rows inside the reference set", r.reference_candidates),
    ):
        if not cands:
            continue
        t = Table(title=title)
        for col in ("rank", "id", "token", "score", "cosine", "norm", "pct", "robust z", "flags"):
            just = "left" if col in ("token", "flags") else "right"
            t.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
        for rank, x in enumerate(cands, 1):
            marks = (
                ("zero", x.zero),
                ("past-tokenizer", x.beyond_tokenizer),
                ("unused", x.declared_unused),
                ("unreachable", x.unreachable),
                ("special", x.special),
                ("chat-template", x.in_chat_template),
            )
            t.add_row(
                str(rank),
                str(x.id),
                "-" if x.token is None else repr(x.token),
                f"{x.score:.3f}",
                "-" if x.cosine is None else f"{x.cosine:.4f}",
                f"{x.norm:.4g}",
                f"{x.norm_percentile:.2f}",
                "-" if x.robust_z is None else f"{x.robust_z:+.2f}",
                " ".join(name for name, on in marks if on),
            )
        c.print(t)
    why = f"zero, past the tokenizer, or score >= {r.flag_score:g}"
    c.print(Text(f"flagged: {r.flagged:,} rows ({why})", style="yellow" if r.flagged else "green"))


def tsv_undertrained(r: UndertrainedReport) -> Tsv:
    """The candidates, then the reference set's: rank, a Candidate (flags as true/false), and
    `set` (candidates | reference) saying which list a row is from."""
    cols = columns(Candidate, first=("id", "token", "decoded", "score", "cosine"))
    rows = [
        [rank, *cells(x, cols), where]
        for where, cands in (("candidates", r.candidates), ("reference", r.reference_candidates))
        for rank, x in enumerate(cands, 1)
    ]
    return Tsv(["rank", *cols, "set"], rows)
