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
from emb_cli.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EmbError, error_line

# Typer 0.26+ bundles its own Click; reach its ClickException through a public class.
_CLICK_EXCEPTION: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


# The reader of stdout went away (`emb lookup ... | head -1`): what a shell reports for a
# process killed by SIGPIPE, 128 + 13. Not 1 (a failed check) nor 2 (bad input).
EXIT_BROKEN_PIPE = 141


class _ReaderGone(Exception):
    """stdout's reader closed the pipe; carried past Click, which would exit 1 for it."""


class _StdoutFailed(Exception):
    """stdout cannot take the result (/dev/full, a closed descriptor, an I/O error)."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(exc.strerror or str(exc))


class _WatchedStdout:
    """sys.stdout, remembering a failed write: an OSError from writing the result (ENOSPC
    on /dev/full, EIO) is then told apart from one while reading a file."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.failed: OSError | None = None

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except OSError as exc:
            self.failed = exc
            raise

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self.failed = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _stdout_broken() -> bool:
    return isinstance(sys.stdout, _WatchedStdout) and sys.stdout.failed is not None


def _guard_streams() -> None:
    """Before any command: standard streams a command can rely on.

    - stderr closed (`2>&-`): /dev/null takes its place, so an error still exits 2 (not 1
      or 120 from a failed write at exit); the descriptor is taken too.
    - stdout closed (`>&-`): refused, exit 2, as GNU tools do ("write error: Bad file
      descriptor"); /dev/null first takes fd 1 so no file emb opens lands there.
    - characters the stream's encoding lacks (PYTHONIOENCODING=ascii, a latin-1 locale)
      are written as backslash escapes instead of ending in UnicodeEncodeError.
    """
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        error_line("standard output is closed; emb writes its result there (drop `>&-`)")
        sys.exit(EXIT_BAD_INPUT)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (OSError, ValueError):
                pass
    sys.stdout = _WatchedStdout(sys.stdout)  # type: ignore[assignment]


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
            if _stdout_broken():  # /dev/full: ENOSPC from a write of the result
                raise _StdoutFailed(exc) from exc
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
        except SystemExit:  # Click's own EPIPE handling (help text): sys.exit(1)
            failed = sys.stdout.failed if isinstance(sys.stdout, _WatchedStdout) else None
            if failed is None or not standalone:
                raise
            _quiet_stdout()
            if failed.errno == errno.EPIPE:
                rc = EXIT_BROKEN_PIPE
            else:
                error_line(f"cannot write the result to standard output: {failed.strerror}")
                rc = EXIT_BAD_INPUT
        except _ReaderGone:
            _quiet_stdout()
            rc = EXIT_BROKEN_PIPE
        except _StdoutFailed as exc:
            _quiet_stdout()
            error_line(f"cannot write the result to standard output: {exc}")
            rc = EXIT_BAD_INPUT
        except typer.Abort:
            rc = 1
        except EmbError as exc:
            if os.environ.get("EMB_DEBUG") == "1":
                raise
            error_line(exc.message)
            rc = exc.exit_code
        except Exception as exc:
            if isinstance(exc, OSError) and _stdout_broken():  # --help, --version: /dev/full
                _quiet_stdout()
                if exc.errno == errno.EPIPE:
                    rc = EXIT_BROKEN_PIPE
                else:
                    error_line(f"cannot write the result to standard output: {exc.strerror}")
                    rc = EXIT_BAD_INPUT
                if standalone:
                    sys.exit(rc)
                return rc
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


class _TorchWithoutCollection:
    """On sys.meta_path: `import torch`, wherever a command first does it, runs with the
    cyclic collector paused, then gc.freeze() sets its million long-lived objects aside.
    Otherwise full collections walk torch's heap during its import and again under the
    command that follows (0.25 s of `emb lookup 5 --preset deepseek-v3`, measured)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "torch":
            return None
        from importlib.machinery import PathFinder

        from emb_cli.sources.collector import paused_collection

        sys.meta_path.remove(self)
        spec = PathFinder.find_spec(name, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return None  # not the usual package: imported as any other
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            with paused_collection(freeze=True):
                run(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def main() -> None:
    _guard_streams()
    if "torch" not in sys.modules:
        sys.meta_path.insert(0, _TorchWithoutCollection())
    if os.environ.get("NO_COLOR", "") != "":
        # https://no-color.org: the help and usage errors drop bold and italic too
        import typer.rich_utils

        typer.rich_utils.COLOR_SYSTEM = None
    app()
