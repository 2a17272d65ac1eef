"""A UTF-8 text file read in blocks, for `emb tokenize --file`: bounded memory at any size.

Regular files and pipes (a FIFO, `<(...)`) are read; a directory, a device or a socket is
refused by what it is, not as a missing file. A FIFO that gives neither data nor an end
within FIFO_WAIT seconds (no process writes to it) is refused rather than waited on forever.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from emb_cli.errors import UsageError

BLOCK = 1 << 20  # bytes read at a time
FIFO_WAIT = 5.0  # seconds a pipe may stay silent before its first byte


@dataclass(frozen=True)
class TextFile:
    path: Path
    size: int  # bytes; 0 for a pipe, whose size is unknown


def open_text_file(path: Path) -> TextFile:
    """The file checked for being readable text, before any tokenizer is built."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"--file {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"--file {path}: {exc.strerror or exc}") from None
    kind = _kind(st.st_mode)
    if kind is not None:
        raise UsageError(f"--file {path} is {kind}, not a text file; give a file or a pipe")
    if not os.access(path, os.R_OK):
        raise UsageError(f"--file {path}: permission denied")
    return TextFile(path, st.st_size if stat.S_ISREG(st.st_mode) else 0)


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_blocks(text_file: TextFile) -> Iterator[tuple[int, str]]:
    """(bytes read, their text) per block; UsageError at the first byte that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    done = 0
    try:
        with _open(text_file) as fh:
            while True:
                raw = fh.read(BLOCK)
                try:
                    text = decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as exc:
                    at = done + exc.start
                    raise UsageError(
                        f"--file {text_file.path} is not UTF-8 text (byte {at:,} is not)"
                    ) from None
                done += len(raw)
                if text or raw:
                    yield len(raw), text
                if not raw:
                    return
    except OSError as exc:
        raise UsageError(f"--file {text_file.path}: {exc.strerror or exc}") from None


def _open(text_file: TextFile) -> BinaryIO:
    """The file for reading; a FIFO is opened without blocking and must speak in time."""
    if text_file.size or not stat.S_ISFIFO(os.stat(text_file.path).st_mode):
        return open(text_file.path, "rb")
    import fcntl
    import select

    fd = os.open(text_file.path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        if not poller.poll(int(FIFO_WAIT * 1000)):
            raise UsageError(
                f"--file {text_file.path} is a FIFO that no process wrote to in "
                f"{FIFO_WAIT:.0f} s; start its writer first, or give a regular file"
            )
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
