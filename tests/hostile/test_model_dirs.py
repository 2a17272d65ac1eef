"""Model directories and shard indexes: a missing or escaping shard, broken config.json,
generation_config.json, tokenizer_config.json or tokenizer.json, numbers no use survives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import (
    ALL,
    COMMANDS,
    DEEP,
    EMB,
    GOOD,
    Builder,
    _dir,
    f32_table,
    run_refused,
    run_refused_as_path,
    snapshot,
)

TOKENIZER_BROKEN = '{"version": "1.0", "model": {"type": "WordPiece", "vocab": 7}}'


DIR_CASES: dict[str, Builder] = {
    "empty-dir": lambda t: _dir(t, {}),
    "dir-unrelated-files": lambda t: _dir(t, {"README.md": "hello", "notes.txt": "x"}),
    "index-missing-shard": lambda t: _dir(
        t,
        {
            "model.safetensors.index.json": json.dumps(
                {"metadata": {}, "weight_map": {EMB: "model-00001-of-00002.safetensors"}}
            )
        },
    ),
    "index-file-missing-shard": lambda t: (
        [
            "--from",
            str(t / "model" / "model.safetensors.index.json"),
        ]
        if _dir(
            t,
            {"model.safetensors.index.json": json.dumps({"weight_map": {EMB: "gone.safetensors"}})},
        )
        else []
    ),
    "index-not-json": lambda t: _dir(t, {"model.safetensors.index.json": "{weight_map: nope"}),
    "index-no-weight-map": lambda t: _dir(
        t, {"model.safetensors.index.json": json.dumps({"metadata": {}})}
    ),
    "index-list": lambda t: _dir(t, {"model.safetensors.index.json": "[1, 2]"}),
    "index-shard-escapes": lambda t: _dir(
        t, {"model.safetensors.index.json": json.dumps({"weight_map": {EMB: "../../etc/passwd"}})}
    ),
    "index-shard-absolute": lambda t: _dir(
        t, {"model.safetensors.index.json": json.dumps({"weight_map": {EMB: "/etc/passwd"}})}
    ),
    "index-shard-is-garbage": lambda t: _dir(
        t,
        {
            "model.safetensors.index.json": json.dumps(
                {"weight_map": {EMB: "model-00001.safetensors"}}
            ),
            "model-00001.safetensors": b"garbage",
        },
    ),
    "index-shard-lacks-tensor": lambda t: _dir(
        t,
        {
            "model.safetensors.index.json": json.dumps(
                {"weight_map": {EMB: "model-00001.safetensors"}}
            ),
            "model-00001.safetensors": f32_table(8, 4, name="other.weight"),
        },
    ),
    "dir-config-not-json": lambda t: _dir(
        t, {"model.safetensors": GOOD, "config.json": "{vocab_size: 8"}
    ),
    "dir-config-list": lambda t: _dir(t, {"model.safetensors": GOOD, "config.json": "[8, 4]"}),
    "dir-config-not-utf8": lambda t: _dir(
        t, {"model.safetensors": GOOD, "config.json": b"\xff\xfe\x00"}
    ),
    "dir-generation-config-broken": lambda t: _dir(
        t, {"model.safetensors": GOOD, "generation_config.json": "{"}
    ),
    "dir-tokenizer-config-broken": lambda t: _dir(
        t, {"model.safetensors": GOOD, "tokenizer_config.json": "nope"}
    ),
    "dir-several-weight-files": lambda t: _dir(t, {"a.safetensors": GOOD, "b.safetensors": GOOD}),
    # 100,000 nested brackets: RecursionError (exit 3) in every command, once.
    "index-deep": lambda t: _dir(t, {"model.safetensors.index.json": DEEP}),
    "dir-config-deep": lambda t: _dir(t, {"model.safetensors": GOOD, "config.json": DEEP}),
    "dir-generation-config-deep": lambda t: _dir(
        t, {"model.safetensors": GOOD, "generation_config.json": DEEP}
    ),
    "dir-tokenizer-config-deep": lambda t: _dir(
        t, {"model.safetensors": GOOD, "tokenizer_config.json": DEEP}
    ),
    "dir-config-65-levels": lambda t: _dir(
        t, {"model.safetensors": GOOD, "config.json": '{"a": ' + "[" * 65 + "]" * 65 + "}"}
    ),
    # Numbers JSON allows and no use survives: validated where config.json is read.
    "dir-config-std-10**400": lambda t: _dir(
        t, {"model.safetensors": GOOD, "config.json": '{"initializer_range": 1' + "0" * 400 + "}"}
    ),
    "dir-config-std-1e308": lambda t: _dir(
        t, {"model.safetensors": GOOD, "config.json": '{"initializer_range": 1e308}'}
    ),
    "dir-config-std-negative": lambda t: _dir(
        t, {"model.safetensors": GOOD, "config.json": '{"initializer_range": -1}'}
    ),
    "dir-config-std-nan": lambda t: _dir(
        t, {"model.safetensors": GOOD, "config.json": '{"initializer_range": NaN}'}
    ),
    "dir-config-vocab-10**400": lambda t: _dir(
        t, {"model.safetensors": GOOD, "config.json": '{"vocab_size": 1' + "0" * 400 + "}"}
    ),
    "dir-text-config-std-inf": lambda t: _dir(
        t,
        {
            "model.safetensors": GOOD,
            "config.json": '{"text_config": {"initializer_range": Infinity}}',
        },
    ),
    "index-shard-nul": lambda t: _dir(
        t, {"model.safetensors.index.json": json.dumps({"weight_map": {EMB: "a\x00b"}})}
    ),
    "index-shard-name-too-long": lambda t: _dir(
        t, {"model.safetensors.index.json": json.dumps({"weight_map": {EMB: "x" * 300}})}
    ),
    "index-shard-empty-name": lambda t: _dir(
        t, {"model.safetensors.index.json": json.dumps({"weight_map": {EMB: ""}})}
    ),
    "dir-weights-garbage": lambda t: _dir(t, {"model.safetensors": b"\x00" * 3}),
}


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(DIR_CASES))
def test_bad_checkpoint(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = DIR_CASES[case](tmp_path)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])


@pytest.mark.parametrize("case", sorted(DIR_CASES))
def test_bad_checkpoint_info_diff_tokenize(emb: Any, tmp_path: Path, case: str) -> None:
    run_refused_as_path(emb, tmp_path, DIR_CASES[case](tmp_path))


def test_missing_shard_is_named(emb: Any, tmp_path: Path) -> None:
    src = DIR_CASES["index-missing-shard"](tmp_path)
    run_refused(emb, tmp_path, ["lookup", "0", *src], "model-00001-of-00002.safetensors", "missing")


def test_broken_tokenizer(emb: Any, tmp_path: Path) -> None:
    src = _dir(tmp_path, {"model.safetensors": GOOD, "tokenizer.json": TOKENIZER_BROKEN})
    run_refused(emb, tmp_path, ["lookup", "--text", "hello", *src], "tokenizer")


@pytest.mark.parametrize(
    "content",
    ["", "{", "null", "[]", '{"model": null}', "\x00\x01"],
    ids=["empty", "open", "null", "list", "nomodel", "binary"],
)
def test_tokenizer_json_garbage(emb: Any, tmp_path: Path, content: str) -> None:
    src = _dir(tmp_path, {"model.safetensors": GOOD, "tokenizer.json": content})
    run_refused(emb, tmp_path, ["lookup", "--text", "hello", *src], "tokenizer")


def test_tokenizer_ids_beyond_the_table(emb: Any, tmp_path: Path) -> None:
    """A tokenizer from another model: its ids run past the 8-row table."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"hello": 100, "[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    src = _dir(tmp_path, {"model.safetensors": GOOD, "tokenizer.json": tok.to_str()})
    run_refused(emb, tmp_path, ["lookup", "--text", "hello", *src], "100", "out of range")


@pytest.mark.parametrize("command", ALL)
def test_lacking_sizes_config_in_dir_is_ignored_not_crashed(
    emb: Any, tmp_path: Path, command: str
) -> None:
    """A model directory's config without sizes: the tensor still defines the table."""
    src = _dir(
        tmp_path, {"model.safetensors": GOOD, "config.json": json.dumps({"model_type": "llama"})}
    )
    before = snapshot(tmp_path)
    result = emb(*COMMANDS[command], *src)
    assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    assert snapshot(tmp_path) == before
