"""Built GGUF tokenizers kept on disk, so the second `emb tokenize` skips the build.

Reading and checking Llama 3's 128,256 tokens and 280,000 merges from the GGUF takes about a
second; loading them back as compact tables (bpe_tables.py) a few hundredths of that. An entry
is one file under $XDG_CACHE_HOME/emb/tokenizers (~/.cache/... when unset), named by a hash of
the GGUF file's identity (absolute path, size, mtime, inode) and emb's version: a first line of
JSON with that key, the SHA-256 of the rest and the sizes of its parts, then the payload as
JSON followed by its raw byte strings (a `bytes` value anywhere in the payload is kept as it
is and comes back as a memoryview). It is data only (parsed, never executed): an entry that
does not parse, names another file or version, or fails its digest is rebuilt and rewritten,
never used. Writes are atomic (a temporary file renamed) and best effort: a read-only cache
folder only costs the build.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from emb_cli import __version__

FORMAT: Final = 3
ENDS: Final = "ends-"  # entries of a GGUF header's string-array ends (header.py)
_enabled = True


@contextmanager
def switched(on: bool) -> Iterator[None]:
    """`--no-cache` (on=False): neither read nor write entries inside the block."""
    global _enabled
    was, _enabled = _enabled, on
    try:
        yield
    finally:
        _enabled = was


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


def _entry_path(identity: dict[str, Any], prefix: str = "") -> Path:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"{prefix}{digest[:32]}.json"


def _digest(body: bytes | memoryview) -> str:
    return hashlib.sha256(body).hexdigest()


def load_entry(path: Path) -> dict[str, Any] | None:
    """The cached payload for the GGUF at `path`, or None (none, disabled, or not trusted)."""
    identity = file_identity(path) if _enabled else None
    if identity is None:
        return None
    try:
        data = _entry_path(identity).read_bytes()
        cut = data.index(b"\n")
        doc = json.loads(data[:cut])
        if not isinstance(doc, dict) or doc.get("key") != identity:
            return None
        body = memoryview(data)[cut + 1 :]
        if doc.get("sha256") != _digest(body):
            return None
        sizes = doc["parts"]
        if not isinstance(sizes, list) or not all(type(n) is int and n >= 0 for n in sizes):
            return None
        if sum(sizes) != len(body):
            return None
        parts, at = [], 0
        for n in sizes:
            parts.append(body[at : at + n])
            at += n
        payload = _unpack(json.loads(bytes(parts[0])), parts[1:])
    except (OSError, ValueError, TypeError, RecursionError, KeyError, IndexError):
        return None
    return payload if isinstance(payload, dict) else None


def load_string_ends(path: Path) -> dict[int, int]:
    """Where the big string arrays of the GGUF at `path` end, as a past read found them:
    {offset of an array's first string: offset past its last}; {} when unknown."""
    identity = file_identity(path) if _enabled else None
    if identity is None:
        return {}
    try:
        key = {**identity, "part": "string-ends"}
        doc = json.loads(_entry_path(key, ENDS).read_bytes())
        if not isinstance(doc, dict) or doc.get("key") != key:
            return {}
        ends = doc["ends"]
        return {int(k): v for k, v in ends.items() if type(v) is int}
    except (OSError, ValueError, TypeError, RecursionError, KeyError, AttributeError):
        return {}


def save_string_ends(path: Path, ends: dict[int, int]) -> None:
    identity = file_identity(path) if _enabled else None
    if identity is None:
        return
    key = {**identity, "part": "string-ends"}
    _write(_entry_path(key, ENDS), json.dumps({"key": key, "ends": ends}).encode())


def save_entry(path: Path, payload: dict[str, Any]) -> None:
    """Keep `payload` for the GGUF at `path`; silent when the folder cannot be written."""
    identity = file_identity(path) if _enabled else None
    if identity is None:
        return
    target = _entry_path(identity)
    blobs: list[bytes] = []
    parts = [json.dumps(_pack(payload, blobs)).encode(), *blobs]
    body = b"".join(parts)
    head = json.dumps(
        {"key": identity, "sha256": _digest(body), "parts": [len(p) for p in parts]}
    ).encode()
    _write(target, head + b"\n" + body)


def _write(target: Path, data: bytes) -> None:
    """Atomic and best effort: a folder that cannot be written only costs the next build."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return


def _pack(value: Any, blobs: list[bytes]) -> Any:
    """`value` for JSON: each bytes value becomes {"$blob": its index in `blobs`}."""
    if isinstance(value, (bytes, bytearray)):
        blobs.append(bytes(value))
        return {"$blob": len(blobs) - 1}
    if isinstance(value, dict):
        return {k: _pack(v, blobs) for k, v in value.items()}
    return value


def _unpack(value: Any, blobs: list[memoryview]) -> Any:
    if isinstance(value, dict):
        if value.keys() == {"$blob"}:
            return blobs[value["$blob"]]
        return {k: _unpack(v, blobs) for k, v in value.items()}
    return value


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
    entries: int  # built tokenizers
    header_indexes: int  # GGUF string-array ends
    bytes: int


def summary() -> CacheSummary:
    folder = cache_dir()
    found = _entries(folder)
    ends = sum(p.name.startswith(ENDS) for p in found)
    size = sum(p.stat().st_size for p in found)
    return CacheSummary(str(folder), len(found) - ends, ends, size)


def clear() -> CacheSummary:
    """Remove every entry (and leftover temporary file); what was removed."""
    folder = cache_dir()
    gone = [p for p in _entries(folder) if _unlink(p)]
    for p in folder.glob(".tmp-*.json") if folder.is_dir() else ():
        _unlink(p)
    ends = sum(p.name.startswith(ENDS) for p in gone)
    return CacheSummary(str(folder), len(gone) - ends, ends, 0)


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
