"""The only module that imports rich: tables for people, one JSON document for scripts."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from emb_cli.analysis.common import SourceSummary
    from emb_cli.analysis.counting import CountReport
    from emb_cli.analysis.info import InfoReport
    from emb_cli.analysis.init_stats import Histogram, InitStatsReport
    from emb_cli.analysis.lookup import BatchLookupResult, LookupResult
    from emb_cli.analysis.padding import GradientCheck, PaddingReport
    from emb_cli.analysis.ties import TieReport

# torch's print options: summarise past 1000 elements, 3 edge items each side.
TORCH_THRESHOLD = 1000
TORCH_EDGEITEMS = 3


def out() -> Console:
    # markup=False: token strings such as "[/b]" or "[PAD]" are data, not rich markup.
    return Console(highlight=False, soft_wrap=False, markup=False)


def err() -> Console:
    return Console(stderr=True, highlight=False, markup=False)


def _clean(obj: Any) -> Any:
    """JSON has no NaN/Infinity: write null, and keep every finite float exact."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def print_json(report: Any) -> None:
    is_instance = dataclasses.is_dataclass(report) and not isinstance(report, type)
    data = dataclasses.asdict(report) if is_instance else report
    sys.stdout.write(json.dumps(_clean(data), allow_nan=False) + "\n")


def warn(message: str) -> None:
    err().print(Text(f"Warning: {message}", style="yellow"))


def fmt_float(x: float, sci: bool) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4e}" if sci else f"{x:.4f}"


def _use_sci(values: Sequence[float]) -> bool:
    finite = [abs(v) for v in values if math.isfinite(v) and v != 0]
    # torch switches to scientific notation past these magnitudes
    return bool(finite) and (
        max(finite) >= 1e8 or min(finite) < 1e-4 or max(finite) / min(finite) > 1000
    )


def fmt_vector(row: Sequence[float], summarize: bool, sci: bool) -> str:
    if summarize and len(row) > 2 * TORCH_EDGEITEMS:
        head = [fmt_float(v, sci) for v in row[:TORCH_EDGEITEMS]]
        tail = [fmt_float(v, sci) for v in row[-TORCH_EDGEITEMS:]]
        return "[" + ", ".join(head) + ", ..., " + ", ".join(tail) + "]"
    return "[" + ", ".join(fmt_float(v, sci) for v in row) + "]"


def _source_line(s: SourceSummary) -> str:
    pad = "none" if s.pad_token_id is None else f"{s.pad_token_id} ({s.pad_source})"
    tied = {True: "tied", False: "untied", None: "tie unknown"}[s.tied]
    what = f" tensor {s.tensor}" if s.tensor else ""
    init = f", init {s.init}" if s.init else ""
    label = s.origin if s.origin == s.name else f"{s.origin} {s.name}"
    line = f"{label}{what}: {s.vocab_size:,} x {s.embed_dim:,} {s.dtype}, pad {pad}, {tied}{init}"
    return "\n".join([line, *(f"note: {n}" for n in s.notes)])


def render_lookup(r: LookupResult, full: bool) -> None:
    c = out()
    c.print(_source_line(r.source))
    shown = r.ids if len(r.ids) <= 12 else [*r.ids[:6], "...", *r.ids[-3:]]
    ids = ", ".join(map(str, shown))
    c.print(f"shape {tuple(r.shape)}  = embed(torch.tensor([[{ids}]])).shape")
    summarize = not full and len(r.ids) * r.shape[2] > TORCH_THRESHOLD
    flat = [v for row in r.vectors for v in row]
    sci = _use_sci(flat)
    t = Table(show_edge=False, pad_edge=False)
    t.add_column("pos", justify="right")
    t.add_column("id", justify="right")
    if r.tokens is not None:
        t.add_column("token")
    t.add_column("norm", justify="right")
    t.add_column("vector" + ("" if full or not summarize else " (--full for all)"), overflow="fold")
    for pos, (tid, row, norm) in enumerate(zip(r.ids, r.vectors, r.norms, strict=True)):
        cells = [str(pos), str(tid)]
        if r.tokens is not None:
            cells.append(repr(r.tokens[pos]))
        cells += [f"{norm:.4f}", fmt_vector(row, summarize, sci)]
        t.add_row(*cells)
    c.print(t)


