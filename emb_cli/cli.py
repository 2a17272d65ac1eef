"""emb: inspect the token-embedding tables of language models.

The app, its root options and the one error handler; the commands live in commands/,
one module each, and are listed in COMMANDS below.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from emb_cli import __version__
from emb_cli.commands import (
    cache,
    check,
    diff,
    export,
    info,
    init_stats,
    lookup,
    neighbors,
    padding,
    presets,
    report,
    resize,
    stats,
    tie,
    tokenize,
    undertrained,
)
from emb_cli.errors import EXIT_INTERNAL, EmbError, error_line

# Typer 0.26+ bundles its own Click; reach its ClickException through a public class.
_CLICK_EXCEPTION: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


# The reader of stdout went away (`emb lookup ... | head -1`): what a shell reports for a
# process killed by SIGPIPE, 128 + 13. Not 1 (a failed check) nor 2 (bad input).
EXIT_BROKEN_PIPE = 141


class _ReaderGone(Exception):
    """stdout's reader closed the pipe; carried past Click, which would exit 1 for it."""


def _quiet_stdout() -> None:
    # Whatever is still buffered would fail again at exit: send it to devnull instead.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real fd (an in-process test runner)
        pass


class EmbGroup(TyperGroup):
    """One catch point: `Error: ...` on stderr, the documented exit code, no traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise _ReaderGone from exc
            raise

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
        except _ReaderGone:
            _quiet_stdout()
            rc = EXIT_BROKEN_PIPE
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
    from emb_cli.render.console import install_progress

    install_progress()  # a stderr bar for long chunked passes, only on a terminal


# Every command, listed once: (name, function, options for app.command).
COMMANDS: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
    ("lookup", lookup.lookup, {"context_settings": {"ignore_unknown_options": True}}),
    ("stats", stats.stats, {}),
    ("init-stats", init_stats.init_stats, {}),
    ("padding", padding.padding, {}),
    ("tie", tie.tie, {}),
    ("info", info.info, {}),
    ("presets", presets.presets, {}),
    ("undertrained", undertrained.undertrained, {}),
    ("neighbors", neighbors.neighbors, {"context_settings": {"ignore_unknown_options": True}}),
    ("diff", diff.diff, {}),
    ("resize", resize.resize, {}),
    ("cache", cache.cache, {}),
    ("tokenize", tokenize.tokenize, {}),
    ("check", check.check, {}),
    ("report", report.report, {}),
    ("export", export.export, {}),
]
for _name, _fn, _kw in COMMANDS:
    app.command(_name, **_kw)(_fn)


def main() -> None:
    if os.environ.get("NO_COLOR", "") != "":
        # https://no-color.org: the help and usage errors drop bold and italic too
        import typer.rich_utils

        typer.rich_utils.COLOR_SYSTEM = None
    app()
