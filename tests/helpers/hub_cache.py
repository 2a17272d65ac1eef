"""A Hugging Face cache laid out as huggingface_hub writes it, for the hub tests and the
golden fixtures."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_repo(
    cache: Path, repo_id: str, snapshots: dict[str, dict[str, bytes]], refs: dict[str, str]
) -> Path:
    """models--ORG--NAME as huggingface_hub's file_download writes it; returns that folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for commit, files in snapshots.items():
        for name, data in files.items():
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            link = repo / "snapshots" / commit / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    for ref, commit in refs.items():
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes
    return repo
