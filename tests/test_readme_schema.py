"""Each command's --json keys against the README's "JSON:" text for that command.

The documents are the golden outputs (tests/data/golden), which cover every command on
every source kind. A key the program writes at the top level must be documented; a name
the README documents must be a key somewhere in the output, or one of the documented
values listed here.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from emb_cli.cli import COMMANDS
from tests.helpers.golden import CASES, GOLDEN

README = Path(__file__).resolve().parent.parent / "README.md"
# Backticked names in the JSON text that are values, not keys.
DOCUMENTED_VALUES = {
    "lookup": {"input_ids", "normal", "control", "user-defined", "unused", "byte", "unknown"},
    "padding": {"zero", "nonzero"},
    "info": {"stats"},  # "`quantization` (as in `stats`)"
    "resize": {"grow", "shrink", "unchanged", "stats", "new_rows_init"},
    "undertrained": {"given", "input", "head", "evidence", "exact", "randomized"},
    # check names and statuses
    "check": set(
        "vocab tie padding finite trained undertrained special data pass warn fail skip "
        "text messages diverged missing-head chat_template bos_token vocab_size".split()
    ),
}
# Keys inside write results and other parts the golden fixtures never produce.
NOT_IN_GOLDEN = {
    "check": {"files", "texts", "bytes", "count", "first_file", "first_line", "id", "token"},
    "resize": {"path", "seed", "shape", "tensors", "nonfinite_rows", "nonfinite_row_ids"},
    # --clear-tokenizers' document (tests/commands/test_gguf_tokens.py checks its keys)
    "cache": {"folder", "entries", "header_indexes", "bytes"},
}


def documented(command: str) -> set[str]:
    text = README.read_text()
    sections = re.split(r"^### `emb ", text, flags=re.M)[1:]
    body = next(s for s in sections if s.split()[0].strip("`") == command)
    body = body.split("\n## ")[0]
    keys: set[str] = set()
    for para in re.split(r"\n\s*\n", body):
        if "JSON:" in para:
            keys |= set(re.findall(r"`([a-z_0-9]+)`", para.split("JSON:", 1)[1]))
    return keys


def _keys(obj: Any, acc: set[str]) -> set[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            acc.add(k)
            _keys(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            _keys(v, acc)
    return acc


def outputs(command: str) -> list[dict[str, Any]]:
    return [
        json.loads((GOLDEN / f"{case}.json").read_text())["stdout"]
        for case, argv in CASES.items()
        if argv[0] == command
    ]


# Commands that write files (report, export) print no JSON document.
JSON_COMMANDS = [name for name, fn, _ in COMMANDS if "json_" in inspect.signature(fn).parameters]


@pytest.mark.parametrize("command", JSON_COMMANDS)
def test_json_keys_are_the_documented_ones(command: str) -> None:
    docs = outputs(command)
    assert docs, f"no golden output for {command}: add a case to tests/helpers/golden.py"
    names = documented(command)
    top = set().union(*(d.keys() for d in docs))
    assert top - names == set(), f"{command}: keys missing from the README"
    everywhere = set().union(*(_keys(d, set()) for d in docs))
    extra = names - everywhere - DOCUMENTED_VALUES.get(command, set())
    assert extra - NOT_IN_GOLDEN.get(command, set()) == set(), f"{command}: README names no key"