def render_batch(r: BatchLookupResult, full: bool) -> None:
    c = out()
    c.print(_source_line(r.source))
    c.print(f"input_ids {r.batch}  (lengths {r.lengths}, padded with {r.pad_token_id})")
    c.print(f"shape {tuple(r.shape)}  = embed(input_ids).shape")
    summarize = not full and r.shape[0] * r.shape[1] * r.shape[2] > TORCH_THRESHOLD
    sci = _use_sci([v for seq in r.vectors for row in seq for v in row])
    padded = {(b, t) for b, t in r.padded_positions}
    t = Table(show_edge=False, pad_edge=False)
    for col in ("b", "t", "id", "vector"):
        t.add_column(col, justify="right" if col != "vector" else "left", overflow="fold")
    for b, seq in enumerate(r.vectors):
        for pos, row in enumerate(seq):
            mark = " (pad)" if (b, pos) in padded else ""
            t.add_row(str(b), str(pos), f"{r.batch[b][pos]}{mark}", fmt_vector(row, summarize, sci))
    c.print(t)
    if r.padded_positions:
        zero = r.padded_positions_zero
        c.print(
            f"padded positions {len(r.padded_positions)}: "
            + (
                "all exactly zero vectors (the pad row is zero)"
                if zero
                else "NOT zero: the pad row holds values, so attention masks must keep them out"
            )
        )


def _human_bytes(n: int | float) -> str:
    return f"{n:,.0f} B  = {n / 1e9:,.3f} GB = {n / 2**30:,.3f} GiB"


def render_count(r: CountReport) -> None:
    c = out()
    c.print(_source_line(r.source))
    c.print(f"params  {r.vocab_size:,} x {r.hidden_size:,} = {r.params:,}")
    t = Table(title="one embedding table", title_justify="left")
    t.add_column("dtype")
    t.add_column("bytes", justify="right")
    t.add_column("GB (1e9)", justify="right")
    t.add_column("GiB (2^30)", justify="right")
    for name, b in r.bytes.items():
        t.add_row(name, f"{b:,}", f"{b / 1e9:,.3f}", f"{b / 2**30:,.3f}")
    c.print(t)
    u = r.untied_head
    ub: dict[str, int] = u["bytes"]  # type: ignore[assignment]
    c.print(
        f"with an untied LM head ({r.vocab_size:,} x {r.hidden_size:,} again): "
        f"{u['params']:,} params, fp32 {_human_bytes(ub['float32'])}, "
        f"bf16 {_human_bytes(ub['bfloat16'])}"
    )
    tied = {
        True: "tied: head shares the table",
        False: "untied: head stored separately",
        None: "tie unknown",
    }
    c.print(f"this model: {tied[r.tied]} -> {r.stored_params:,} params stored")
    t = Table(title="training memory for those params, AdamW (GiB)", title_justify="left")
    for col in (
        "recipe",
        "weights",
        "grads",
        "master",
        "adam m",
        "adam v",
        "total bytes",
        "GB",
        "GiB",
    ):
        t.add_column(col, justify="left" if col == "recipe" else "right")
    for m in r.training:
        t.add_row(
            m.recipe.split(":")[0],
            *(
                f"{x / 2**30:,.2f}"
                for x in (m.weights, m.gradients, m.master_weights, m.adam_m, m.adam_v)
            ),
            f"{m.total:,}",
            f"{m.total / 1e9:,.2f}",
            f"{m.total / 2**30:,.2f}",
        )
    c.print(t)
    for m in r.training:
        c.print(f"  {m.recipe}: {m.bytes_per_param} bytes/param")
    c.print(
        "activations and framework overhead not included; int4 has no quantisation scales counted"
    )


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.6g}"


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
    c.print(_source_line(r.source))
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
        row = [k, _num(r.measured.get(k))]
        if r.expected is not None:
            row.append(_num(r.expected.get(k)))
            row.append(f"{r.z_scores[k]:+.2f}" if k in r.z_scores else "")
        t.add_row(*row)
    if r.expected is not None:
        # sqrt(D E[x^2]): std*sqrt(D) when the init has zero mean
        approx = _num(r.expected.get("row_norm_approx"))
        t.add_row("sqrt(D E[x^2]) (std*sqrt(D) at mean 0)", "", approx, "")
        t.add_row("KS D (sampled)", _num(r.ks), f"<= {_num(r.ks_critical)}", "")
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


