"""emb export: rows and their metadata for TensorBoard's projector, numpy or Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import SourceArg, with_source

if TYPE_CHECKING:
    from emb_cli.sources.resolve import SourceArgs


@with_source
def export(
    source_path: SourceArg = None,
    projector: Annotated[
        Path | None,
        typer.Option(
            "--projector",
            help="Folder for TensorBoard's projector: tensors.tsv, metadata.tsv, "
            "projector_config.pbtxt (made if missing).",
        ),
    ] = None,
    npy: Annotated[
        Path | None,
        typer.Option("--npy", help="A structured .npy: id, token, kind, norm, score, vector."),
    ] = None,
    parquet: Annotated[
        Path | None,
        typer.Option("--parquet", help="A .parquet file with the same columns (needs pyarrow)."),
    ] = None,
    sample: Annotated[
        int,
        typer.Option(
            "--sample",
            help="Rows drawn uniformly (seeded) when the table has more; flagged, special, "
            "reserved and zero rows are always added.",
        ),
    ] = 50_000,
    force: Annotated[bool, typer.Option("--force", help="Replace existing files.")] = False,
    *,
    src: SourceArgs,
) -> None:
    """Export rows (a sample above --sample) with id, token, kind, norm and score.

    Example: emb export ./Llama-3-8B --projector proj/ --sample 20000
    """
    from emb_cli.analysis.check import run_check
    from emb_cli.analysis.report import export_rows
    from emb_cli.errors import UsageError
    from emb_cli.render.console import note
    from emb_cli.sources.files.export_files import (
        check_projector_dir,
        require_pyarrow,
        write_npy,
        write_parquet,
        write_projector,
    )
    from emb_cli.sources.files.inputs import files_read
    from emb_cli.sources.files.output import check_output
    from emb_cli.sources.resolve import open_source, with_positional

    if projector is None and npy is None and parquet is None:
        raise UsageError("nothing to write: pass --projector DIR, --npy FILE or --parquet FILE")
    src = with_positional(source_path, src)
    if sample < 1:
        raise UsageError(f"--sample must be at least 1, got {sample}")
    if parquet is not None:
        require_pyarrow()
    source = open_source(src)
    inputs = list(files_read())
    # every output refused before the passes over the table
    if projector is not None:
        check_projector_dir(projector, inputs, force)
    for flag, out in (("--npy", npy), ("--parquet", parquet)):
        if out is not None:
            check_output(out, inputs, force, flag)
    rows = export_rows(source, run_check(source), sample)
    if projector is not None:
        write_projector(projector, rows, force, inputs)
        note(f"wrote {projector}/ (tensors.tsv, metadata.tsv, projector_config.pbtxt)")
    if npy is not None:
        write_npy(npy, rows, force, inputs)
        note(f"wrote {npy}")
    if parquet is not None:
        write_parquet(parquet, rows, force, inputs)
        note(f"wrote {parquet}")
    note(f"{len(rows.ids):,} of {source.info.vocab_size:,} rows, {rows.dim:,} dimensions")
