"""The one output switch: `emit` writes a report as JSON, TSV or rich text.

Every command ends in `emit` (huggingface_hub's `Output` sink): --json writes
`asdict(report)`, --tsv the table a renderer's `tsv_x` picks, whose columns are the fields of
the dataclass of its rows, and otherwise `render_x` prints for people. --json with --tsv is
refused while the options are parsed (options.JsonOpt), before any table is read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from emb_cli.errors import escape_controls

R = TypeVar("R")


@dataclass(frozen=True)
class Tsv:
    """One header line, then a line a row."""

    header: Sequence[str]
    rows: Iterable[Sequence[object]]


def emit(
    report: R,
    json_: bool,
    tsv: bool = False,
    *,
    human: Callable[[R], None],
    tsv_rows: Callable[[R], Tsv] | None = None,
) -> None:
    """Print the report on stdout the way the user asked: JSON, TSV, or `human(report)`."""
    if json_:
        print_json(report)
    elif tsv:
        assert tsv_rows is not None, "a command with --tsv passes tsv_rows"
        print_tsv(tsv_rows(report))
    else:
        human(report)


def columns(record: type, first: Sequence[str] = ()) -> list[str]:
    """A dataclass's fields as TSV columns: those named in `first`, then the rest in order."""
    names = [f.name for f in dataclasses.fields(record)]
    return [*first, *(n for n in names if n not in first)]


def cells(record: object, names: Sequence[str], **shown: object) -> list[object]:
    """The record's values for these columns; `shown` gives a field as TSV writes it."""
    return [shown[n] if n in shown else getattr(record, n) for n in names]


def print_tsv(table: Tsv) -> None:
    """One header line, then tab-separated rows for cut/awk/sort; see `tsv_cell`."""
    lines = ["\t".join(table.header)]
    lines += ["\t".join(tsv_cell(v) for v in row) for row in table.rows]
    sys.stdout.write("\n".join(lines) + "\n")


def tsv_cell(v: object) -> str:
    """None is empty; floats in full (repr round-trips); \\, tab, newline, CR escaped, and
    every other control character (ESC, C1, bidi) as errors.escape_controls writes it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    text = repr(v) if isinstance(v, float) else str(v)
    text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return escape_controls(text)


def clean(obj: Any) -> Any:
    """JSON has no NaN/Infinity: write null, and keep every finite float exact."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def print_json(report: Any) -> None:
    is_instance = dataclasses.is_dataclass(report) and not isinstance(report, type)
    data = dataclasses.asdict(report) if is_instance else report
    sys.stdout.write(json.dumps(clean(data), allow_nan=False) + "\n")