def _grad_table(g: GradientCheck, title: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("id", justify="right")
    t.add_column("times in batch", justify="right")
    t.add_column("grad norm", justify="right")
    for row in g.rows:
        t.add_row(str(row.id), str(row.occurrences), f"{row.grad_norm:.6g}")
    return t


def render_padding(r: PaddingReport) -> None:
    c = out()
    c.print(_source_line(r.source))
    if r.pad_ids_found:
        c.print("pad ids named by: " + ", ".join(f"{k}={v}" for k, v in r.pad_ids_found.items()))
    for note in r.notes:
        c.print(Text(note, style="yellow"))
    if r.row_exists:
        med = f", median row norm {r.median_row_norm:.4g}" if r.median_row_norm is not None else ""
        c.print(
            f"pad row {r.pad_token_id}: norm {r.row_norm:.6g}, max |x| {r.row_max_abs:.6g}{med}"
        )
    for g, title in (
        (r.gradient, "padding_idx"),
        (r.gradient_without_padding_idx, "no padding_idx"),
    ):
        if g is None:
            continue
        c.print(
            f"batch {g.batch} (pad {r.pad_token_id}) -> nn.Embedding(padding_idx={g.padding_idx}), "
            "loss = sum(out * r), backward"
        )
        c.print(_grad_table(g, f"gradient rows with {title}"))
        c.print(f"padded positions of the output exactly zero: {g.padded_positions_zero}")
    style = "green" if r.ok else "red"
    c.print(Text(f"verdict: {r.verdict}: {r.detail}", style=style))


def render_tie(r: TieReport) -> None:
    c = out()
    c.print(_source_line(r.source))
    for e in r.evidence:
        c.print(f"- {e}")
    style = "green" if r.ok else "red"
    c.print(Text(f"verdict: {r.verdict}", style=style))


def render_info(r: InfoReport) -> None:
    c = out()
    c.print(f"{r.kind} {r.path}: {r.tensor_count:,} tensors")
    t = Table()
    for col in ("tensor", "role", "dtype", "shape", "bytes", "file"):
        t.add_column(col, justify="right" if col == "bytes" else "left", overflow="fold")
    for e in r.tensors:
        mark = " *" if e.name == r.embedding else ""
        t.add_row(
            e.name + mark, e.role, e.dtype, str(e.shape), f"{e.bytes:,}", e.file.rsplit("/", 1)[-1]
        )
    c.print(t)
    c.print(f"* input embedding: {r.embedding} ({r.embedding_reason})")
    c.print(
        f"table: {r.table_rows:,} rows x {r.embed_dim:,}"
        + (
            f"; tokenizer: {r.tokenizer_vocab_size:,} tokens"
            if r.tokenizer_vocab_size is not None
            else "; no tokenizer.json"
        )
    )
    if r.config is not None:
        c.print("config: " + ", ".join(f"{k}={v}" for k, v in r.config.items() if v is not None))
    pad = "none" if r.pad_token_id is None else f"{r.pad_token_id} (from {r.pad_source})"
    found = ", ".join(f"{k}={v}" for k, v in r.pad_ids_found.items()) or "nothing names one"
    c.print(f"pad token: {pad}; {found}")
    tied = {True: "tied", False: "untied", None: "unknown"}[r.tied]
    c.print(f"tie: config {tied} ({r.tied_source}); head stored: {r.head or 'no'}")
    if r.metadata_pointers:
        c.print(
            "metadata back-pointers: "
            + ", ".join(f"{k} -> {v}" for k, v in r.metadata_pointers.items())
        )
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))


def render_presets(rows: list[dict[str, Any]]) -> None:
    t = Table()
    for col in ("name", "vocab", "dim", "pad", "tie", "dtype", "embedding params"):
        t.add_column(
            col, justify="right" if col in ("vocab", "dim", "embedding params") else "left"
        )
    for p in rows:
        t.add_row(
            p["name"],
            f"{p['vocab_size']:,}",
            f"{p['embed_dim']:,}",
            "none" if p["pad_token_id"] is None else str(p["pad_token_id"]),
            "tied" if p["tied"] else "untied",
            p["dtype"],
            f"{p['params']:,}",
        )
    out().print(t)


# A full-table pass shows a bar only after this long: quick commands print nothing extra.
PROGRESS_DELAY_S = 1.0


