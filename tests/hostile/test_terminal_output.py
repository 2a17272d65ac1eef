"""Strings from files that would drive a terminal: ESC[2J (clear screen), OSC 0 (window
title), OSC 8 (a hyperlink), C1 controls (CSI as one byte, U+009B), BEL, a bidi override,
and rich markup (`[bold]`). In tensor names, config values, GGUF metadata and token
strings they are escaped wherever a human table or TSV prints them; JSON stays exact.
Checked through a pipe and inside a pty, where rich writes for a terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.hostile import CASE_SECONDS, ROOT

# every way a string could reach the terminal raw
EVIL = "\x1b[2J\x1b]0;owned\x07\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\\x9b31m\u202e[bold]b[/bold]"
RAW = ("\x1b[2J", "\x1b]0;", "\x1b]8;", "\x9b", "\x07", "\u202e")


def _no_raw_controls(text: str) -> None:
    for seq in RAW:
        assert seq not in text, (seq, text)


def _safetensors_name(tmp: Path) -> tuple[list[str], str]:
    name = f"x{EVIL}.embed_tokens.weight"
    data = struct.pack("<8f", *range(8))
    raw = json.dumps({name: {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}}).encode()
    (tmp / "m.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return [str(tmp / "m.safetensors")], name


def _config_value(tmp: Path) -> tuple[list[str], str]:
    folder = tmp / "model"
    folder.mkdir()
    data = struct.pack("<8f", *range(8))
    name = "model.embed_tokens.weight"
    raw = json.dumps({name: {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    (folder / "config.json").write_text(json.dumps({"model_type": EVIL, "vocab_size": 2}))
    return [str(folder)], EVIL


def _gguf(tmp: Path) -> tuple[list[str], str]:
    """GGUF metadata (general.name, tokenizer.ggml.pre) and token strings."""
    import gguf

    path = tmp / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(EVIL)
    w.add_embedding_length(4)
    w.add_tokenizer_pre(EVIL)
    w.add_token_list([EVIL, f"tok{EVIL}", "b", "c"])
    w.add_tensor("token_embd.weight", np.arange(16, dtype=np.float32).reshape(4, 4))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return [str(path)], EVIL


SOURCES = {"tensor-name": _safetensors_name, "config-value": _config_value, "gguf": _gguf}
COMMANDS = {
    "info": lambda p: ["info", *p],
    "lookup": lambda p: ["lookup", "0", "1", "--from", *p],
    "stats": lambda p: ["stats", "--from", *p],
    "tie": lambda p: ["tie", "--from", *p],
    "padding": lambda p: ["padding", "--from", *p],
    "neighbors": lambda p: ["neighbors", "0", "-k", "1", "--from", *p],
    "diff": lambda p: ["diff", p[0], p[0]],
}
TSV = ("info", "lookup", "neighbors")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("source", SOURCES)
def test_controls_from_files_are_escaped_through_a_pipe(
    emb, tmp_path: Path, source: str, command: str
) -> None:
    paths, _ = SOURCES[source](tmp_path)
    args = COMMANDS[command](paths)
    result = emb(*args)
    assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    _no_raw_controls(result.stdout + result.stderr)
    if command in TSV:
        tsv = emb(*args, "--tsv")
        assert tsv.exit_code in (0, 1), tsv.stderr
        _no_raw_controls(tsv.stdout + tsv.stderr)


@pytest.mark.parametrize("source", SOURCES)
def test_json_keeps_the_exact_string(emb, tmp_path: Path, source: str) -> None:
    paths, evil = SOURCES[source](tmp_path)
    doc = emb(*COMMANDS["info"](paths), "--json")
    assert doc.exit_code == 0, doc.stderr
    assert any(evil in s for s in _strings(json.loads(doc.stdout)))  # exact, not escaped
    assert "\x1b" not in doc.stdout  # JSON writes it as \u001b


def _strings(obj: object) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def test_rich_markup_in_a_name_is_text(emb, tmp_path: Path) -> None:
    paths, _ = _safetensors_name(tmp_path)
    out = emb("info", *paths).stdout
    assert "[bold]b[/bold]" in out and "\\x1b[2J" in out


def _in_pty(args: list[str]) -> tuple[int, bytes]:
    """`python -m emb_cli ARGS` with stdout and stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "emb_cli", *args], stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + CASE_SECONDS * 2
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed its side
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=CASE_SECONDS)
    finally:
        proc.kill()
        os.close(master)
    return rc, out


@pytest.mark.parametrize("command", ["info", "lookup", "tie"])
@pytest.mark.parametrize("source", SOURCES)
def test_controls_from_files_are_escaped_in_a_terminal(
    tmp_path: Path, source: str, command: str
) -> None:
    paths, _ = SOURCES[source](tmp_path)
    rc, out = _in_pty(COMMANDS[command](paths))
    text = out.decode("utf-8", errors="replace")
    assert rc in (0, 1), text
    _no_raw_controls(text)
    if command == "info":
        assert "\\x1b" in text  # shown, as an escape


def test_the_one_rule_in_both_places() -> None:
    from emb_cli.render.console import safe
    from emb_cli.render.output import tsv_cell

    assert safe("a\x1b[2Jb\nc\x9b") == "a\\x1b[2Jb\nc\\x9b"
    assert tsv_cell("a\x1b]0;t\x07\tb") == "a\\x1b]0;t\\x07\\tb"
