"""Options shared by the commands: the table source, --json/--tsv, id lists.

Each command declares its own options and gets the table-source ones appended by
`with_source`, the way huggingface_hub's CLI shares `TokenOpt`. Those options come from one
table, the fields of SourceArgs and Overrides (sources/), each naming its flag.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import Field, fields
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from emb_cli.errors import UsageError
from emb_cli.sources.base import TableSource, accepted_inputs
from emb_cli.sources.config.spec import Overrides, flag_of, parse_token_id
from emb_cli.sources.resolve import SourceArgs, is_remote

F = TypeVar("F", bound=Callable[..., Any])

SRC = "Table source"


def _choices(enum: type[StrEnum]) -> str:
    # spaces let the help wrap between choices, never inside one (`float 16`)
    return "<" + " | ".join(m.value for m in enum) + ">"


def complete_preset(incomplete: str) -> list[str]:
    """`--preset <TAB>`: the shipped preset names, not file names."""
    from emb_cli.sources.config.spec import preset_names

    return [name for name in preset_names() if name.startswith(incomplete)]


def _option_table() -> dict[str, Field[Any]]:
    """The table-source flags in --help order: SourceArgs' fields, Overrides' in its place."""
    nested = (fields(Overrides) if f.name == "overrides" else [f] for f in fields(SourceArgs))
    return {g.name: g for group in nested for g in group}


_TABLE = _option_table()


def source_option(name: str) -> Any:
    """The Typer option of one table-source flag (`info` takes `--tensor` too)."""
    flag = flag_of(_TABLE[name])
    enum = flag.parse if isinstance(flag.parse, type) and issubclass(flag.parse, StrEnum) else None
    return typer.Option(
        flag.decl,
        help=flag.help,
        rich_help_panel=SRC,
        metavar=_choices(enum) if enum is not None else None,
        autocompletion=complete_preset if name == "preset" else None,
    )


TensorOpt = Annotated[str | None, source_option("tensor")]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help="Remote --from: print bytes and requests fetched to stderr.",
        rich_help_panel=SRC,
    ),
]
# report and export: the table as a positional SOURCE (resolve.with_positional merges it)
SourceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[SOURCE]",
        help="A checkpoint (anything --from takes); none: the table from --preset/--config/flags.",
        show_default=False,
    ),
]
PathVerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", help="A remote source: print bytes and requests fetched to stderr."),
]


def _source_parameters() -> list[inspect.Parameter]:
    """What `with_source` appends to a command: the table's options, then --verbose."""
    hints = get_type_hints(SourceArgs) | get_type_hints(Overrides)
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = []
    for name, f in _TABLE.items():
        parse = flag_of(f).parse
        kind = hints[name] if parse is None else parse | None  # a parsed flag may be left out
        params.append(
            inspect.Parameter(
                name, keyword, default=f.default, annotation=Annotated[kind, source_option(name)]
            )
        )
    return [*params, inspect.Parameter("verbose", keyword, default=False, annotation=VerboseOpt)]


_SOURCE_PARAMETERS = _source_parameters()
# A command's `source`/`src` annotation may be imported under TYPE_CHECKING only.
_INJECTED = {"TableSource": TableSource, "SourceArgs": SourceArgs}


def _source_args(kw: dict[str, Any]) -> SourceArgs:
    """Take the table-source options out of a command's keywords."""

    def take(cls: type) -> dict[str, Any]:
        values = {f.name: kw.pop(f.name) for f in fields(cls) if f.name in _TABLE}
        # a StrEnum choice travels as its plain string, as a config file gives it
        return {k: v.value if isinstance(v, StrEnum) else v for k, v in values.items()}

    return SourceArgs(overrides=Overrides(**take(Overrides)), **take(SourceArgs))


def with_source(fn: F) -> F:
    """Append the table-source options to a command; it receives the table opened, as
    `source: TableSource`. A command that needs the options themselves declares
    `src: SourceArgs` instead (resize: with --from, --seed seeds the resize)."""
    sig = inspect.signature(fn, eval_str=True, locals=_INJECTED)
    wants_args = "src" in sig.parameters
    own = [p for p in sig.parameters.values() if p.name not in ("source", "src")]
    params = [*own, *_SOURCE_PARAMETERS]

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        from emb_cli.sources.files.inputs import forget_reads

        forget_reads()  # outputs are checked against this command's inputs only
        verbose = kw.pop("verbose")
        src = _source_args(kw)
        with fetch_report(verbose, src.from_):
            if wants_args:
                return fn(src=src, **kw)
            return fn(source=open_source(src), **kw)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]


def _one_format(ctx: typer.Context, value: bool) -> bool:
    # refused as the options are parsed, before a table is read; ctx.params holds the
    # options parsed so far, so whichever of the two comes second sees the first
    if value and (ctx.params.get("json_") or ctx.params.get("tsv")):
        raise UsageError("pass either --json or --tsv, not both")
    return value


JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="Print one JSON document (keys in the README).", callback=_one_format
    ),
]
TsvOpt = Annotated[
    bool,
    typer.Option(
        "--tsv",
        help="Print the rows tab-separated, one header line (for cut/awk).",
        callback=_one_format,
    ),
]


@contextlib.contextmanager
def fetch_report(verbose: bool, *paths: Path | str | None) -> Iterator[None]:
    """--verbose: after a command that read a remote source, `fetched N bytes in M requests`
    on stderr (stdout stays one document). Nothing when no byte came: a fetch that failed
    at once leaves only its error line."""
    from emb_cli.sources.remote.hub import looks_like_repo_id

    if not any(is_remote(p) or looks_like_repo_id(p) for p in paths):
        yield
        return
    from emb_cli.sources.remote.http import FETCHED, reset_fetched

    reset_fetched()
    ok = False
    try:
        yield
        ok = True
    finally:
        if verbose and (ok or FETCHED.bytes > 0):
            sys.stderr.write(FETCHED.line() + "\n")


def parse_ids(raw: list[str] | None) -> list[int]:
    """Ids separated by commas or spaces: ASCII digits only (not int()'s `1_0` or `+5`)."""
    ids: list[int] = []
    for item in raw or []:
        for part in item.replace(",", " ").split():
            value = parse_token_id(part)
            if value is None:
                raise UsageError(
                    f"token id {part!r} is not an integer; write ids as plain digits, e.g. 73"
                )
            ids.append(value)
    return ids


def open_source(src: SourceArgs) -> TableSource:
    from emb_cli.sources.resolve import open_source as resolve

    return resolve(src)


def source_path_help() -> str:
    """The help of a positional checkpoint argument (`info PATH`)."""
    return f"Checkpoint: {accepted_inputs()}."


def finish(ok: bool) -> None:
    if not ok:
        raise typer.Exit(1)
