"""Human output of `emb cache`: one row per cached model revision."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from emb_cli.render.console import err, out

if TYPE_CHECKING:
    from emb_cli.analysis.cached_models import CacheReport
    from emb_cli.sources.gguf.tokenizer_cache import CacheSummary


def fmt_size(n: int) -> str:
    """Decimal units, as `hf cache ls` prints them: 988.1M, 16.1G."""
    size = float(n)
    for unit in ("", "K", "M", "G", "T"):
        if size < 1000 or unit == "T":
            return f"{size:.0f}" if unit == "" else f"{size:.1f}{unit}"
        size /= 1000
    raise AssertionError("unreachable")


def render_cache(r: CacheReport) -> None:
    c = out()
    if not r.models:
        c.print(f"no cached model with an embedding table in {r.cache_dir}")
    else:
        t = Table()
        for col in ("repo", "revision", "vocab x dim", "dtype", "tie", "size on disk"):
            t.add_column(col, justify="right" if col in ("vocab x dim", "size on disk") else "left")
        for m in r.models:
            tie = {True: "tied", False: "untied", None: "unknown"}[m.tied]
            if m.has_lm_head is False:
                tie = "no head"
            t.add_row(
                m.repo_id,
                m.revision,
                f"{m.vocab_size:,} x {m.embed_dim:,}",
                m.dtype,
                tie,
                fmt_size(m.size_on_disk),
            )
        c.print(t)
        c.print(f"{len(r.models)} tables in {r.cache_dir}")
    if r.skipped:
        n = len(r.skipped)
        err().print(
            f"note: {n} cached revision{'s' if n != 1 else ''} without a table emb lists "
            "(config only, PyTorch .bin only, or unreadable); --json gives each reason"
        )
    for w in r.warnings:
        err().print(f"note: a damaged cache entry, skipped: {w}")


def render_tokenizer_cache(s: CacheSummary, cleared: bool) -> None:
    """emb's own cache of built GGUF tokenizers (and GGUF header indexes): one line."""
    n = s.entries
    also = (
        f" and {s.header_indexes} GGUF header index{'es' if s.header_indexes != 1 else ''}"
        if s.header_indexes
        else ""
    )
    if cleared:
        out().print(f"removed {n} cached tokenizer{'s' if n != 1 else ''}{also} from {s.folder}")
        return
    err().print(
        f"note: {n} built GGUF tokenizer{'s' if n != 1 else ''}{also} "
        f"({fmt_size(s.bytes)}B) cached in {s.folder}; `emb cache --clear-tokenizers` "
        "empties it"
    )
