"""safetensors files, parsed and validated without torch (their sharded index: sharded.py).

The format: 8-byte little-endian header length N, N bytes of JSON
{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
then the data. We check every rule the format promises (as the safetensors crate
does) so that a hostile file gets a clear error instead of a wrong answer.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emb_cli.errors import InputError
from emb_cli.sources import dtypes
from emb_cli.sources.base import Checkpoint, Format, RangeReader, Reader
from emb_cli.sources.files.inputs import is_file, os_error
from emb_cli.sources.tensors import FileTensor, LocalReader

# safetensors refuses headers over 100 MB; so do we (a 1 TB checkpoint's index is ~1 MB).
MAX_HEADER = 100_000_000


# The first request asks for this much beyond the 8-byte length: most headers fit (a
# Llama-3-8B shard's is 23 KB), so a remote header usually costs one round trip.
SPECULATIVE_HEADER = 64 * 2**10


# fp8 block scales: DeepSeek-V3's quantization_config.weight_block_size, [128, 128].
FP8_BLOCK = 128


@dataclass
class SafetensorsHeader:
    path: Path | str  # a URL for remote files
    tensors: dict[str, FileTensor]
    metadata: dict[str, str] = field(default_factory=dict)
    raw_dtypes: dict[str, str] = field(default_factory=dict)  # name -> safetensors dtype


def read_header(path: Path | RangeReader) -> SafetensorsHeader:
    """Parse a header from a local path or any RangeReader (remote files: two reads at most)."""
    if not isinstance(path, Path):
        return _read_header(path, remote=True)
    reader = LocalReader(str(path))  # through inputs.open_input: regular files only
    try:
        return _read_header(reader, remote=False)
    except OSError as exc:
        raise os_error(exc, path) from exc
    finally:
        reader.close()


def _read_header(reader: RangeReader, remote: bool) -> SafetensorsHeader:
    name = reader.name
    first = reader.read(0, 8 + SPECULATIVE_HEADER)
    size = reader.size
    if len(first) < 8:
        raise InputError(
            f"{name} is not a safetensors file: {size} bytes, too short for the "
            "8-byte header length"
        )
    (n,) = struct.unpack("<Q", first[:8])
    if n > MAX_HEADER or n > size - 8:
        raise InputError(
            f"{name} is not a valid safetensors file: header length {n} is larger "
            f"than the file ({size} bytes) allows; the file is truncated or not safetensors"
        )
    raw = first[8 : 8 + n]
    if len(raw) < n:
        raw += reader.read(len(first), n - len(raw))
    try:
        header = json.loads(raw.decode("utf-8"))
    except RecursionError as exc:  # 100,000 nested brackets fit in 100 MB
        raise _bad(name, "its header nests too deeply") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(name, "its header is not UTF-8 JSON") from exc
    if not isinstance(header, dict):
        raise _bad(name, "its header is not a JSON object")
    return _parse(
        name,
        header,
        data_start=8 + n,
        data_len=size - 8 - n,
        reader=reader if remote else None,
    )


def _bad(path: Path | str, what: str) -> InputError:
    return InputError(
        f"{path} is not a valid safetensors file: {what}; it is damaged or not safetensors: "
        "download or save it again"
    )


def _parse(
    path: str,
    header: dict[str, Any],
    data_start: int,
    data_len: int,
    reader: RangeReader | None = None,
) -> SafetensorsHeader:
    meta_raw = header.pop("__metadata__", None) or {}
    if not isinstance(meta_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta_raw.items()
    ):
        raise _bad(path, "__metadata__ must map strings to strings")
    tensors: dict[str, FileTensor] = {}
    raw_dtypes: dict[str, str] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise _bad(path, f"entry {name!r} is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str):
            raise _bad(path, f"tensor {name!r} has no dtype string")
        stored = dtypes.BY_SAFETENSORS.get(dtype)
        if stored is None:
            raise InputError(
                f"tensor {name!r} in {path} has dtype {dtype!r}, which emb cannot read; "
                f"known: {', '.join(dtypes.BY_SAFETENSORS)}"
            )
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise _bad(path, f"tensor {name!r} has a shape that is not a list of sizes")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise _bad(path, f"tensor {name!r} needs data_offsets [begin, end]")
        begin, end = offsets
        itemsize = stored.itemsize
        if not 0 <= begin <= end <= data_len:
            raise _bad(
                path,
                f"tensor {name!r} data_offsets [{begin}, {end}] fall outside the "
                f"{data_len}-byte data section (truncated file?)",
            )
        count = _element_count(shape, data_len // itemsize)
        if count is None or end - begin != count * itemsize:
            size = f"{count * itemsize} bytes" if count is not None else "more than the file"
            raise _bad(
                path,
                f"tensor {name!r} is {dtype} {_shape_text(shape)} = {size} but its "
                f"data_offsets span {end - begin}",
            )
        spans.append((begin, end, name))
        raw_dtypes[name] = dtype
        tensors[name] = FileTensor(
            name=name,
            dtype=stored.name,
            shape=tuple(shape),
            file=path,
            offset=data_start + begin,
            itemsize=itemsize,
            reader=reader,
        )
    spans.sort()
    for (b1, e1, n1), (b2, e2, n2) in zip(spans, spans[1:], strict=False):
        if b2 < e1 and e1 > b1 and e2 > b2:
            raise _bad(path, f"tensors {n1!r} and {n2!r} overlap in the data section")
    _attach_fp8_scales(path, tensors)
    return SafetensorsHeader(path=path, tensors=tensors, metadata=meta_raw, raw_dtypes=raw_dtypes)


def _element_count(shape: list[int], limit: int) -> int | None:
    """The product of `shape`, or None once it passes `limit` (the elements the data
    section can hold): a 10-million-entry shape of 2s must not become a 10**6-digit int.
    """
    if 0 in shape:
        return 0
    count = 1
    for s in shape:
        count *= s
        if count > limit:
            return None
    return count


def _shape_text(shape: list[int]) -> str:
    return str(shape) if len(shape) <= 8 else f"[{len(shape)} dimensions]"


def _attach_fp8_scales(path: str, tensors: dict[str, FileTensor]) -> None:
    """DeepSeek-V3-style fp8 weights carry `<name>_scale_inv` (F32, one per 128x128 block)."""
    for name, t in tensors.items():
        scale = tensors.get(name + "_scale_inv")
        if scale is not None:
            attach_fp8_scale(path, t, scale)


def attach_fp8_scale(path: str, t: FileTensor, scale: FileTensor) -> None:
    """Apply `scale` (the weight's `_scale_inv`) to an fp8 weight on every read; a sharded
    checkpoint may keep the two in different shards (sharded.py, remote/urls.py call this)."""
    if not t.dtype.startswith("float8") or not t.name.endswith(".weight") or len(t.shape) != 2:
        return
    if len(scale.shape) != 2 or scale.dtype not in dtypes.SCALES:
        return
    if 0 in scale.shape and 0 not in t.shape:
        raise _bad(
            path,
            f"{scale.name!r} has shape {list(scale.shape)}: no scales for the "
            f"{list(t.shape)} fp8 tensor {t.name!r}",
        )
    if 0 in t.shape:
        return
    rows, cols = t.shape
    t.scale = scale
    t.block = (fp8_block(rows, scale.shape[0]), fp8_block(cols, scale.shape[1]))


def fp8_block(size: int, blocks: int) -> int:
    """The block edge behind `blocks` scales along a dimension of `size` values.

    DeepSeek-V3's weight_block_size is 128: 300 rows have ceil(300 / 128) = 3 scales.
    ceil(300 / 3) = 100 would also give 3 blocks, yet put rows 100-127 under the wrong one,
    so 128 wins whenever it fits; other grids fall back to the even split.
    """
    if -(-size // FP8_BLOCK) == blocks:
        return FP8_BLOCK
    return -(-size // blocks)


# ---------------------------------------------------------------- the format's reader

DIR_FILES: tuple[tuple[int, str], ...] = ((1, "model.safetensors"),)
DIR_GLOB: str | None = "*.safetensors"


def recognises(path: str) -> bool:
    """The fallback: any other file is read as safetensors (its header says if it is not)."""
    return is_file(path)


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    header = read_header(Path(path))
    return Checkpoint(
        path=Path(path),
        kind=Format.SAFETENSORS,
        names=list(header.tensors),
        get=header.tensors.__getitem__,
        file_of=lambda _name: str(path),
        weights_path=Path(path),
        metadata=dict(header.metadata),
    )
