"""Human output of `emb info`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from emb_cli.analysis.info import TensorEntry
from emb_cli.render.console import out, pad_label, scheme_line
from emb_cli.render.output import Tsv, cells, columns
from emb_cli.sources.config.spec import states_config

if TYPE_CHECKING:
    from emb_cli.analysis.info import InfoReport


def render_info(r: InfoReport) -> None:
    c = out()
    c.print(
        f"{r.kind} {r.path}: {r.tensor_count:,} tensors, "
        f"{len(r.tensors):,} embedding-related listed"
    )
    t = Table()
    for col in ("tensor", "role", "dtype", "shape", "bytes", "file"):
        t.add_column(col, justify="right" if col == "bytes" else "left", overflow="fold")
    for e in r.tensors:
        mark = " *" if e.name == r.embedding else ""
        t.add_row(
            e.name + mark, e.role, e.dtype, str(e.shape), f"{e.bytes:,}", e.file.rsplit("/", 1)[-1]
        )
    if r.tensors:
        c.print(t)
    if r.embedding is not None:
        c.print(f"* input embedding: {r.embedding} ({r.embedding_reason})")
        c.print(
            f"table: {r.table_rows:,} rows x {r.embed_dim:,}"
            + (
                f"; tokenizer: {r.tokenizer_vocab_size:,} tokens"
                if r.tokenizer_vocab_size is not None
                else "; no tokenizer.json"
            )
        )
    else:
        c.print(f"no tensors: {r.embedding_reason}")
    if r.quantization is not None:
        c.print(scheme_line(r.quantization, "quantized:"))
    tk = r.tokenizer
    if tk is not None:
        c.print(
            f"tokenizer (GGUF): model {tk['model']}, pre {tk['pre']}, {tk['tokens']:,} tokens, "
            f"{tk['merges']:,} merges, scores {'yes' if tk['scores'] else 'no'}, "
            f"token types {'yes' if tk['token_types'] else 'no'}"
        )
        specials = ", ".join(
            f"{k} {v['id']} {v['token']!r}" for k, v in tk["special_tokens"].items()
        )
        if specials:
            c.print(f"special tokens: {specials}")
    if r.config is not None:
        c.print("config: " + ", ".join(f"{k}={v}" for k, v in r.config.items() if v is not None))
    pad = "none" if r.pad_token_id is None else f"{r.pad_token_id} (from {pad_label(r.pad_source)})"
    found = ", ".join(f"{k}={v}" for k, v in r.pad_ids_found.items()) or "nothing names one"
    c.print(f"pad token: {pad}; {found}")
    word = {True: "tied", False: "untied", None: "unknown"}[r.tied]
    if r.tied_source is None:
        tie = "no config states it"
    elif states_config(r.tied_source):
        tie = f"config {word} ({r.tied_source})"
    else:  # the format's own rule (GGUF)
        tie = f"{word} ({r.tied_source})"
    c.print(f"tie: {tie}; head stored: {r.head or 'no'}")
    if r.metadata_pointers:
        c.print(
            "metadata back-pointers: "
            + ", ".join(f"{k} -> {v}" for k, v in r.metadata_pointers.items())
        )
    for note in r.notes:
        c.print(Text(f"note: {note}", style="yellow"))


def tsv_info(r: InfoReport) -> Tsv:
    """The tensors table: a TensorEntry a line, its shape written 3x4, its file in full."""
    cols = columns(TensorEntry)
    return Tsv(cols, [cells(e, cols, shape="x".join(map(str, e.shape))) for e in r.tensors])
