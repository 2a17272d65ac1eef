"""What every renderer shares: the stdout/stderr consoles, number formats, progress.

render/ is the only package that imports rich; one module per command.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from emb_cli.errors import escape_controls

if TYPE_CHECKING:
    from emb_cli.analysis.common import SourceSummary


# torch's print options: summarise past 1000 elements, 3 edge items each side.
TORCH_THRESHOLD = 1000


TORCH_EDGEITEMS = 3


# Piped or redirected output is never wrapped or cut: a width no line reaches.
PIPE_WIDTH = 1_000_000


def _no_style() -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns off all styling, bold included
    return os.environ.get("NO_COLOR", "") != ""


def safe(text: str) -> str:
    """A string from a file as a terminal may show it: every control character (ESC of
    `ESC[2J`, OSC 0/8, C1 codes, bidi overrides) written as an escape, line breaks kept.

    The one rule for human output: `_Console` applies it to every string and Text it prints,
    tables included, and `output.tsv_cell` to every TSV cell; JSON stays exact JSON."""
    if text.isprintable():
        return text
    return "\n".join(escape_controls(line) for line in text.split("\n"))


def safe_text(text: Text) -> Text:
    """`safe` for a rich Text, its styles kept on the characters they covered."""
    plain = text.plain
    if plain.isprintable() or safe(plain) == plain:
        return text
    at = [0]  # at[i]: where character i of `plain` starts in the escaped text
    for ch in plain:
        at.append(at[-1] + len(safe(ch)))
    out = Text(safe(plain), style=text.style, justify=text.justify, end=text.end)
    for span in text.spans:
        out.stylize(span.style, at[span.start], at[span.end])
    return out


class _Console(Console):
    """rich's Console whose tables never fold a number: right-aligned (numeric) columns do
    not wrap, text columns fold at spaces first; a table that cannot fit the terminal even
    so is printed at its minimum width and the terminal wraps its long lines.

    Every string it prints passes through `safe` (`render_str` turns str into Text for
    print, table cells, titles and measuring alike; Text objects are escaped in `print`)."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe(text), **kwargs)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        objects = tuple(_safe_renderable(o) for o in objects)
        if len(objects) == 1 and isinstance(objects[0], Table) and not kwargs:
            t = objects[0]
            for col in t.columns:
                col.no_wrap = col.justify == "right"
                col.overflow = "fold"
                words = [w for cell in (col.header, *col.cells) for w in str(cell).split()]
                # a text column may wrap between words, never below its longest one
                col.min_width = max((cell_len(w) for w in words), default=None)
            if self.is_terminal:
                need = self.measure(t, options=self.options.update_width(PIPE_WIDTH)).minimum
                if need > self.width:
                    width = self.width
                    self.width = need  # print(width=) is capped at the console's width
                    try:
                        super().print(t, crop=False)
                    finally:
                        self.width = width
                    return
        if self.is_terminal:
            super().print(*objects, **kwargs)
            return
        # a pipe: the same text without the spaces that pad cells out to their column
        with self.capture() as cap:
            super().print(*objects, **kwargs)
        text = cap.get()
        self.file.write("\n".join(line.rstrip() for line in text.split("\n")))
        self.file.flush()


def _safe_renderable(obj: Any) -> Any:
    if isinstance(obj, Text):
        return safe_text(obj)
    if isinstance(obj, Table):
        for col in obj.columns:
            col._cells = [safe_text(c) if isinstance(c, Text) else c for c in col._cells]
    return obj


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    # markup=False: token strings such as "[/b]" or "[PAD]" are data, not rich markup.
    # color_system=None writes no escape codes at all (no_color still emits bold).
    return _Console(
        stderr=stderr,
        highlight=False,
        soft_wrap=not tty,
        markup=False,
        emoji=False,
        width=None if tty else PIPE_WIDTH,
        color_system="auto" if tty and not _no_style() else None,
    )


def out() -> Console:
    """stdout: a terminal gets tables fitted to its width; a pipe gets whole lines, unstyled."""
    return _console(stderr=False)


def err() -> Console:
    return _console(stderr=True)


def token_cell(token: str | None) -> str:
    """A token as Python writes it ('▁the'); `-` for an id without one."""
    return "-" if not token else repr(token)


def note(message: str) -> None:
    """A line for the user on stderr (what was written where), never on stdout."""
    err().print(message)


def warn(message: str) -> None:
    err().print(Text(f"Warning: {message}", style="yellow"))


def fmt_float(x: float, sci: bool) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4e}" if sci else f"{x:.4f}"


def use_sci(values: Sequence[float]) -> bool:
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


def pad_label(pad_source: str | None) -> str:
    """Where a pad id came from, in words: `gguf` is the file's metadata, not a config."""
    return "gguf metadata" if pad_source == "gguf" else str(pad_source)


def source_line(s: SourceSummary) -> str:
    pad = "none" if s.pad_token_id is None else f"{s.pad_token_id} ({pad_label(s.pad_source)})"
    tied = {True: "tied", False: "untied", None: "tie unknown"}[s.tied]
    what = f" tensor {s.tensor}" if s.tensor else ""
    init = f", init {s.init}" if s.init else ""
    label = s.origin if s.origin == s.name else f"{s.origin} {s.name}"
    line = f"{label}{what}: {s.vocab_size:,} x {s.embed_dim:,} {s.dtype}, pad {pad}, {tied}{init}"
    return "\n".join([line, *(f"note: {n}" for n in s.notes)])


def human_bytes(n: int | float) -> str:
    return f"{n:,.0f} B  = {n / 1e9:,.3f} GB = {n / 2**30:,.3f} GiB"


def num(x: float | None) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.6g}"


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
    from emb_cli.progress import set_progress

    set_progress(_DelayedBar)


def scheme_line(q: dict[str, Any], label: str) -> str:
    """A quantized table's scheme, as `stats` and `info` print it."""
    group = f", groups of {q['group_size']}" if q.get("group_size") else ""
    return (
        f"{label} {q['name']}, {q['bits']}-bit{group}, {q['scale_dtype']} scales: "
        f"{q['stored_nbytes']:,} bytes, {q['bytes_per_param']:.4g} bytes/param = "
        f"{q['bytes_per_param'] * 8:.4g} bits/param (scales and biases counted)"
    )
