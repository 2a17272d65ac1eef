"""Output people and scripts can trust: whole numbers and names in pipes and terminals,
no style codes where none are wanted, and a quiet exit when the reader goes away."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emb_cli.cli import EXIT_BROKEN_PIPE

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "FORCE_COLOR")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def piped(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`emb ARGS | cat`: stdout is a real pipe."""
    return subprocess.run(
        [sys.executable, "-m", "emb_cli", *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=120,
    )


def in_terminal(*args: str, columns: int, **env: str) -> str:
    """`emb ARGS` with stdout on a pseudo-terminal COLUMNS wide; the bytes it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emb_cli", *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=_env(COLUMNS=str(columns), **env),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode()


def test_pipe_prints_whole_numbers_unstyled() -> None:
    r = piped("stats", "--vocab", "100352", "--dim", "4096")
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout and "\x1b" not in r.stdout
    # 16 bytes/param x 822,083,584 params (table + untied head), whole, on one line each
    assert r.stdout.count("13,153,337,344") == 2
    first = r.stdout.splitlines()[0]
    assert first == (
        "flags: 100,352 x 4,096 float32, pad 0 (default), untied, init normal(0, 0.02), seed 42"
    )
    assert all(line == line.rstrip() for line in r.stdout.splitlines())


def test_pipe_prints_whole_names() -> None:
    r = piped("presets")
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout
    names = {line.split("│")[1].strip() for line in r.stdout.splitlines() if "│" in line}
    assert {"bert-base-uncased", "qwen2.5-0.5b", "lesson-100352"} <= names


def test_pipe_lookup_keeps_a_row_on_one_line() -> None:
    r = piped("lookup", "73", "786", "2934")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith("seed 42")
    rows = [ln for ln in lines if ln.lstrip().startswith(("0 ", "1 ", "2 "))]
    assert len(rows) == 3 and all(ln.count(",") == 7 for ln in rows)  # 8 values each


def test_terminal_never_folds_a_number() -> None:
    text = ANSI.sub("", in_terminal("stats", "--vocab", "100352", "--dim", "4096", columns=60))
    assert "…" not in text
    assert text.count("13,153,337,344") == 2
    assert "1,644,167,168" in text


def test_terminal_is_styled_and_no_color_removes_all_styles() -> None:
    styled = in_terminal("tie", columns=120)
    assert ANSI.search(styled)  # the test can see styles when they are there
    plain = in_terminal("tie", columns=120, NO_COLOR="1")
    assert not ANSI.search(plain), repr(plain[:200])
    assert ANSI.sub("", styled).replace("\r", "") == plain.replace("\r", "")


@pytest.mark.parametrize(
    "args",
    [("lookup", "73", "786", "2934"), ("lookup", "73", "--json"), ("tie",), ("presets",)],
)
def test_a_closed_pipe_exits_141_quietly(args: tuple[str, ...]) -> None:
    """The reader is gone before emb writes: no traceback, exit 141, not 1 or 2."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = subprocess.run(
            [sys.executable, "-m", "emb_cli", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert r.returncode == EXIT_BROKEN_PIPE == 141, r.stderr
    assert r.stderr == ""


def test_help_never_splits_a_choice() -> None:
    r = piped("stats", "--help", COLUMNS="80")
    assert r.returncode == 0, r.stderr
    words = set(r.stdout.replace("│", " ").replace("<", " ").replace(">", " ").split())
    for choice in ("float32", "bfloat16", "float16", "torch-default", "xavier-uniform"):
        assert choice in words, (choice, r.stdout)


def test_terminal_keeps_tensor_names_whole(minilm_dir: Path) -> None:
    text = ANSI.sub("", in_terminal("info", str(minilm_dir), columns=100))
    for name in (
        "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",
    ):
        assert name in text, text
    assert "46,881,792" in text


def test_no_color_help_has_no_styles() -> None:
    assert ANSI.search(in_terminal("stats", "--help", columns=100))
    assert not ANSI.search(in_terminal("stats", "--help", columns=100, NO_COLOR="1"))


def test_an_id_without_a_token_prints_a_dash() -> None:
    from emb_cli.render.console import token_cell

    assert [token_cell(t) for t in (None, "", "▁the", "[PAD]")] == ["-", "-", "'▁the'", "'[PAD]'"]
