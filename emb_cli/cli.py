"""emb: inspect the token-embedding tables of language models.

Each command parses options, calls one analysis function, and hands the report to render.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from emb_cli import __version__
from emb_cli.errors import EXIT_INTERNAL, EmbError, UsageError, error_line
from emb_cli.sources.resolve import SourceArgs
from emb_cli.sources.spec import Overrides

F = TypeVar("F", bound=Callable[..., Any])
# Typer 0.26+ bundles its own Click; reach its ClickException through a public class.
_CLICK_EXCEPTION: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class EmbGroup(TyperGroup):
    """One catch point: `Error: ...` on stderr, the documented exit code, no traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.pop("standalone_mode", True)
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except _CLICK_EXCEPTION as exc:
            exc_any: Any = exc
            if not standalone:
                raise
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one already printed help
                error_line(f"{exc_any.format_message()} (see `{_command_path(exc)} --help`)")
            rc = exc_any.exit_code
        except typer.Exit as exc:
            rc = exc.exit_code
        except typer.Abort:
            rc = 1
        except EmbError as exc:
            if os.environ.get("EMB_DEBUG") == "1":
                raise
            error_line(exc.message)
            rc = exc.exit_code
        except Exception as exc:
            if os.environ.get("EMB_DEBUG") == "1" or not standalone:
                raise
            error_line(
                f"internal error: {type(exc).__name__}: {exc}; this is a bug in emb — rerun "
                "with EMB_DEBUG=1 and report the traceback"
            )
            rc = EXIT_INTERNAL
        else:
            rc = rv if isinstance(rv, int) else 0
        if standalone:
            sys.exit(rc)
        return rc


def _command_path(exc: Any) -> str:
    ctx = getattr(exc, "ctx", None)
    return ctx.command_path if ctx is not None else "emb"


app = typer.Typer(
    cls=EmbGroup,
    name="emb",
    help="Inspect the token-embedding tables of language models: lookup, sizes, init "
    "statistics, padding and tie checks. Tables come from the default config, a --preset, "
    "a --config, flags, or a checkpoint (--from).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class InitScheme(str, Enum):
    normal = "normal"
    torch_default = "torch-default"
    uniform = "uniform"
    xavier_normal = "xavier-normal"
    xavier_uniform = "xavier-uniform"


class BuildDtype(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Expect(str, Enum):
    init = "init"
    trained = "trained"


SRC = "Table source"
FromOpt = Annotated[
    Path | None,
    typer.Option("--from", help="Checkpoint: .safetensors, sharded index, HF model dir, .gguf, .bin/.pt.",
                 rich_help_panel=SRC),
]
TensorOpt = Annotated[
    str | None, typer.Option("--tensor", help="Tensor name in --from (default: found by name).", rich_help_panel=SRC)
]
PresetOpt = Annotated[str | None, typer.Option("--preset", help="A preset from `emb presets`.", rich_help_panel=SRC)]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="An emb TOML file or a Hugging Face config.json.", rich_help_panel=SRC)
]
VocabOpt = Annotated[int | None, typer.Option("--vocab", help="vocab_size (rows).", rich_help_panel=SRC)]
DimOpt = Annotated[int | None, typer.Option("--dim", help="embed_dim / hidden_size (columns).", rich_help_panel=SRC)]
PadOpt = Annotated[str | None, typer.Option("--pad", help="Pad token id, or 'none'.", rich_help_panel=SRC)]
StdOpt = Annotated[float | None, typer.Option("--init-std", help="initializer_range for --init normal.", rich_help_panel=SRC)]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="torch.manual_seed before the init.", rich_help_panel=SRC)]
DtypeOpt = Annotated[BuildDtype | None, typer.Option("--dtype", help="Cast after the fp32 init.", rich_help_panel=SRC)]
TieOpt = Annotated[bool | None, typer.Option("--tie/--no-tie", help="Tie the LM head to the embedding.", rich_help_panel=SRC)]
InitOpt = Annotated[InitScheme | None, typer.Option("--init", help="Init recipe (see README).", rich_help_panel=SRC)]
LowOpt = Annotated[float | None, typer.Option("--low", help="Lower bound for --init uniform (-0.1).", rich_help_panel=SRC)]
HighOpt = Annotated[float | None, typer.Option("--high", help="Upper bound for --init uniform (0.1).", rich_help_panel=SRC)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (keys in the README).")]

_SOURCE_PARAMS = {
    "from_": FromOpt, "tensor": TensorOpt, "preset": PresetOpt, "config": ConfigOpt,
    "vocab": VocabOpt, "dim": DimOpt, "pad": PadOpt, "init_std": StdOpt, "seed": SeedOpt,
    "dtype": DtypeOpt, "tie": TieOpt, "init": InitOpt, "low": LowOpt, "high": HighOpt,
}


def _source_args(kw: dict[str, Any]) -> SourceArgs:
    dtype, init = kw.pop("dtype"), kw.pop("init")
    return SourceArgs(
        from_=kw.pop("from_"),
        tensor=kw.pop("tensor"),
        preset=kw.pop("preset"),
        config=kw.pop("config"),
        overrides=Overrides(
            vocab_size=kw.pop("vocab"), embed_dim=kw.pop("dim"), pad=kw.pop("pad"),
            init_std=kw.pop("init_std"), seed=kw.pop("seed"),
            dtype=dtype.value if dtype is not None else None, tied=kw.pop("tie"),
            init=init.value if init is not None else None, low=kw.pop("low"), high=kw.pop("high"),
        ),
    )


def with_source(fn: F) -> F:
    """Append the shared table-source options to a command; it receives `src: SourceArgs`."""
    sig = inspect.signature(fn, eval_str=True)
    params = [p for p in sig.parameters.values() if p.name != "src"]
    for name, annotation in _SOURCE_PARAMS.items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        src = _source_args(kw)
        return fn(src=src, **kw)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]


