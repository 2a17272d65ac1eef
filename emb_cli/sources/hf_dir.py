"""A Hugging Face model directory: the weights file found by name, the JSON beside it.

Which weights file wins is each format's say (its DIR_FILES rank and DIR_GLOB): an
index before a single file, safetensors before a pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from emb_cli.errors import InputError
from emb_cli.sources.base import Checkpoint, Format, Reader, dispatch
from emb_cli.sources.config.siblings import attach_dir_files
from emb_cli.sources.files.inputs import is_dir, is_file, list_dir, record_read

DIR_FILES: tuple[tuple[int, str], ...] = ()
DIR_GLOB: str | None = None


def recognises(path: str) -> bool:
    return is_dir(path)


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    return open_dir(Path(path), readers)


def open_dir(path: Path, readers: Sequence[Reader]) -> Checkpoint:
    names = sorted((rank, name) for r in readers for rank, name in r.DIR_FILES)
    weights = next((path / n for _, n in names if is_file(path / n)), None)
    globs = [r.DIR_GLOB for r in readers if r.DIR_GLOB is not None]
    if weights is None:
        # is_file refuses a FIFO named x.gguf here: the reader's open() would block on it.
        singles = [
            p for g in sorted(globs, key=_glob_order) for p in list_dir(path, g) if is_file(p)
        ]
        if len(singles) == 1:
            weights = singles[0]
        elif len(singles) > 1:
            raise InputError(
                f"{path} holds several weight files and no index: "
                f"{', '.join(p.name for p in singles)}; pass one of them to --from"
            )
    if weights is None:
        looked = [n for _, n in names] + sorted(globs, key=_glob_order)
        raise InputError(f"{path} has no weights: looked for {', '.join(looked)}")
    record_read(weights)
    ckpt = dispatch(str(weights), readers)
    ckpt.path = path
    if ckpt.kind in (Format.SAFETENSORS, Format.SHARDED):
        ckpt.kind = Format.HF_DIR
    attach_dir_files(ckpt, path)
    return ckpt


def _glob_order(pattern: str) -> int:
    # *.safetensors before *.gguf, as the messages have always listed them.
    return 0 if pattern.endswith(".safetensors") else 1
