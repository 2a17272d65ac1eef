"""Repo ids as a --from value: `ORG/NAME[@REV][/FILE]` through the local Hugging Face
cache (hub.py), else the Hub by range requests (urls.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from emb_cli.sources.base import Checkpoint, Reader, dispatch
from emb_cli.sources.remote.hub import looks_like_repo_id, resolve_repo

DIR_FILES: tuple[tuple[int, str], ...] = ()
DIR_GLOB: str | None = None


def recognises(path: str) -> bool:
    """A repo id that names nothing on disk (an existing local path always wins)."""
    return looks_like_repo_id(path)


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    found = resolve_repo(path)
    if found.local is not None:  # the cached snapshot, named by its path in the output
        from emb_cli.sources.files.inputs import record_read

        record_read(str(found.local))
        return dispatch(str(found.local), readers)
    from emb_cli.sources.remote.urls import open_resolved

    return open_resolved(found)
