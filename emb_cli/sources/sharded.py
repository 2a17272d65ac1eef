"""Sharded safetensors checkpoints: `model.safetensors.index.json` and the shards it maps.

Only the index is read at open; a shard's header is read the first time one of its
tensors is asked for, so a 1 TB checkpoint opens by reading one header.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from emb_cli.errors import InputError
from emb_cli.sources.base import Checkpoint, Format, Reader, TensorRef
from emb_cli.sources.config.siblings import attach_dir_files
from emb_cli.sources.files.inputs import is_file
from emb_cli.sources.safetensors_file import (
    SafetensorsHeader,
    attach_fp8_scale,
    read_header,
    read_index,
)

SUFFIX = ".safetensors.index.json"
DIR_FILES: tuple[tuple[int, str], ...] = ((0, "model.safetensors.index.json"),)
DIR_GLOB: str | None = None


def recognises(path: str) -> bool:
    return Path(path).name.endswith(SUFFIX)


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    ckpt = open_index(Path(path))
    attach_dir_files(ckpt, Path(path).parent)
    return ckpt


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
