"""The renderers' stdout as a user's terminal: a pinned width, no colour, read back as text."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import pytest

# Narrow enough that the wide tables (info, undertrained, stats) must fit themselves to it.
WIDTH = 100


class Terminal(io.StringIO):
    """A stdout that says it is a terminal, so rich fits tables to COLUMNS as for a user."""

    def __init__(self) -> None:
        super().__init__()
        self.err = io.StringIO()  # stderr: notes, not the result

    def isatty(self) -> bool:
        return True

    def show(self, render: Callable[..., None], *args: Any, **kwargs: Any) -> str:
        """Run a renderer with this as stdout (pytest swaps sys.stdout between a test's
        setup and its call, so a fixture cannot set it once); the text it printed."""
        with contextlib.redirect_stdout(self), contextlib.redirect_stderr(self.err):
            render(*args, **kwargs)
        return self.getvalue()

    def lines(self) -> list[str]:
        return self.getvalue().splitlines()

    def flat(self) -> str:
        """The text with the terminal's line wraps undone, for prose that wraps at WIDTH."""
        return " ".join(self.getvalue().split())


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """What the renderers print on stdout in a WIDTH-column terminal, unstyled."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setenv("NO_COLOR", "1")
    return Terminal()


@pytest.fixture
def open_table() -> Callable[..., Any]:
    """open_table(from_=..., preset=..., vocab_size=...): a table as the commands open it."""
    from emb_cli.sources.config.spec import Overrides
    from emb_cli.sources.resolve import SourceArgs, open_source

    def open_table(from_: Any = None, preset: str | None = None, **overrides: Any) -> Any:
        return open_source(SourceArgs(from_=from_, preset=preset, overrides=Overrides(**overrides)))

    return open_table
