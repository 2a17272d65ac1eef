"""compressed-tensors quantization_config as a hostile file writes it: `ignore` that is not
a list, `ignore`/`targets` patterns that do not compile, and a `targets` pattern that
backtracks catastrophically (one took 112 s on a 43-character module name). Each is one
Error line, exit 2, inside the 10 s alarm.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import CASE_SECONDS, run_refused

EMB = "model.embed_tokens"
WEIGHTS = {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True}


def _checkpoint(tmp: Path, q: dict[str, Any]) -> list[str]:
    """An embedding stored with a compressed-tensors companion (weight_scale): emb must
    find the config group that targets it, which evaluates `ignore` and `targets`."""
    folder = tmp / "model"
    folder.mkdir()
    table = struct.pack("<32b", *range(32))
    scale = struct.pack("<8f", *([0.5] * 8))
    header = {
        f"{EMB}.weight": {"dtype": "I8", "shape": [8, 4], "data_offsets": [0, 32]},
        f"{EMB}.weight_scale": {"dtype": "F32", "shape": [8, 1], "data_offsets": [32, 64]},
    }
    raw = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + table + scale)
    config = {
        "model_type": "llama",
        "vocab_size": 8,
        "hidden_size": 4,
        "quantization_config": {
            "quant_method": "compressed-tensors",
            "format": "int-quantized",
            **q,
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    return ["--from", str(folder)]


def _group(targets: Any) -> dict[str, Any]:
    return {"config_groups": {"group_0": {"targets": targets, "weights": WEIGHTS}}}


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "ignore-int": ({**_group(["Embedding"]), "ignore": 5}, "ignore"),
    "ignore-string": ({**_group(["Embedding"]), "ignore": "lm_head"}, "ignore"),
    "ignore-regex-broken": ({**_group(["Embedding"]), "ignore": ["re:(unclosed"]}, "re:(unclosed"),
    "target-regex-broken": (_group(["re:[z-a]"]), "re:[z-a]"),
    "target-regex-bad-escape": (_group(["re:\\"]), "regular expression"),
    "target-regex-too-deep": (_group(["re:" + "(" * 1000 + ")" * 1000]), "regular expression"),
    "target-backtracking": (_group(["re:(.|.|.)*!"]), "backtracks"),
    "ignore-backtracking": (
        {**_group(["Embedding"]), "ignore": ["re:(.|.|.|.)*!"]},
        "backtracks",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_pattern_is_one_error_line(emb, tmp_path: Path, case: str) -> None:
    q, needle = CASES[case]
    src = _checkpoint(tmp_path, q)
    started = time.monotonic()
    run_refused(emb, tmp_path, ["lookup", "0", *src], needle)
    assert time.monotonic() - started < CASE_SECONDS


def test_a_good_pattern_still_matches(emb, tmp_path: Path) -> None:
    """The bounded matching gives compressed-tensors' answer: re.match on the name."""
    src = _checkpoint(tmp_path, _group(["re:.*embed_tokens$"]))
    doc = emb("lookup", "0", *src, "--json")
    assert doc.exit_code == 0, doc.stderr
    assert json.loads(doc.stdout)["vectors"][0] == [0.0, 0.5, 1.0, 1.5]
    ignored = tmp_path / "ignored"
    ignored.mkdir()
    src = _checkpoint(ignored, {**_group(["re:.*embed_tokens$"]), "ignore": ["re:model\\.embed"]})
    run_refused(emb, ignored, ["lookup", "0", *src], "ignores")
