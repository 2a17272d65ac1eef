"""The files emb writes (resize --write, init-stats --plot): new files, never an input.

Rules, for every output:
- never a file the command read: the checkpoint, every shard its index names, config.json,
  generation_config.json, tokenizer*.json (inputs.files_read()), through a symlink or a
  hard link as much as by name; --force does not change that;
- never a directory; an existing file only with --force;
- written to a temporary file in the same folder, then linked into place: two concurrent
  writers to one new path cannot both win, and a crash leaves no half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from emb_cli.errors import UsageError
from emb_cli.sources.files.inputs import files_read

if TYPE_CHECKING:
    import torch


def check_output(
    out: Path, inputs: Sequence[str], force: bool, flag: str = "--write", what: str = ""
) -> None:
    """Refuse an input file, a directory, an existing file without --force, a missing folder."""
    new = what or ("a new .safetensors file" if flag == "--write" else "a new file")
    _refuse_inputs(out, inputs, flag, new)
    try:
        if out.is_dir():
            raise UsageError(f"{flag} {out} is a directory; name {new}")
        exists = out.exists() or out.is_symlink()
        folder_ok = out.parent.is_dir()
    except OSError as exc:
        raise UsageError(f"{flag} {out}: {exc.strerror or exc}") from exc
    if exists and not force:
        raise UsageError(f"{flag} {out} exists; pass --force to replace it")
    if not folder_ok:
        raise UsageError(f"{flag} {out}: directory {out.parent} does not exist")


def _refuse_inputs(out: Path, inputs: Iterable[str], flag: str, new: str) -> None:
    for f in {*inputs, *files_read()}:
        if _same_file(out, Path(f)):
            raise UsageError(
                f"{flag} {out} is an input file of this command; emb never writes in place "
                f"over its inputs, even with --force: name {new}"
            )


def _same_file(a: Path, b: Path) -> bool:
    """The same file by inode (symlinks, hard links) or, when either is missing, by path."""
    with contextlib.suppress(OSError, ValueError):
        if os.path.samefile(a, b):
            return True
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        return os.path.realpath(a) == os.path.realpath(b)
    return False


def write_new_file(
    out: Path,
    write: Callable[[Path], None],
    force: bool,
    flag: str = "--write",
    inputs: Sequence[str] = (),
) -> None:
    """`write(tmp)` fills a temporary file beside `out`; it then becomes `out` atomically.

    Without --force, os.link fails if `out` appeared meanwhile (another emb, another
    program): nothing is replaced. With --force, `out` is checked against the inputs
    again just before os.replace.
    """
    # The suffix stays: matplotlib picks the format from it. Names stay short of NAME_MAX.
    suffix = out.suffix if len(out.suffix) <= 16 else ""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name[:64]}.", suffix=suffix, dir=out.parent)
    except OSError as exc:
        raise UsageError(f"{flag} {out}: cannot create a file there ({exc.strerror})") from exc
    tmp = Path(name)
    try:
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a new file gets the usual mode
        if force:
            _refuse_inputs(out, inputs, flag, "a new file")
            os.replace(tmp, out)
        else:
            _link_no_replace(tmp, out, flag)
    except OSError as exc:  # a full disk, a folder removed meanwhile
        raise UsageError(f"{flag} {out}: writing failed ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _link_no_replace(tmp: Path, out: Path, flag: str) -> None:
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise UsageError(
            f"{flag} {out} exists (created meanwhile); pass --force to replace it"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise UsageError(f"{flag} {out}: {exc.strerror or exc}") from exc
        # No hard links here (FAT, some FUSE mounts): claim the name exclusively, then
        # rename over our own empty placeholder.
        try:
            os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise UsageError(
                f"{flag} {out} exists (created meanwhile); pass --force to replace it"
            ) from None
        os.replace(tmp, out)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_tensors(
    out: Path, tensors: dict[str, torch.Tensor], force: bool = False, inputs: Sequence[str] = ()
) -> None:
    """safetensors' own writer, through write_new_file: no half-written OUT on a crash."""
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        save_file(
            {k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"format": "pt"}
        )

    write_new_file(out, write, force, "--write", inputs)
