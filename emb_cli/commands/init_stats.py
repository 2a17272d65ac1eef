"""emb init-stats: the table's statistics beside what its init predicts."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import JsonOpt, finish, with_source

if TYPE_CHECKING:
    from emb_cli.sources.base import TableSource


class Expect(StrEnum):
    init = "init"
    trained = "trained"


@with_source
def init_stats(
    expect: Annotated[
        Expect | None, typer.Option("--expect", help="Exit 1 if the verdict contradicts this.")
    ] = None,
    no_hist: Annotated[
        bool, typer.Option("--no-hist", help="Leave out the terminal histograms.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a .png/.svg/.pdf figure (needs matplotlib)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Let --plot replace an existing file.")
    ] = False,
    json_: JsonOpt = False,
    *,
    source: TableSource,
) -> None:
    """Measure the table's statistics beside what its init predicts, with a verdict.

    Example: emb init-stats --preset gpt2
    """
    from emb_cli.analysis.init_stats import contradicts, init_stats
    from emb_cli.render.init_stats import render_init_stats
    from emb_cli.render.output import emit

    if plot is not None:  # checked before the pass over the table: a refusal costs nothing
        from emb_cli.sources.files.output import check_output

        check_output(plot, (), force, "--plot", "a new .png, .svg or .pdf file")
    report = init_stats(source)
    if plot is not None:
        from emb_cli.render.console import note
        from emb_cli.render.plot import write_plot

        write_plot(report, plot, force=force)
        note(f"wrote {plot}")  # stderr: stdout stays the result (one JSON document)
    emit(report, json_, human=lambda r: render_init_stats(r, histograms=not no_hist))
    if expect is not None:
        finish(not contradicts(report, expect.value))
