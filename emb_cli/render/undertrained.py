"""Human output of `emb undertrained`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.render.console import out, print_tsv, source_line

if TYPE_CHECKING:
    from emb_cli.analysis.undertrained import UndertrainedReport


def render_undertrained(r: UndertrainedReport) -> None:
    c = out()
    c.print(source_line(r.source))
    n = r.tokenizer_vocab_size
    tok = "no tokenizer" if n is None else f"tokenizer {n:,} tokens"
    c.print(f"{r.rows:,} rows, {tok}; row norms: median {r.norm_median:.4g}, MAD {r.norm_mad:.4g}")
    c.print(f"zero rows: {r.zero_rows:,}" + (f" {r.zero_row_ids[:20]}" if r.zero_rows else ""))
    if r.beyond_tokenizer_rows:
        c.print(
            f"rows past the tokenizer: {r.beyond_tokenizer_rows:,} {r.beyond_tokenizer_ids[:20]}"
        )
    c.print(
        f"cosine on {r.cosine_matrix_role} {r.cosine_matrix}, first PC removed "
        f"({r.pc_explained:.1%} of the variance, {r.pc_iterations} passes)"
    )
    shown = r.reference_ids[:20]
    more = f" ... ({len(r.reference_ids):,} in all)" if len(r.reference_ids) > 20 else ""
    c.print(f"reference ({r.reference_source}: {r.reference_detail}): {shown}{more}")
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))
    t = Table()
    for col in ("rank", "id", "token", "score", "cosine", "norm", "pct", "robust z", "flags"):
        t.add_column(col, justify="left" if col in ("token", "flags") else "right", overflow="fold")
    for rank, x in enumerate(r.candidates, 1):
        marks = (
            ("zero", x.zero),
            ("past-tokenizer", x.beyond_tokenizer),
            ("special", x.special),
            ("chat-template", x.in_chat_template),
            ("reference", x.in_reference),
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


def tsv_undertrained(r: UndertrainedReport) -> None:
    """The candidates: one column per JSON field, flags as true/false."""
    header = [
        "rank", "id", "token", "decoded", "score", "cosine", "norm", "norm_percentile",
        "robust_z", "zero", "beyond_tokenizer", "special", "in_chat_template", "in_reference",
    ]  # fmt: skip
    rows = [
        [
            rank,
            x.id,
            x.token,
            x.decoded,
            x.score,
            x.cosine,
            x.norm,
            x.norm_percentile,
            x.robust_z,
            x.zero,
            x.beyond_tokenizer,
            x.special,
            x.in_chat_template,
            x.in_reference,
        ]  # fmt: skip
        for rank, x in enumerate(r.candidates, 1)
    ]
    print_tsv(header, rows)