def _parse_ids(raw: list[str] | None) -> list[int]:
    ids: list[int] = []
    for item in raw or []:
        for part in item.replace(",", " ").split():
            try:
                ids.append(int(part))
            except ValueError:
                raise UsageError(f"token id {part!r} is not an integer") from None
    return ids


def _open(src: SourceArgs) -> Any:
    from emb_cli.sources.resolve import open_source

    return open_source(src)


def _finish(ok: bool) -> None:
    if not ok:
        raise typer.Exit(1)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emb {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """Inspect token-embedding tables."""


@app.command(context_settings={"ignore_unknown_options": True})
@with_source
def lookup(
    ids: Annotated[list[str] | None, typer.Argument(help="Token ids (space or comma separated).", show_default=False)] = None,
    text: Annotated[str | None, typer.Option("--text", help="Text to tokenise with the checkpoint's tokenizer.json.")] = None,
    extra_ids: Annotated[list[str] | None, typer.Option("--ids", help="More ids, appended after --text.")] = None,
    special: Annotated[bool, typer.Option("--special/--no-special", help="Add the tokenizer's special tokens to --text.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Show every value (default: shortened like torch).")] = False,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Show the rows for token ids, as nn.Embedding's forward returns them (1, T, D).

    Example: emb lookup 73 786 2934
    """
    from emb_cli.analysis.lookup import encode_text, lookup_rows

    source = _open(src)
    token_ids = _parse_ids(ids)
    if text is not None:
        token_ids += encode_text(source, text, special)
    token_ids += _parse_ids(extra_ids)
    report = lookup_rows(source, token_ids)
    from emb_cli import render

    render.print_json(report) if json_ else render.render_lookup(report, full)


@app.command()
@with_source
def stats(json_: JsonOpt = False, *, src: SourceArgs) -> None:
    """Count parameters and memory (arithmetic: nothing is allocated).

    Example: emb stats --vocab 100352 --dim 4096
    """
    from emb_cli.analysis.counting import count

    if src.from_ is None:
        from emb_cli.sources.resolve import resolve_spec

        resolve_spec(src)  # validate sizes without building anything
    report = count(_open(src).info)
    from emb_cli import render

    render.print_json(report) if json_ else render.render_count(report)


@app.command("init-stats")
@with_source
def init_stats_cmd(
    expect: Annotated[Expect | None, typer.Option("--expect", help="Exit 1 if the verdict contradicts this.")] = None,
    no_hist: Annotated[bool, typer.Option("--no-hist", help="Leave out the terminal histograms.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG figure (needs matplotlib).")] = None,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Measure the table's statistics beside what its init predicts, with a verdict.

    Example: emb init-stats --preset gpt2
    """
    from emb_cli.analysis.init_stats import init_stats

    report = init_stats(_open(src))
    from emb_cli import render

    if plot is not None:
        from emb_cli.plot import write_plot

        write_plot(report, plot)
    render.print_json(report) if json_ else render.render_init_stats(report, histograms=not no_hist)
    if expect is not None:
        init_like = report.verdict in ("consistent-with-init", "init-like")
        if report.verdict == "unknown" or init_like != (expect is Expect.init):
            raise typer.Exit(1)


@app.command()
@with_source
def padding(
    ids: Annotated[list[str] | None, typer.Option("--ids", help="Ids for the gradient batch (built tables).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a checkpoint's pad row is not zero.")] = False,
    no_padding_idx: Annotated[bool, typer.Option("--no-padding-idx", help="Also run the pass without padding_idx.")] = False,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Check the pad row: exactly zero, and (built tables) zero gradient in a real backward pass.

    Example: emb padding --preset bert-base-uncased
    """
    from emb_cli.analysis.padding import check_padding

    report = check_padding(_open(src), _parse_ids(ids), strict=strict, without_padding_idx=no_padding_idx)
    from emb_cli import render

    render.print_json(report) if json_ else render.render_padding(report)
    _finish(report.ok)


@app.command()
@with_source
def tie(
    ids: Annotated[list[str] | None, typer.Option("--ids", help="Ids for the forward pass (built tables).")] = None,
    all_rows: Annotated[bool, typer.Option("--all-rows", help="Compare every row even after a difference.")] = False,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Verify whether the LM head is tied to the input embedding, with the evidence.

    Example: emb tie --from ./tiny-llama
    """
    from emb_cli.analysis.ties import verify_tie

    report = verify_tie(_open(src), _parse_ids(ids), all_rows=all_rows)
    from emb_cli import render

    render.print_json(report) if json_ else render.render_tie(report)
    _finish(report.ok)


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="Checkpoint: .safetensors, index, HF dir, .gguf, .bin.")],
    tensor: TensorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List a checkpoint's embedding tensors, config and tokenizer facts (headers only).

    Example: emb info ./Llama-3-8B
    """
    from emb_cli.analysis.info import checkpoint_info

    source = _open(SourceArgs(from_=path, tensor=tensor))
    report = checkpoint_info(source)
    from emb_cli import render

    render.print_json(report) if json_ else render.render_info(report)


@app.command()
def presets(json_: JsonOpt = False) -> None:
    """List the presets shipped in configs/, with their sizes.

    Example: emb presets
    """
    from emb_cli.sources.spec import load_preset, preset_names

    rows = []
    for name in preset_names():
        s = load_preset(name)
        rows.append(
            {"name": name, "vocab_size": s.vocab_size, "embed_dim": s.embed_dim,
             "pad_token_id": s.pad_token_id, "tied": s.tied, "dtype": s.dtype,
             "initializer_range": s.init.std, "params": s.vocab_size * s.embed_dim}
        )
    from emb_cli import render

    render.print_json({"presets": rows}) if json_ else render.render_presets(rows)


def main() -> None:
    app()
