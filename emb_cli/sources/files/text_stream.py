"""A UTF-8 text file read in blocks, for `emb tokenize --file`: bounded memory at any size.

Regular files and pipes (a FIFO, `<(...)`) are read; a directory, a device or a socket is
refused by what it is, not as a missing file.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emb_cli.errors import UsageError

BLOCK = 1 << 20  # bytes read at a time


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
        with open(text_file.path, "rb") as fh:
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
