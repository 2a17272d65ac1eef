"""The one place that opens local inputs: what a file system can hand over, made safe.

- Only regular files and directories: a FIFO named model.safetensors would block forever
  in open(), /dev/zero behind a symlink named *.index.json would fill memory. Files are
  opened with O_NONBLOCK and checked with fstat before a byte is read.
- Size limits before reading: configs and indexes are kilobytes (a 1 TB checkpoint's index
  is ~2 MB), so a sparse 50 GB config.json is refused, not read into memory.
- JSON parsed with a depth guard: 100,000 nested brackets are an error, not RecursionError.
- OS errors (ENAMETOOLONG, EACCES, ELOOP, EISDIR, ENXIO ...) become one-line InputErrors.
- Every file read to build a source is recorded, so an output can never replace one.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from emb_cli.errors import InputError, first_line

# config.json, generation_config.json, tokenizer_config.json, index.json: kilobytes in
# practice; tokenizer_config.json with a 200k-entry added_tokens_decoder is ~20 MB. Remote
# files fetched whole are held to it too (Llama-3's tokenizer.json is 9 MB, Gemma's 33 MB).
MAX_JSON = 64 * 2**20
# tokenizer.json is read by the tokenizers library; the largest on the Hub are ~35 MB.
MAX_TOKENIZER = 512 * 2**20
# Real configs nest 4-5 levels (text_config.rope_scaling.{...}); this leaves room.
MAX_JSON_DEPTH = 64

_FILES_READ: set[str] = set()


def forget_reads() -> None:
    """Start a new command: nothing read yet (CliRunner runs many in one process)."""
    _FILES_READ.clear()


def record_read(path: Path | str) -> None:
    """Count `path` as an input of this command: outputs must never replace it."""
    _FILES_READ.add(os.path.abspath(path))


def files_read() -> frozenset[str]:
    return frozenset(_FILES_READ)


def os_error(exc: OSError, path: Path | str, what: str = "") -> InputError:
    """An OSError as the user should read it: the path, the reason, what to do."""
    name = f"{what} {path}" if what else str(path)
    code = exc.errno
    if code == errno.ENAMETOOLONG:
        return InputError(f"{name}: the file name or path is too long for this file system")
    if code in (errno.EACCES, errno.EPERM):
        return InputError(f"{name}: permission denied; check the file and folder permissions")
    if code == errno.ELOOP:
        return InputError(f"{name}: too many levels of symbolic links (a symlink loop?)")
    if code in (errno.ENOENT, errno.ENOTDIR):
        return InputError(f"{name}: no such file or directory")
    if code == errno.EISDIR:
        return InputError(f"{name} is a directory, not a file")
    if code in (errno.ENXIO, errno.ENODEV):
        return InputError(f"{name} is a device or socket, not a file")
    reason = exc.strerror or type(exc).__name__
    return InputError(f"cannot read {name}: {reason}")


def kind(path: Path | str, what: str = "") -> str | None:
    """'file', 'dir' or None (missing); anything else (FIFO, device, socket) is refused.

    Path.is_file() raises on ENAMETOOLONG and EACCES in Python 3.11; this never does
    anything but return or raise InputError.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise os_error(exc, path, what) from exc
    except ValueError as exc:  # an embedded NUL byte
        raise InputError(f"{what or 'path'} {path!r} is not a valid path ({exc})") from exc
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    raise InputError(f"{_named(path, what)} is {_mode_name(st.st_mode)}, not a regular file")


def is_file(path: Path | str, what: str = "") -> bool:
    return kind(path, what) == "file"


def is_dir(path: Path | str, what: str = "") -> bool:
    return kind(path, what) == "dir"


def list_dir(folder: Path, pattern: str) -> list[Path]:
    """folder.glob(pattern), sorted; an unreadable folder is an error, not an empty list."""
    try:
        os.scandir(folder).close()
    except OSError as exc:
        raise os_error(exc, folder, "folder") from exc
    return sorted(folder.glob(pattern))


def _mode_name(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _named(path: Path | str, what: str) -> str:
    return f"{what} {path}" if what else str(path)


def open_input(path: Path | str, what: str = "", limit: int | None = None) -> IO[bytes]:
    """A regular file opened for reading, recorded as an input; never blocks.

    O_NONBLOCK makes open() of a FIFO return at once; fstat then refuses it (and a device
    reached through a symlink) before any read. The flag is cleared on regular files.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise os_error(exc, path, what) from exc
    except ValueError as exc:
        raise InputError(f"{what or 'path'} {path!r} is not a valid path ({exc})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise InputError(f"{_named(path, what)} is a directory, not a file")
            raise InputError(
                f"{_named(path, what)} is {_mode_name(st.st_mode)}, not a regular file"
            )
        if limit is not None and st.st_size > limit:
            raise InputError(
                f"{_named(path, what)} is {st.st_size:,} bytes, over the {limit:,}-byte "
                "limit for such a file; it is damaged or not what its name says"
            )
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    record_read(path)
    return fh


def read_input(path: Path | str, what: str = "", limit: int = MAX_JSON) -> bytes:
    """A whole small file's bytes (limit checked against its size first)."""
    with open_input(path, what, limit) as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise os_error(exc, path, what) from exc
    if len(data) > limit:  # grew while we read it (/proc files report size 0)
        raise InputError(f"{_named(path, what)} is over the {limit:,}-byte limit for such a file")
    return data


def parse_json(raw: bytes | str, name: str) -> Any:
    """json.loads with the depth guarded; `name` says what it was ("config x.json").

    Raises InputError for invalid UTF-8, invalid JSON, or nesting over MAX_JSON_DEPTH.
    """
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise InputError(f"{name} nests too deeply to be a real file") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{name} is not valid JSON ({first_line(exc)})") from exc
    if json_depth(data) > MAX_JSON_DEPTH:
        raise InputError(
            f"{name} nests more than {MAX_JSON_DEPTH} levels deep; no real config does"
        )
    return data


def json_depth(data: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (1 for a flat object or list)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def read_json(path: Path | str, what: str, limit: int = MAX_JSON) -> Any:
    """A JSON file emb reads (config, index): regular, bounded, depth-guarded."""
    return parse_json(read_input(path, what, limit), f"{what} {path}")


def read_json_object(path: Path | str, what: str, limit: int = MAX_JSON) -> dict[str, Any]:
    data = read_json(path, what, limit)
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} is not a JSON object")
    return data
