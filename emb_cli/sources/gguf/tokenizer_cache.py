"""Built GGUF tokenizers kept on disk, so the second `emb tokenize` skips the build.

Reading and checking Llama 3's 128,256 tokens and 280,000 merges from the GGUF takes about a
second; loading them back as compact tables (bpe_tables.py) a tenth of that. An entry is one
file under $XDG_CACHE_HOME/emb/tokenizers (~/.cache/... when unset), named by a hash of the
GGUF file's identity (absolute path, size, mtime, inode) and emb's version: a first line of
JSON with that key and the SHA-256 of the rest, then the payload as JSON. It is data only
(parsed, never executed): an entry that does not parse, names another file or version, or
fails its digest is rebuilt and rewritten, never used. Writes are atomic (a temporary file renamed)
and best effort: a read-only cache folder only costs the build.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from emb_cli import __version__

FORMAT: Final = 2
_enabled = True


def set_enabled(on: bool) -> None:
    """`--no-cache`: neither read nor write entries in this process."""
    global _enabled
    _enabled = on


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "emb" / "tokenizers"


def file_identity(path: Path) -> dict[str, Any] | None:
    """What names one version of a local file; None for what is not a regular file."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "inode": st.st_ino,
        "device": st.st_dev,
        "emb": __version__,
        "format": FORMAT,
    }


def _entry_path(identity: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"{digest[:32]}.json"


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def load_entry(path: Path) -> dict[str, Any] | None:
    """The cached payload for the GGUF at `path`, or None (none, disabled, or not trusted)."""
    identity = file_identity(path) if _enabled else None
    if identity is None:
        return None
    try:
        head, _, body = _entry_path(identity).read_bytes().partition(b"\n")
        doc = json.loads(head)
        if not isinstance(doc, dict) or doc.get("key") != identity:
            return None
        if doc.get("sha256") != _digest(body):
            return None
        payload = json.loads(body)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def save_entry(path: Path, payload: dict[str, Any]) -> None:
    """Keep `payload` for the GGUF at `path`; silent when the folder cannot be written."""
    identity = file_identity(path) if _enabled else None
    if identity is None:
        return
    target = _entry_path(identity)
    body = json.dumps(payload).encode()
    head = json.dumps({"key": identity, "sha256": _digest(body)}).encode()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(head + b"\n" + body)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return


def cached(
    path: Path, load: Callable[[dict[str, Any]], Any], build: Callable[[], tuple[Any, Any]]
) -> Any:
    """load(payload) from a trusted entry; else build() -> (object, payload), kept on disk.
    `load` returns None for a payload it does not accept (then the entry is rebuilt)."""
    payload = load_entry(path)
    if payload is not None:
        got = load(payload)
        if got is not None:
            return got
    obj, fresh = build()
    if fresh is not None:
        save_entry(path, fresh)
    return obj


@dataclass(frozen=True)
class CacheSummary:
    folder: str
    entries: int
    bytes: int


def summary() -> CacheSummary:
    folder = cache_dir()
    sizes = [p.stat().st_size for p in _entries(folder)]
    return CacheSummary(str(folder), len(sizes), sum(sizes))


def clear() -> CacheSummary:
    """Remove every entry (and leftover temporary file); what was removed."""
    folder = cache_dir()
    gone = [p for p in _entries(folder) if _unlink(p)]
    for p in folder.glob(".tmp-*.json") if folder.is_dir() else ():
        _unlink(p)
    return CacheSummary(str(folder), len(gone), 0)


def _entries(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.glob("*.json") if not p.name.startswith(".") and p.is_file()]


def _unlink(p: Path) -> bool:
    try:
        p.unlink()
    except OSError:
        return False
    return True
