"""Options shared by the commands: the table source, --json, id lists.

Each command declares its own options and gets the table-source ones appended by
`with_source`, the way huggingface_hub's CLI shares `TokenOpt`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from emb_cli.errors import UsageError
from emb_cli.sources.base import TableSource, accepted_inputs
from emb_cli.sources.config.spec import Overrides, parse_token_id
from emb_cli.sources.resolve import SourceArgs, is_remote

F = TypeVar("F", bound=Callable[..., Any])


class InitScheme(StrEnum):
    normal = "normal"
    torch_default = "torch-default"
    uniform = "uniform"
    xavier_normal = "xavier-normal"
    xavier_uniform = "xavier-uniform"


class BuildDtype(StrEnum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


SRC = "Table source"


def _choices(enum: type[StrEnum]) -> str:
    # spaces let the help wrap between choices, never inside one (`float 16`)
    return "<" + " | ".join(m.value for m in enum) + ">"


# str, not Path: Path("https://host/f") collapses the "//"; resolve makes local ones Paths.
FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help=f"Checkpoint: {accepted_inputs()}.",
        rich_help_panel=SRC,
    ),
]
TensorOpt = Annotated[
    str | None,
    typer.Option(
        "--tensor", help="Tensor name in --from (default: found by name).", rich_help_panel=SRC
    ),
]


def complete_preset(incomplete: str) -> list[str]:
    """`--preset <TAB>`: the shipped preset names, not file names."""
    from emb_cli.sources.config.spec import preset_names

    return [name for name in preset_names() if name.startswith(incomplete)]


PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="A preset from `emb presets`.",
        rich_help_panel=SRC,
        autocompletion=complete_preset,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="An emb TOML file or a Hugging Face config.json.", rich_help_panel=SRC
    ),
]
VocabOpt = Annotated[
    int | None, typer.Option("--vocab", help="vocab_size (rows).", rich_help_panel=SRC)
]
DimOpt = Annotated[
    int | None,
    typer.Option("--dim", help="embed_dim / hidden_size (columns).", rich_help_panel=SRC),
]
PadOpt = Annotated[
    str | None, typer.Option("--pad", help="Pad token id, or 'none'.", rich_help_panel=SRC)
]
StdOpt = Annotated[
    float | None,
    typer.Option("--init-std", help="initializer_range for --init normal.", rich_help_panel=SRC),
]
SeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="torch.manual_seed before the init.", rich_help_panel=SRC),
]
DtypeOpt = Annotated[
    BuildDtype | None,
    typer.Option(
        "--dtype",
        help="Cast after the fp32 init.",
        rich_help_panel=SRC,
        metavar=_choices(BuildDtype),
    ),
]
TieOpt = Annotated[
    bool | None,
    typer.Option("--tie/--no-tie", help="Tie the LM head to the embedding.", rich_help_panel=SRC),
]
InitOpt = Annotated[
    InitScheme | None,
    typer.Option(
        "--init",
        help="Init recipe (see README).",
        rich_help_panel=SRC,
        metavar=_choices(InitScheme),
    ),
]
LowOpt = Annotated[
    float | None,
    typer.Option("--low", help="Lower bound for --init uniform (-0.1).", rich_help_panel=SRC),
]
HighOpt = Annotated[
    float | None,
    typer.Option("--high", help="Upper bound for --init uniform (0.1).", rich_help_panel=SRC),
]
RawOpt = Annotated[
    bool,
    typer.Option(
        "--raw",
        help="--from: read an integer table as the integers it stores (no quantization).",
        rich_help_panel=SRC,
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help="Remote --from: print bytes and requests fetched to stderr.",
        rich_help_panel=SRC,
    ),
]
PathVerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", help="A remote source: print bytes and requests fetched to stderr."),
]


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


_SOURCE_PARAMS = {
    "from_": FromOpt,
    "tensor": TensorOpt,
    "preset": PresetOpt,
    "config": ConfigOpt,
    "vocab": VocabOpt,
    "dim": DimOpt,
    "pad": PadOpt,
    "init_std": StdOpt,
    "seed": SeedOpt,
    "dtype": DtypeOpt,
    "tie": TieOpt,
    "init": InitOpt,
    "low": LowOpt,
    "high": HighOpt,
    "raw": RawOpt,
    "verbose": VerboseOpt,
}


def _source_args(kw: dict[str, Any]) -> SourceArgs:
    dtype, init = kw.pop("dtype"), kw.pop("init")
    return SourceArgs(
        raw=kw.pop("raw"),
        from_=kw.pop("from_"),
        tensor=kw.pop("tensor"),
        preset=kw.pop("preset"),
        config=kw.pop("config"),
        overrides=Overrides(
            vocab_size=kw.pop("vocab"),
            embed_dim=kw.pop("dim"),
            pad=kw.pop("pad"),
            init_std=kw.pop("init_std"),
            seed=kw.pop("seed"),
            dtype=dtype.value if dtype is not None else None,
            tied=kw.pop("tie"),
            init=init.value if init is not None else None,
            low=kw.pop("low"),
            high=kw.pop("high"),
        ),
    )


def with_source(fn: F) -> F:
    """Append the shared table-source options to a command; it receives `src: SourceArgs`."""
    sig = inspect.signature(fn, eval_str=True)
    params = [p for p in sig.parameters.values() if p.name != "src"]
    for name, annotation in _SOURCE_PARAMS.items():
        default = False if name in ("verbose", "raw") else None
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        from emb_cli.sources.files.inputs import forget_reads

        forget_reads()  # outputs are checked against this command's inputs only
        verbose = kw.pop("verbose")
        src = _source_args(kw)
        with fetch_report(verbose, src.from_):
            return fn(src=src, **kw)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def fetch_report(verbose: bool, *paths: Path | str | None) -> Iterator[None]:
    """--verbose: after a command that read a remote source, `fetched N bytes in M requests`
    on stderr (stdout stays one document). Nothing when no byte came: a fetch that failed
    at once leaves only its error line."""
    from emb_cli.sources.remote.hub import looks_like_repo_id

    if not any(is_remote(p) or looks_like_repo_id(p) for p in paths):
        yield
        return
    from emb_cli.sources.remote.urls import FETCHED, reset_fetched

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
