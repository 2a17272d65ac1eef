"""Sharded safetensors checkpoints: `model.safetensors.index.json` and the shards it maps.

Only the index is read at open; a shard's header is read the first time one of its
tensors is asked for, so a 1 TB checkpoint opens by reading one header. The index
format (a weight_map of tensor name -> shard file) is parsed here for every reader that
meets one: remote indexes and pytorch_model.bin.index.json too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emb_cli.errors import InputError
from emb_cli.sources.base import Checkpoint, Format, Reader, TensorRef
from emb_cli.sources.files.inputs import is_file, parse_json, read_input, record_read
from emb_cli.sources.safetensors_file import SafetensorsHeader, attach_fp8_scale, read_header


@dataclass
class ShardedIndex:
    path: Path | str  # a URL for remote indexes
    weight_map: dict[str, str]  # tensor name -> shard file name
    metadata: dict[str, Any]

    def shard_path(self, tensor: str) -> Path:
        assert isinstance(self.path, Path), "remote shards: remote/urls.shard_url"
        return self.path.parent / self.weight_map[tensor]


def read_index(path: Path) -> ShardedIndex:
    """A local index; every shard it names counts as an input (outputs never replace one)."""
    index = parse_index(path, read_input(path, "sharded index"))
    for shard in set(index.weight_map.values()):
        record_read(path.parent / shard)
    return index


def parse_index(path: Path | str, raw: bytes) -> ShardedIndex:
    """An index's bytes, read from disk or fetched; `path` names it in messages."""
    data = parse_json(raw, f"sharded index {path}")
    wm = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(wm, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in wm.items()
    ):
        raise InputError(f"sharded index {path} has no weight_map of tensor name -> shard file")
    for shard in set(wm.values()):
        # "/" too, whatever os.sep is: a remote index resolves shards as relative URLs.
        if os.sep in shard or "/" in shard or shard.startswith("..") or shard in ("", "."):
            raise InputError(f"sharded index {path} names a shard outside its folder: {shard!r}")
        if "\x00" in shard:
            raise InputError(f"sharded index {path} names a shard with a NUL byte: {shard!r}")
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return ShardedIndex(path=path, weight_map=wm, metadata=meta)


SUFFIX = ".safetensors.index.json"
DIR_FILES: tuple[tuple[int, str], ...] = ((0, "model.safetensors.index.json"),)
DIR_GLOB: str | None = None


def recognises(path: str) -> bool:
    return Path(path).name.endswith(SUFFIX)


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    # the JSON beside it: checkpoint.open_checkpoint (an index named), hf_dir (its folder)
    return open_index(Path(path))


def open_index(path: Path) -> Checkpoint:
    index = read_index(path)
    headers: dict[Path, SafetensorsHeader] = {}
    ckpt: Checkpoint

    def header_for(name: str) -> SafetensorsHeader:
        shard = index.shard_path(name)
        if shard not in headers:
            if not is_file(shard, "shard"):
                raise InputError(
                    f"sharded index {path.name} says {name} is in {shard.name}, which is missing; "
                    "download the whole checkpoint or fix the index"
                )
            headers[shard] = read_header(shard)
            ckpt.metadata.update(headers[shard].metadata)
        return headers[shard]

    def get(name: str) -> TensorRef:
        h = header_for(name)
        if name not in h.tensors:
            raise InputError(
                f"sharded index {path.name} maps {name} to {index.weight_map[name]}, "
                "but that shard does not hold it"
            )
        t = h.tensors[name]
        scale = name + "_scale_inv"
        if t.scale is None and t.dtype.startswith("float8") and scale in index.weight_map:
            # the weight's block scales were saved into another shard
            hs = header_for(scale)
            if scale in hs.tensors:
                attach_fp8_scale(str(index.shard_path(scale)), t, hs.tensors[scale])
        return t

    ckpt = Checkpoint(
        path=path,
        kind=Format.SHARDED,
        names=list(index.weight_map),
        get=get,
        file_of=lambda name: str(index.shard_path(name)),
        weights_path=path,
    )
    return ckpt
