"""emb: inspect the token-embedding tables of language models.

Each command parses options, calls one analysis function, and hands the report to render.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from emb_cli import __version__
from emb_cli.errors import EXIT_INTERNAL, EmbError, UsageError, error_line
from emb_cli.options import (
    Expect,
    JsonOpt,
    TensorOpt,
    finish,
    open_source,
    parse_ids,
    with_source,
)
from emb_cli.sources.resolve import SourceArgs

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emb {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Inspect token-embedding tables."""
    from emb_cli.render import install_progress

    install_progress()  # a stderr bar for long chunked passes, only on a terminal


@app.command(context_settings={"ignore_unknown_options": True})
@with_source
def lookup(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Token ids (space or comma separated).", show_default=False),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option("--text", help="Text to tokenise with the checkpoint's tokenizer.json."),
    ] = None,
    extra_ids: Annotated[
        list[str] | None, typer.Option("--ids", help="More ids, appended after --text.")
    ] = None,
    special: Annotated[
        bool,
        typer.Option(
            "--special/--no-special", help="Add the tokenizer's special tokens to --text."
        ),
    ] = False,
    batch: Annotated[
        list[str] | None,
        typer.Option(
            "--batch", help="One sequence of ids (repeat for a batch); ragged ones are padded."
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Show every value (default: shortened like torch).")
    ] = False,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Show the rows for token ids, as nn.Embedding's forward returns them (1, T, D).

    Example: emb lookup 73 786 2934   (or --batch 73,786,2934 --batch 5,6 for (B, T, D))
    """
    from emb_cli import render
    from emb_cli.analysis.lookup import encode_text, lookup_batch, lookup_rows

    source = open_source(src)
    token_ids = parse_ids(ids)
    if text is not None:
        token_ids += encode_text(source, text, special)
    token_ids += parse_ids(extra_ids)
    if batch:
        if token_ids:
            raise UsageError(
                "pass ids either as arguments/--text/--ids or as --batch sequences, not both"
            )
        result = lookup_batch(source, [parse_ids([seq]) for seq in batch])
        render.print_json(result) if json_ else render.render_batch(result, full)
        return
    report = lookup_rows(source, token_ids)
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
    report = count(open_source(src).info)
    from emb_cli import render

    render.print_json(report) if json_ else render.render_count(report)


@app.command("init-stats")
@with_source
def init_stats_cmd(
    expect: Annotated[
        Expect | None, typer.Option("--expect", help="Exit 1 if the verdict contradicts this.")
    ] = None,
    no_hist: Annotated[
        bool, typer.Option("--no-hist", help="Leave out the terminal histograms.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG figure (needs matplotlib).")
    ] = None,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Measure the table's statistics beside what its init predicts, with a verdict.

    Example: emb init-stats --preset gpt2
    """
    from emb_cli.analysis.init_stats import init_stats

    report = init_stats(open_source(src))
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
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="Ids for the gradient batch (built tables).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a checkpoint's pad row is not zero.")
    ] = False,
    no_padding_idx: Annotated[
        bool, typer.Option("--no-padding-idx", help="Also run the pass without padding_idx.")
    ] = False,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Check the pad row: exactly zero, and (built tables) zero gradient in a real backward pass.

    Example: emb padding --preset bert-base-uncased
    """
    from emb_cli.analysis.padding import check_padding

    report = check_padding(
        open_source(src), parse_ids(ids), strict=strict, without_padding_idx=no_padding_idx
    )
    from emb_cli import render

    render.print_json(report) if json_ else render.render_padding(report)
    finish(report.ok)


@app.command()
@with_source
def tie(
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="Ids for the forward pass (built tables).")
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all-rows", help="Compare every row even after a difference.")
    ] = False,
    json_: JsonOpt = False,
    *,
    src: SourceArgs,
) -> None:
    """Verify whether the LM head is tied to the input embedding, with the evidence.

    Example: emb tie --from ./tiny-llama
    """
    from emb_cli.analysis.ties import verify_tie

    report = verify_tie(open_source(src), parse_ids(ids), all_rows=all_rows)
    from emb_cli import render

    render.print_json(report) if json_ else render.render_tie(report)
    finish(report.ok)


@app.command()
def info(
    path: Annotated[
        str, typer.Argument(help="Checkpoint: .safetensors, index, HF dir, .gguf, .bin, URL.")
    ],
    tensor: TensorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List a checkpoint's embedding tensors, config and tokenizer facts (headers only).

    Example: emb info ./Llama-3-8B
    """
    from emb_cli.analysis.info import checkpoint_info

    source = open_source(SourceArgs(from_=path, tensor=tensor))
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
            {
                "name": name,
                "vocab_size": s.vocab_size,
                "embed_dim": s.embed_dim,
                "pad_token_id": s.pad_token_id,
                "tied": s.tied,
                "dtype": s.dtype,
                "initializer_range": s.init.std,
                "params": s.vocab_size * s.embed_dim,
            }
        )
    from emb_cli import render

    render.print_json({"presets": rows}) if json_ else render.render_presets(rows)


def _register_command_modules() -> None:
    """Commands past the core five live in emb_cli/commands/, one module each."""
    import importlib
    import pkgutil

    import emb_cli.commands as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"emb_cli.commands.{mod.name}").register(app)


_register_command_modules()


def main() -> None:
    app()
