"""Progress for long chunked passes: a hook the CLI installs, silent without it (a leaf module)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Protocol, TypeVar

B = TypeVar("B", bound=Sized)


class ProgressBar(Protocol):
    def advance(self, rows: int) -> None: ...

    def close(self) -> None: ...


# Installed by the CLI (render.console.install_progress) when stderr is a terminal; analyses
# never print, so without it the chunk iterators stay silent.
_progress: Callable[[str, int], ProgressBar] | None = None
_progress_live = False


def set_progress(factory: Callable[[str, int], ProgressBar] | None) -> None:
    """factory(label, total_rows) -> a bar; None turns progress off."""
    global _progress
    _progress = factory


def tracked(
    chunks: Iterable[tuple[int, B]], total_rows: int, label: str
) -> Iterator[tuple[int, B]]:
    """Yield the chunks, advancing the installed bar by rows; one bar at a time (tie reads two)."""
    global _progress_live
    if _progress is None or _progress_live:
        yield from chunks
        return
    bar = _progress(label, total_rows)
    _progress_live = True
    try:
        for start, block in chunks:
            yield start, block
            bar.advance(len(block))
    finally:
        _progress_live = False
        bar.close()