class _DelayedBar:
    """A transient rich bar on stderr that appears once the work has run PROGRESS_DELAY_S."""

    def __init__(self, label: str, total_rows: int) -> None:
        import time

        self._clock = time.monotonic
        self._t0 = self._clock()
        self._label, self._total, self._done = label, total_rows, 0
        self._bar: Any = None
        self._task: Any = None

    def advance(self, rows: int) -> None:
        self._done += rows
        if self._bar is None:
            if self._clock() - self._t0 < PROGRESS_DELAY_S or self._done >= self._total:
                return
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

            self._bar = Progress(
                "{task.description}",
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=err(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._label, total=self._total)
        self._bar.update(self._task, completed=self._done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def install_progress() -> None:
    """Progress bars for chunked full-table passes, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return
    from emb_cli.sources.base import set_progress

    set_progress(_DelayedBar)


if TYPE_CHECKING:
    from emb_cli.analysis.undertrained import UndertrainedReport


def render_undertrained(r: UndertrainedReport) -> None:
    c = out()
    c.print(_source_line(r.source))
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


if TYPE_CHECKING:
    from emb_cli.analysis.diff import ChangedRow, DiffReport
    from emb_cli.analysis.neighbors import NeighborsReport


def render_neighbors(r: NeighborsReport) -> None:
    c = out()
    c.print(_source_line(r.source))
    nearer = "lower is nearer" if r.metric == "l2" else "higher is nearer"
    for q in r.queries:
        kept = "" if r.exclude_query else ", query tokens kept"
        c.print(f"query {q.expression}  ids {q.ids}  ({r.metric}, {nearer}{kept})")
        t = Table(show_edge=False, pad_edge=False)
        t.add_column("rank", justify="right")
        t.add_column("id", justify="right")
        if q.results and q.results[0].token is not None:
            t.add_column("token")
        t.add_column(r.metric, justify="right")
        for rank, n in enumerate(q.results, 1):
            cells = [str(rank), str(n.id)]
            if n.token is not None:
                cells.append(repr(n.token))
            t.add_row(*cells, f"{n.score:.4f}")
        c.print(t)
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))


def _changed_table(rows: list[ChangedRow], title: str) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("id", justify="right")
    if rows and rows[0].token is not None:
        t.add_column("token")
    t.add_column("l2", justify="right")
    t.add_column("cosine", justify="right")
    for x in rows:
        cells = [str(x.id)] + ([repr(x.token)] if x.token is not None else [])
        t.add_row(*cells, "-" if x.l2 is None else f"{x.l2:.4g}", _num(x.cosine))
    return t


def render_diff(r: DiffReport) -> None:
    c = out()
    c.print("a: " + _source_line(r.a))
    c.print("b: " + _source_line(r.b))
    c.print(f"shape {r.shape_a} -> {r.shape_b}" + (" (changed)" if r.shape_changed else ""))
    c.print(f"dtype {r.dtype_a} -> {r.dtype_b}" + (" (changed)" if r.dtype_changed else ""))
    if r.rows_only_in_a:
        c.print(f"rows only in a: ids {r.rows_only_in_a[0]}..{r.rows_only_in_a[1] - 1}")
    if r.rows_only_in_b:
        c.print(f"rows only in b: ids {r.rows_only_in_b[0]}..{r.rows_only_in_b[1] - 1}")
    if r.comparable:
        c.print(
            f"rows changed: {r.rows_changed:,} of {r.rows_compared:,} "
            f"({r.values_changed:,} values); max |diff| {_num(r.max_abs_diff)}, "
            f"mean L2 change {_num(r.mean_l2_change)}, mean cosine {_num(r.mean_cosine)}"
        )
        c.print(
            f"mean row norm {_num(r.mean_row_norm_a)} -> {_num(r.mean_row_norm_b)} "
            f"(ratio {_num(r.row_norm_ratio)}); std {_num(r.std_a)} -> {_num(r.std_b)}"
        )
        if r.most_changed_l2:
            c.print(_changed_table(r.most_changed_l2, "most changed by L2 distance"))
            c.print(_changed_table(r.most_changed_cosine, "most changed by cosine"))
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))
    style = "yellow" if r.differ else "green"
    c.print(Text("verdict: " + ("differ" if r.differ else "identical"), style=style))


if TYPE_CHECKING:
    from emb_cli.analysis.resize import ResizeReport


def render_resize(r: ResizeReport) -> None:
    c = out()
    c.print(_source_line(r.source))
    pad = f", pad_to_multiple_of {r.pad_to_multiple_of}" if r.pad_to_multiple_of is not None else ""
    c.print(
        f"resize_token_embeddings({r.requested:,}{pad}) -> {r.new_num_tokens:,} rows "
        f"({r.action}: +{r.rows_added:,} / -{r.rows_removed:,} from {r.old_num_tokens:,})"
    )
    t = Table()
    for col in ("tensor", "role", "rows", "new rows", "added", "removed", "values"):
        t.add_column(col, justify="left" if col in ("tensor", "role", "values") else "right")
    plans = [r.embedding] + ([r.head] if r.head is not None else [])
    for p in plans:
        label = (p.tensor or "(built)") if p.stored else "(not stored)"
        t.add_row(
            label,
            p.role,
            f"{p.old_rows:,}",
            f"{p.new_rows:,}",
            f"{p.rows_added:,}",
            f"{p.rows_removed:,}",
            "stored" if p.stored else "-",
        )
    c.print(t)
    if r.head_follows_embedding:
        c.print("head: tied, follows the embedding (one table)")
    c.print(
        f"params {r.params_old:,} -> {r.params_new:,} ({r.params_delta:+,}); "
        f"fp32 {r.bytes_new['float32']:,} B, bf16 {r.bytes_new['bfloat16']:,} B"
        + (
            f"; as stored ({r.stored_dtype}) {r.stored_bytes_old:,} -> {r.stored_bytes_new:,} B"
            if r.stored_bytes_new is not None
            else ""
        )
    )
    if r.tokenizer is not None:
        k = r.tokenizer
        c.print(
            f"tokenizer: {k.tokenizer_vocab_size:,} tokens, "
            f"{k.padding_rows:,} padding rows past it; "
            f"new ids {k.new_token_ids:,}: {k.new_ids_in_existing_rows:,} already have a row, "
            f"{k.new_ids_needing_rows:,} need one"
            + (
                f"; {k.tokenizer_ids_dropped:,} tokenizer ids LOSE their rows"
                if k.tokenizer_ids_dropped
                else ""
            )
        )
    if r.rows_added:
        z = r.zero_mean_init
        if r.mean_resizing:
            c.print("new rows (mean resizing): N(mean of old rows, 1e-9 x their covariance)")
            dists = [(p.tensor or p.role, p.distribution) for p in plans if p.distribution]
            d = Table()
            d.add_column("old rows ->")
            for name, _ in dists:
                d.add_column(name, justify="right")
            stats = (
                ("rows", lambda s: f"{s.rows:,}"),
                ("|mean|", lambda s: _num(s.mean_norm)),
                ("max |mean_i|", lambda s: _num(s.mean_abs_max)),
                ("trace cov", lambda s: _num(s.covariance_trace)),
                ("largest eigenvalue", lambda s: _num(s.covariance_max_eigenvalue)),
                ("smallest eigenvalue", lambda s: _num(s.covariance_min_eigenvalue)),
                ("1e-9 x trace", lambda s: _num(s.scaled_trace)),
                ("positive definite", lambda s: "yes" if s.positive_definite else "no"),
                ("sampler", lambda s: s.sampler),
                ("E new-row norm", lambda s: _num(s.expected_row_norm)),
            )
            if any(s.nonfinite_rows for _, s in dists):
                d.add_row(
                    "rows with NaN/Inf (left out)", *(f"{s.nonfinite_rows:,}" for _, s in dists)
                )
            for label, f in stats:
                d.add_row(label, *(f(s) for _, s in dists))
            c.print(d)
        c.print(
            f"{'instead, ' if r.mean_resizing else ''}--no-mean-resizing: N(0, {z.std:g}) "
            f"({z.std_source} initializer_range), row norm ~ {z.expected_row_norm:.6g}"
        )
    if r.written is not None:
        w = r.written
        c.print(f"wrote {w.path} (torch.manual_seed({w.seed}) before the resize):")
        for wt in w.tensors:
            c.print(f"  {wt.name} {wt.shape} {wt.dtype}, new rows: {wt.new_rows_init}")
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))
