"""The vocabulary of emb check: check names, statuses, and which status is worst."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

Status = Literal["pass", "warn", "fail", "skip"]
CheckName = Literal[
    "vocab", "tie", "padding", "finite", "trained", "undertrained", "special", "data"
]
# In the order they are run and printed.
CHECK_NAMES: Final[tuple[CheckName, ...]] = (
    "vocab",
    "tie",
    "padding",
    "finite",
    "trained",
    "undertrained",
    "special",
    "data",
)
# skip < pass < warn < fail: a skipped check says nothing either way.
_RANK: Final[dict[Status, int]] = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}
LISTED: Final = 20  # ids or tokens named in a summary or an evidence list


def worst(statuses: Iterable[Status]) -> Status:
    """The overall status: the worst check's; `pass` when every check was skipped."""
    found: Status = max(statuses, key=_RANK.__getitem__, default="pass")
    return "pass" if found == "skip" else found


def shown(items: Iterable[object], total: int | None = None, limit: int = 5) -> str:
    """`a, b, c` or `a, b, c ... (12 in all)`, for one-line summaries."""
    listed = list(items)
    n = len(listed) if total is None else total
    text = ", ".join(str(x) for x in listed[:limit])
    return text + (f" ... ({n:,} in all)" if n > min(limit, len(listed)) else "")
