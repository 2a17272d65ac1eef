"""emb check: one verdict per checkpoint (vocab, tie, padding, finite, trained,
undertrained, special, data), for CI, fine-tuning and conversions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emb_cli.options import JsonOpt, with_source

if TYPE_CHECKING:
    from emb_cli.analysis.check import CheckReport
    from emb_cli.sources.resolve import SourceArgs


@dataclass(frozen=True)
class Job:
    """What a worker process needs to check one source (all picklable)."""

    src: SourceArgs
    data: tuple[Path, ...]
    select: tuple[str, ...] | None
    ignore: tuple[str, ...]
    strict: bool


@dataclass(frozen=True)
class Failed:
    """An error met in a worker, carried back as text: EmbError subclasses do not pickle."""

    message: str
    exit_code: int


def _names(raw: list[str] | None) -> tuple[str, ...]:
    return tuple(n.strip() for item in raw or [] for n in item.split(",") if n.strip())


def check_one(job: Job) -> CheckReport:
    from emb_cli.analysis.check import run_check
    from emb_cli.sources.resolve import open_source

    source = open_source(job.src)
    return run_check(
        source, data=job.data, select=job.select, ignore=job.ignore, strict=job.strict
    ).report


def _in_worker(job: Job) -> CheckReport | Failed:
    from emb_cli.errors import EmbError

    try:
        return check_one(job)
    except EmbError as exc:
        return Failed(exc.message, exc.exit_code)


def _reports(jobs: Sequence[Job], n: int) -> Iterator[CheckReport]:
    """Each source's report in the order given, each as soon as it and those before are done."""
    if n <= 1 or len(jobs) <= 1:
        yield from map(check_one, jobs)
        return
    from concurrent.futures import ProcessPoolExecutor

    from emb_cli.errors import EmbError

    with ProcessPoolExecutor(min(n, len(jobs))) as pool:
        futures = [pool.submit(_in_worker, job) for job in jobs]
        for f in futures:
            got = f.result()
            if isinstance(got, Failed):
                for other in futures:
                    other.cancel()
                err = EmbError(got.message)
                err.exit_code = got.exit_code
                raise err
            yield got


@with_source
def check(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Checkpoints to check (anything --from takes); none: the table from "
            "--preset/--config/flags.",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            help="Training data to check (repeatable): .txt (a line a text), .jsonl with "
            "`text` or chat `messages`.",
        ),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", help="Run only these checks: NAME,... (see the README)."),
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Leave out these checks: NAME,...")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="A warning fails too.")] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Sources checked at once (processes).")
    ] = 1,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Check checkpoints for CI: vocab, tie, padding, NaN/Inf, training, special tokens, data.

    Example: emb check ./my-finetune --data train.jsonl
    """
    from emb_cli.analysis.check import selected
    from emb_cli.analysis.check_data import check_data_files
    from emb_cli.errors import UsageError
    from emb_cli.render.check import render_check
    from emb_cli.render.output import emit

    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if sources and src.from_ is not None:
        raise UsageError("name the checkpoints either as arguments or with --from, not both")
    chosen, left_out = _names(select) if select is not None else None, _names(ignore)
    selected(chosen, left_out)  # a misspelt name is refused before any table is read
    check_data_files(data or [])
    paths: list[str | Path | None] = [*sources] if sources else [src.from_]
    jobs_ = [Job(replace(src, from_=p), tuple(data or ()), chosen, left_out, strict) for p in paths]
    failed = False
    for report in _reports(jobs_, jobs):
        emit(report, json_, human=render_check)
        failed = failed or report.status == "fail"
    if failed:
        raise typer.Exit(1)
