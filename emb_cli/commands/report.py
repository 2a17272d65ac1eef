"""emb report: the table as one self-contained HTML page (verdicts, histograms, a map)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import SourceArg, with_source

if TYPE_CHECKING:
    from emb_cli.sources.resolve import SourceArgs


@with_source
def report(
    source_path: SourceArg = None,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The HTML file to write (a new file).", show_default=False
        ),
    ] = ...,  # type: ignore[assignment]
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", help="Training data for emb check's data check (repeatable)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing FILE.html.")] = False,
    *,
    src: SourceArgs,
) -> None:
    """Write the table as one HTML page: check verdicts, norm histogram, a map of the rows.

    Example: emb report ./Llama-3-8B -o llama3.html
    """
    from emb_cli.analysis.check import run_check
    from emb_cli.analysis.report import build_report
    from emb_cli.render.console import note
    from emb_cli.render.report_html import render_page
    from emb_cli.sources.files.inputs import files_read
    from emb_cli.sources.files.output import check_output, write_new_file
    from emb_cli.sources.resolve import open_source, with_positional

    src = with_positional(source_path, src)
    given = [str(p) for p in data or []]
    check_output(output, given, force, "--output", "a new .html file")
    source = open_source(src)
    check_output(output, given, force, "--output", "a new .html file")  # now with its files
    outcome = run_check(source, data=tuple(data or ()))
    page = build_report(source, outcome)
    text = render_page(page)

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    write_new_file(output, write, force, "--output", [*given, *files_read()])
    note(f"wrote {output} ({len(text.encode('utf-8')):,} bytes; overall {page.status})")
