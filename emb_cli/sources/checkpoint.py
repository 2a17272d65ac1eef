"""Open what people have on disk or on a server: one list of readers, the first that
recognises a path opens it. Adding a format is one module and one line here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emb_cli.errors import InputError
from emb_cli.sources import hf_dir, safetensors_file, sharded, torch_file
from emb_cli.sources.base import Checkpoint, Format, Reader, dispatch
from emb_cli.sources.config.siblings import attach_dir_files
from emb_cli.sources.files.inputs import is_file, kind, record_read
from emb_cli.sources.gguf import file as gguf_file
from emb_cli.sources.remote import repo_id
from emb_cli.sources.remote import urls as remote

# Order matters: remote specs and repo ids before paths, a directory before files,
# magic/suffix checks before the fallback, which reads any other file as safetensors.
READERS: tuple[Reader, ...] = (
    remote,
    repo_id,
    hf_dir,
    sharded,
    gguf_file,
    torch_file,
    safetensors_file,
)
# Readers of names that are not paths on this machine.
NOT_PATHS: tuple[Reader, ...] = (remote, repo_id)


# Weights files that carry no config of their own: the folder's JSON completes them. A GGUF
# file holds its config and tokenizer in its metadata; llama.cpp reads nothing beside it.
_COMPLETED_BY_FOLDER = (Format.SAFETENSORS, Format.TORCH, Format.SHARDED)


def open_checkpoint(path: Path | str, siblings: bool = True) -> Checkpoint:
    """A local path, an http(s):// URL or hf:// spec (range requests), or ORG/NAME[@REV].

    siblings: a local weights file (or index, or a file of a cached repo) reads
    config.json, generation_config.json and the tokenizer files from its folder, as a
    folder or a URL's siblings are read; False: the file alone.
    """
    spec = str(path)
    # kind(): a FIFO, a device or an unreadable path is an InputError here, not a hang
    is_path = not remote.recognises(spec) and kind(spec) is not None
    if not is_path and not any(r.recognises(spec) for r in NOT_PATHS):
        raise InputError(f"no such file or directory: {path}")
    if is_path:
        record_read(spec)  # whatever the format's reader opens, outputs never replace it
    ckpt = dispatch(spec, READERS)
    local = ckpt.path if isinstance(ckpt.path, Path) else None  # a folder's is a folder
    if siblings and ckpt.kind in _COMPLETED_BY_FOLDER and local is not None and is_file(local):
        beside = attach_dir_files(ckpt, local.parent)
        # an index has always read its folder (its shards are there): only a file says so
        ckpt.beside = tuple(beside) if ckpt.kind != Format.SHARDED else ()
    if _states_quantization(ckpt.config):
        from emb_cli.sources.quant.guard import quantized_checkpoint

        ckpt = quantized_checkpoint(ckpt)
    return ckpt


def _states_quantization(config: dict[str, Any] | None) -> bool:
    """config.json (or its text_config) names a quantization: MLX's or quantization_config."""
    keys = ("quantization", "quantization_config")
    inner = (config or {}).get("text_config")
    return any(k in (config or {}) for k in keys) or (
        isinstance(inner, dict) and any(k in inner for k in keys)
    )
