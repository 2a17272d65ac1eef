"""The error line itself: control characters from a file stay escaped, and EMB_DEBUG=1 shows
the traceback the one-line error hides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from emb_cli.errors import InputError, escape_controls
from tests.helpers import assert_refused
from tests.helpers.hostile import EMB, entry, st_bytes


def test_tensor_names_with_escapes_stay_escaped(emb: Any, tmp_path: Path) -> None:
    evil = "\x1b]0;owned\x07\x1b[2J\u202eevil"
    path = tmp_path / "model.safetensors"
    path.write_bytes(
        st_bytes({EMB: entry("F32", [8, 4], 0, 128), evil: entry("F32", [4], 128, 144)}, bytes(144))
    )
    result = emb("lookup", "0", "--from", str(path), "--tensor", "nope")
    assert_refused(result, "\\x1b]0;owned\\x07\\x1b[2J\\u202eevil")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_escape_controls() -> None:
    assert escape_controls("plain é ü 中") == "plain é ü 中"
    assert escape_controls("a\x1bb\x07c\x00d\x7f\x9b") == "a\\x1bb\\x07c\\x00d\\x7f\\x9b"
    assert escape_controls("x\u202ey\u2028z") == "x\\u202ey\\u2028z"
    assert InputError("name \x1b[31m").message == "name \\x1b[31m"


@given(st.text(max_size=40))
def test_escaped_messages_are_one_printable_line(text: str) -> None:
    message = InputError(f"tensor {text} is bad").message
    assert all(c.isprintable() or c == " " for c in message)
    assert "\n" not in message and "\x1b" not in message


def _run_module(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EMB_DEBUG"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "emb_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_emb_debug_shows_traceback(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")
    args = ["stats", "--from", str(path)]
    quiet = _run_module(args, {})
    assert quiet.returncode == 2, quiet.stderr
    assert quiet.stdout == ""
    assert "Traceback" not in quiet.stderr
    assert quiet.stderr.startswith("Error: ") and len(quiet.stderr.splitlines()) == 1
    loud = _run_module(args, {"EMB_DEBUG": "1"})
    assert loud.returncode != 0
    assert "Traceback" in loud.stderr
    assert "InputError" in loud.stderr
