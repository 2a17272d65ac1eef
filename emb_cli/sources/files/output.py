"""The files emb writes (resize --write, init-stats --plot): new files, never an input.

Rules, for every output:
- never a file the command read: the checkpoint, every shard its index names, config.json,
  generation_config.json, tokenizer*.json (inputs.files_read()), through a symlink or a
  hard link as much as by name; --force does not change that;
- never a directory, FIFO, socket or device (`--write /dev/null --force` once replaced
  /dev/null): an existing path is replaced only if it is a regular file, and only with --force;
- written to `.NAME.emb-partial-PID[.SUFFIX]` in the same folder, then linked into place: two
  concurrent writers to one new path cannot both win, and a crash leaves no half-written
  file. SIGTERM/SIGINT remove the partial file before the process dies of the signal; one
  left by a killed run (SIGKILL, power loss: its PID no longer runs) is removed by the next
  write to that path. safetensors' save_file would write its own `.tmpXXXX` first, so the
  safetensors format is written here, straight into the partial file;
- a write past the file-size limit (`ulimit -f`) is an error line, exit 2, not a SIGXFSZ.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
        _refuse_special(out, flag, new)
        exists = out.exists() or out.is_symlink()
        folder_ok = out.parent.is_dir()
    except OSError as exc:
        raise UsageError(f"{flag} {out}: {exc.strerror or exc}") from exc
    if exists and not force:
        raise UsageError(f"{flag} {out} exists; pass --force to replace it")
    if not folder_ok:
        raise UsageError(f"{flag} {out}: directory {out.parent} does not exist")


def _refuse_special(out: Path, flag: str, new: str) -> None:
    """A FIFO, socket, device or directory at `out` (or behind a symlink there): refused,
    --force or not; replacing it would destroy it (/dev/null) or hang on it (a FIFO)."""
    try:
        mode = os.stat(out).st_mode
    except FileNotFoundError:
        return  # nothing there, or a dangling symlink: a new file may take the name
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG):
            raise UsageError(f"{flag} {out}: {exc.strerror}") from None
        raise
    if stat.S_ISREG(mode):
        return
    kind = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "not a regular file"
    )
    raise UsageError(
        f"{flag} {out} is {kind}; emb replaces only regular files, even with --force: name {new}"
    )


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
    """`write(tmp)` fills a partial file beside `out`; it then becomes `out` atomically.

    Without --force, os.link fails if `out` appeared meanwhile (another emb, another
    program): nothing is replaced. With --force, `out` is checked against the inputs and
    for a special file again just before os.replace.
    """
    _remove_leftovers(out)
    tmp = partial_path(out)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"{flag} {out}: cannot create a file there ({exc.strerror})") from exc
    try:
        with _cleanup_on_signal(tmp):
            os.close(fd)
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # made 0600 while partial; then the usual mode
            if force:
                _refuse_inputs(out, inputs, flag, "a new file")
                _refuse_special(out, flag, "a new file")
                os.replace(tmp, out)
            else:
                _link_no_replace(tmp, out, flag)
    except OSError as exc:  # a full disk, EFBIG past `ulimit -f`, a folder removed meanwhile
        raise UsageError(f"{flag} {out}: writing failed ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


PARTIAL = ".emb-partial-"


def partial_path(out: Path, pid: int | None = None) -> Path:
    """`.NAME.emb-partial-PID[.SUFFIX]`: a person listing the folder sees what it is. The
    suffix stays (matplotlib picks the format from it); names stay short of NAME_MAX."""
    suffix = out.suffix if len(out.suffix) <= 16 else ""
    return out.parent / f".{out.name[:64]}{PARTIAL}{pid or os.getpid()}{suffix}"


def _remove_leftovers(out: Path) -> None:
    """Partial files of earlier writes to `out` whose process no longer runs (SIGKILL)."""
    prefix = f".{out.name[:64]}{PARTIAL}"
    suffix = out.suffix if len(out.suffix) <= 16 else ""
    try:
        names = [e.name for e in os.scandir(out.parent) if e.name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid = name[len(prefix) :].removesuffix(suffix)
        if not pid.isdigit() or _running(int(pid)):
            continue
        path = out.parent / name
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(path).st_mode):
                path.unlink()


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours from before (a reused pid): not being written now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process runs under that pid
        return True
    return True


@contextlib.contextmanager
def _cleanup_on_signal(tmp: Path) -> Iterator[None]:
    """SIGTERM, SIGINT, SIGHUP: remove the partial file, then die of the signal as before.

    SIGXFSZ is ignored meanwhile, so a write past `ulimit -f` fails with EFBIG (an error
    line) instead of killing the process with a core dump.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        with contextlib.suppress(OSError):
            tmp.unlink()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    caught = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in caught}
    previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


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
    """A .safetensors file through write_new_file: no half-written OUT on a crash."""
    write_new_file(out, lambda tmp: write_safetensors(tmp, tensors), force, "--write", inputs)


# What a write may hold before the signal handlers run again: 64 MiB, well under a second.
WRITE_BLOCK = 64 << 20


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """The safetensors format (8-byte header length, JSON header padded to 8 bytes, data),
    written into `path` itself: safetensors' save_file writes a `.tmpXXXX` of its own first,
    which a killed run would leave. Tensors in safetensors' order: largest dtype first,
    then by name; safe_open reads it back the same."""
    import torch

    from emb_cli.sources.dtypes import BY_NAME

    ordered = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, t in ordered:
        code = BY_NAME[str(t.dtype).removeprefix("torch.")].safetensors
        nbytes = t.numel() * t.element_size()
        header[name] = {
            "dtype": code,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for _, t in ordered:
            data = t.detach().contiguous().view(-1).view(torch.uint8).numpy().data
            for start in range(0, len(data), WRITE_BLOCK):
                f.write(data[start : start + WRITE_BLOCK])
