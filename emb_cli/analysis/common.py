"""Pieces shared by the analyses: the source summary in every report, bounded parallel maps."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from emb_cli.errors import UsageError
from emb_cli.sources.base import TableInfo

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class SourceSummary:
    """Where the table came from; the `source` object of every --json document."""

    origin: str
    name: str
    vocab_size: int
    embed_dim: int
    dtype: str
    pad_token_id: int | None
    pad_source: str | None
    tied: bool | None
    tensor: str | None
    init: str | None  # e.g. "normal(0, 0.02), seed 42"
    notes: list[str]  # e.g. Gemma's sqrt(hidden_size) scaling of the looked-up rows


def describe_init(info: TableInfo) -> str | None:
    init = info.init
    if init is None:
        return None
    if init.scheme == "normal":
        what = f"normal(0, {init.std:g})"
    elif init.scheme == "uniform":
        what = f"uniform({init.low:g}, {init.high:g})"
    elif init.scheme == "torch-default":
        what = "torch-default: normal(0, 1)"
    else:
        what = init.scheme
    return f"{what}, seed {init.seed}"


def summarize(info: TableInfo) -> SourceSummary:
    return SourceSummary(
        origin=info.origin,
        name=info.name,
        vocab_size=info.vocab_size,
        embed_dim=info.embed_dim,
        dtype=info.dtype,
        pad_token_id=info.pad_token_id,
        pad_source=info.pad_source,
        tied=info.tied,
        tensor=info.tensor_name,
        init=describe_init(info),
        notes=list(info.notes),
    )


def check_top(k: int, flag: str = "-k") -> None:
    """A count of results to list: at least one."""
    if k < 1:
        raise UsageError(f"{flag} must be at least 1, got {k}")


def workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def bounded_map(
    fn: Callable[[T], R], items: Iterable[T], n_workers: int | None = None
) -> Iterator[R]:
    """executor.map with at most 2 x workers items in flight: memory stays bounded.

    numpy and pread release the GIL, so threads use both cores on a chunked scan.
    """
    n = n_workers or workers()
    if n == 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(n) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * n:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
