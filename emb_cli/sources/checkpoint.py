"""Open what people have on disk or on a server: one list of readers, the first that
recognises a path opens it. Adding a format is one module and one line here.
"""

from __future__ import annotations

from pathlib import Path

from emb_cli.errors import InputError
from emb_cli.sources import (
    gguf_file,
    hf_dir,
    remote,
    safetensors_file,
    sharded,
    torch_file,
)
from emb_cli.sources.base import Checkpoint, Reader, dispatch
from emb_cli.sources.inputs import kind, record_read

# Order matters: remote specs before paths, a directory before files, magic/suffix checks
# before the fallback, which reads any other file as safetensors.
READERS: tuple[Reader, ...] = (remote, hf_dir, sharded, gguf_file, torch_file, safetensors_file)


def open_checkpoint(path: Path | str) -> Checkpoint:
    """A local path, or an http(s):// URL or hf:// spec (read by range requests)."""
    spec = str(path)
    if not remote.recognises(spec) and kind(spec) is None:  # a FIFO or device: InputError
        raise InputError(f"no such file or directory: {path}")
    if not remote.recognises(spec):
        record_read(spec)  # whatever the format's reader opens, outputs never replace it
    return dispatch(spec, READERS)
