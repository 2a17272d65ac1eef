"""Errors written for the user: what went wrong and what to do next.

Exit codes (documented in the README):
  0  success
  1  a check that failed (padding, tie, init verdicts)
  2  bad usage or bad input (this module's errors)
  3  internal error: a bug in emb (run with EMB_DEBUG=1 and report the traceback)
"""

from __future__ import annotations

import os
import sys

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class EmbError(Exception):
    """Base class: the message is shown as one line `Error: <message>`."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        # One line, always: newlines in a message would break `2>` log parsing.
        super().__init__(escape_controls(" ".join(message.split())))

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(EmbError):
    """Options that contradict each other or a value out of its range."""


class InputError(EmbError):
    """A file, directory or config that cannot be read as what it claims to be."""


class TensorNotFound(InputError):
    """No tensor of that name, or no embedding found by name."""


class TokenIdError(UsageError):
    """A token id outside [0, vocab_size)."""


class TooLarge(UsageError):
    """A table that would not fit in this machine's memory if built."""


def first_line(exc: BaseException) -> str:
    """What a library's exception says, on one line (its type's name when it says nothing):
    json, tomllib, tokenizers, torch.load and httpx messages run to several lines."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def escape_controls(text: str) -> str:
    """Every character Python calls unprintable, as an escape: a tensor name holding ESC or
    BEL, a bidi override (U+202E), a line separator, or a file name's undecodable bytes
    (surrogates) must not reach the terminal raw from inside a message."""
    if text.isprintable():  # the common case, one C-level pass
        return text
    out = []
    for ch in text:
        if ch == " " or ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def error_line(message: str) -> None:
    """The one line a user sees for an error; no rich import on the error path."""
    one_line = escape_controls(" ".join(message.split()))
    try:
        sys.stderr.write(f"Error: {one_line}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        # stderr full (/dev/full) or gone: the exit code still tells; and nothing is left
        # buffered to fail again at exit (which would turn exit 2 into 120)
        try:
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
