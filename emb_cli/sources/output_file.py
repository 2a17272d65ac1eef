"""The one kind of file emb writes: a new .safetensors (resize --write), never an input."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from emb_cli.errors import UsageError

if TYPE_CHECKING:
    import torch


def check_output(out: Path, inputs: Sequence[str], force: bool) -> None:
    """Refuse an input file, a directory, an existing file without --force, a missing folder."""
    for f in inputs:
        same = out.exists() and Path(f).exists() and os.path.samefile(out, f)
        if same or out.resolve() == Path(f).resolve():
            raise UsageError(
                f"--write {out} is an input file; emb never resizes in place: "
                "name a new .safetensors file"
            )
    if out.is_dir():
        raise UsageError(f"--write {out} is a directory; name a new .safetensors file")
    if out.exists() and not force:
        raise UsageError(f"--write {out} exists; pass --force to replace it")
    if not out.parent.is_dir():
        raise UsageError(f"--write {out}: directory {out.parent} does not exist")


def save_tensors(out: Path, tensors: dict[str, torch.Tensor]) -> None:
    """safetensors' own writer, through a temporary file: no half-written OUT on a crash."""
    from safetensors.torch import save_file

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        save_file(
            {k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"format": "pt"}
        )
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
