"""--config files, JSON and TOML: broken, lacking sizes, values of the wrong type or out of
range, nested past any use, a FIFO or /dev/zero."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from emb_cli.errors import InputError
from emb_cli.sources.files import inputs
from tests.helpers.hostile import ALL, COMMANDS, DEEP, Builder, _config, run_refused

CONFIG_CASES: dict[str, Builder] = {
    "config-missing": lambda t: ["--config", str(t / "nope.json")],
    "config-empty-dir": lambda t: ["--config", str(t)],
    "config-not-json": lambda t: _config(t, "{vocab_size: 3000"),
    "config-list": lambda t: _config(t, "[3000, 8]"),
    "config-lacks-sizes": lambda t: _config(t, json.dumps({"model_type": "llama"})),
    "config-lacks-dim": lambda t: _config(t, json.dumps({"vocab_size": 100})),
    "config-vocab-string": lambda t: _config(
        t, json.dumps({"vocab_size": "100", "hidden_size": 8})
    ),
    "config-vocab-zero": lambda t: _config(t, json.dumps({"vocab_size": 0, "hidden_size": 8})),
    "config-dim-negative": lambda t: _config(t, json.dumps({"vocab_size": 100, "hidden_size": -8})),
    "config-pad-outside": lambda t: _config(
        t, json.dumps({"vocab_size": 100, "hidden_size": 8, "pad_token_id": 100})
    ),
    "config-std-nan": lambda t: _config(
        t, '{"vocab_size": 100, "hidden_size": 8, "initializer_range": NaN}'
    ),
    "config-std-inf": lambda t: _config(
        t, '{"vocab_size": 100, "hidden_size": 8, "initializer_range": Infinity}'
    ),
    "config-std-negative": lambda t: _config(
        t, json.dumps({"vocab_size": 100, "hidden_size": 8, "initializer_range": -1})
    ),
    "toml-broken": lambda t: _config(t, "vocab_size = = 3", "c.toml"),
    "toml-lacks-sizes": lambda t: _config(t, 'name = "x"\n', "c.toml"),
    "toml-vocab-string": lambda t: _config(t, 'vocab_size = "3"\nembed_dim = 8\n', "c.toml"),
    "toml-std-string": lambda t: _config(
        t, 'vocab_size = 30\nembed_dim = 8\ninitializer_range = "big"\n', "c.toml"
    ),
    "toml-seed-string": lambda t: _config(
        t, 'vocab_size = 30\nembed_dim = 8\nseed = "x"\n', "c.toml"
    ),
    "toml-seed-float": lambda t: _config(
        t, "vocab_size = 30\nembed_dim = 8\nseed = 1.5\n", "c.toml"
    ),
    "toml-low-list": lambda t: _config(
        t, 'vocab_size = 30\nembed_dim = 8\nuniform_low = [1]\ninit = "uniform"\n', "c.toml"
    ),
    "toml-notes-number": lambda t: _config(
        t, "vocab_size = 30\nembed_dim = 8\nnotes = 5\n", "c.toml"
    ),
    "toml-dtype-unknown": lambda t: _config(
        t, 'vocab_size = 30\nembed_dim = 8\ndtype = "int4"\n', "c.toml"
    ),
    "toml-init-unknown": lambda t: _config(
        t, 'vocab_size = 30\nembed_dim = 8\ninit = "magic"\n', "c.toml"
    ),
    "toml-pad-string": lambda t: _config(
        t, 'vocab_size = 30\nembed_dim = 8\npad_token_id = "0"\n', "c.toml"
    ),
    "toml-std-inf": lambda t: _config(
        t, "vocab_size = 30\nembed_dim = 8\ninitializer_range = inf\n", "c.toml"
    ),
    "toml-low-nan": lambda t: _config(
        t, 'vocab_size = 30\nembed_dim = 8\ninit = "uniform"\nuniform_low = nan\n', "c.toml"
    ),
    "toml-high-inf": lambda t: _config(
        t, 'vocab_size = 30\nembed_dim = 8\ninit = "uniform"\nuniform_high = inf\n', "c.toml"
    ),
    "config-deep": lambda t: _config(t, '{"vocab_size": 8, "hidden_size": 4, "x": ' + DEEP + "}"),
    "config-deep-list": lambda t: _config(t, DEEP),
    "toml-deep": lambda t: _config(t, "x = " + "[" * 5000 + "]" * 5000 + "\n", "c.toml"),
    "config-std-10**400": lambda t: _config(
        t, '{"vocab_size": 8, "hidden_size": 4, "initializer_range": 1' + "0" * 400 + "}"
    ),
    "config-std-1e308": lambda t: _config(
        t, '{"vocab_size": 8, "hidden_size": 4, "initializer_range": 1e308}'
    ),
    "config-vocab-10**400": lambda t: _config(
        t, '{"vocab_size": 1' + "0" * 400 + ', "hidden_size": 4}'
    ),
    "config-name-too-long": lambda t: ["--config", str(t / ("c" * 300 + ".json"))],
    "config-fifo": lambda t: (os.mkfifo(t / "c.json"), ["--config", str(t / "c.json")])[1],
    "config-dev-zero": lambda t: (
        (t / "c.json").symlink_to("/dev/zero"),
        ["--config", str(t / "c.json")],
    )[1],
    "toml-fifo": lambda t: (os.mkfifo(t / "c.toml"), ["--config", str(t / "c.toml")])[1],
    "toml-not-utf8": lambda t: (
        (t / "c.toml").write_bytes(b"\xff\xfe") and ["--config", str(t / "c.toml")]
    ),
}


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = CONFIG_CASES[case](tmp_path)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])


def test_json_depth_guard() -> None:
    flat = inputs.parse_json(b'{"a": [1, {"b": 2}]}', "x")
    assert flat == {"a": [1, {"b": 2}]}
    assert inputs.json_depth(flat) == 3
    ok = "[" * inputs.MAX_JSON_DEPTH + "]" * inputs.MAX_JSON_DEPTH
    assert inputs.json_depth(inputs.parse_json(ok, "x")) == inputs.MAX_JSON_DEPTH
    for depth in (inputs.MAX_JSON_DEPTH + 1, 100_000):
        with pytest.raises(InputError, match="deep"):
            inputs.parse_json("[" * depth + "]" * depth, "x")
