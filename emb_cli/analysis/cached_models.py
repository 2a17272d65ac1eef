"""emb cache: the models in the local Hugging Face cache that hold an embedding table.

Headers and small JSON only, as `emb info` reads them: a safetensors header (a sharded
checkpoint's index and one shard's header), config.json for the tie, a GGUF's metadata.
Tokenizers are not loaded (Qwen's tokenizer.json alone takes 0.3 s to parse) and PyTorch
.bin files are not opened (torch takes 3 s to import): the listing stays at milliseconds
per model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from emb_cli.errors import EmbError
from emb_cli.sources.remote.hub import CachedSnapshot, cache_error, holds_weights, scan_cache

# A snapshot holding one of these is opened as a folder; else each single file is a model.
_FOLDER_WEIGHTS = ("model.safetensors.index.json", "model.safetensors")
_SINGLE_GLOBS = ("*.safetensors", "*.gguf")


@dataclass(frozen=True)
class CacheEntry:
    repo_id: str
    revision: str  # the refs pointing to it ("main", "v1.0"), else the short commit
    commit: str
    path: str  # what `emb info PATH` opens: the snapshot folder or a file in it
    tensor: str  # the input embedding, found by name as every command finds it
    vocab_size: int
    embed_dim: int
    dtype: str
    # config.json's statement (family default when absent); GGUF: no output.weight.
    # None for a base model without an LM head, where `emb tie` says no-head.
    tied: bool | None
    tied_source: str | None
    has_lm_head: bool | None  # ties.has_lm_head, the rule `tie` and `stats` use
    size_on_disk: int  # bytes of the blobs this revision links to (all its files)


@dataclass(frozen=True)
class CacheSkip:
    repo_id: str
    commit: str
    reason: str


@dataclass(frozen=True)
class CacheReport:
    cache_dir: str
    models: list[CacheEntry]
    skipped: list[CacheSkip] = field(default_factory=list)  # revisions without a table
    warnings: list[str] = field(default_factory=list)  # repos huggingface_hub found corrupted


def cache_models(cache_dir: Path | None = None) -> CacheReport:
    """Every revision in the cache that holds an embedding table, with its size on disk."""
    scan = scan_cache(cache_dir)
    models: list[CacheEntry] = []
    skipped: list[CacheSkip] = []
    for snap in scan.snapshots:
        try:
            _check_readable(snap.path)
            targets = _targets(snap.path)
        except OSError as exc:  # a symlink loop in one snapshot: skip it, list the rest
            if isinstance(exc, PermissionError):
                raise cache_error(snap.path, exc) from None
            skipped.append(CacheSkip(snap.repo_id, snap.commit, f"{exc.strerror or exc}"))
            continue
        if not targets:
            why = (
                "PyTorch weights only (opening them imports torch); run `emb info PATH`"
                if holds_weights(snap.path)
                else "no weights (config or tokenizer only)"
            )
            skipped.append(CacheSkip(snap.repo_id, snap.commit, why))
            continue
        for target in targets:
            try:
                models.append(_entry(snap, target))
            except EmbError as exc:
                skipped.append(CacheSkip(snap.repo_id, snap.commit, exc.message))
    return CacheReport(str(scan.cache_dir), models, skipped, list(scan.warnings))


def _check_readable(folder: Path) -> None:
    """glob passes over a folder we may not read in silence: list it once, or raise."""
    for _root, _dirs, _files in os.walk(folder, onerror=_raise):
        pass


def _raise(exc: OSError) -> None:
    raise exc


def _targets(snapshot: Path) -> list[Path]:
    if any((snapshot / name).is_file() for name in _FOLDER_WEIGHTS):
        return [snapshot]
    singles = sorted(p for g in _SINGLE_GLOBS for p in snapshot.glob(g) if p.is_file())
    return [snapshot] if len(singles) == 1 else singles


def _entry(snap: CachedSnapshot, target: Path) -> CacheEntry:
    from emb_cli.analysis.ties import has_lm_head
    from emb_cli.sources.checkpoint import open_checkpoint
    from emb_cli.sources.loaded import LoadedSource

    ckpt = open_checkpoint(target)
    # The pad id is not listed: without the tokenizer the listing reads headers only.
    ckpt.tokenizer.file = None
    ckpt.tokenizer.config = None
    source = LoadedSource(ckpt, None, None, False)
    info = source.info
    head = has_lm_head(source)
    tied, tied_source = info.tied, info.tied_source
    if head is False:  # nothing to tie: what `emb tie` says of it (no-head)
        tied, tied_source = None, "a base model without an LM head: emb tie says no-head"
    return CacheEntry(
        repo_id=snap.repo_id,
        revision=", ".join(snap.refs) or snap.commit[:12],
        commit=snap.commit,
        path=str(target),
        tensor=info.tensor_name or "",
        vocab_size=info.vocab_size,
        embed_dim=info.embed_dim,
        dtype=info.dtype,
        tied=tied,
        tied_source=tied_source,
        has_lm_head=head,
        size_on_disk=snap.size_on_disk,
    )
