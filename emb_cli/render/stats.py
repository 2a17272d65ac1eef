"""Human output of `emb stats`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from emb_cli.render.console import human_bytes, out, scheme_line, source_line

if TYPE_CHECKING:
    from emb_cli.analysis.counting import CountReport


def render_count(r: CountReport) -> None:
    c = out()
    c.print(source_line(r.source))
    c.print(f"params  {r.vocab_size:,} x {r.hidden_size:,} = {r.params:,}")
    if r.quantization is not None:
        c.print(scheme_line(r.quantization, "stored "))
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
        f"{u['params']:,} params, fp32 {human_bytes(ub['float32'])}, "
        f"bf16 {human_bytes(ub['bfloat16'])}"
    )
    tied = {
        True: "tied: head shares the table",
        False: "untied: head stored separately",
        None: "tie unknown",
    }
    what = "no LM head (a base model)" if r.has_lm_head is False else tied[r.tied]
    c.print(f"this model: {what} -> {r.stored_params:,} params stored")
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
