"""A safetensors file written by hand, wrong in one place: its length prefix, its header
JSON, a tensor's shape, offsets or dtype, or which tensor is the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_refused
from tests.helpers.hostile import (
    ALL,
    COMMANDS,
    DEEP,
    EMB,
    GOOD,
    Builder,
    _file,
    entry,
    f32_table,
    run_refused,
    run_refused_as_path,
    snapshot,
    st_bytes,
)

SAFETENSORS_CASES: dict[str, Builder] = {
    "empty-file": lambda t: _file(t, b""),
    "seven-bytes": lambda t: _file(t, b"\x01\x00\x00\x00\x00\x00\x00"),
    "truncated-data": lambda t: _file(t, GOOD[: len(GOOD) - 40]),
    "truncated-header": lambda t: _file(t, GOOD[:30]),
    "header-longer-than-file": lambda t: _file(t, st_bytes(b"{}", n=10_000)),
    "header-length-2**64-1": lambda t: _file(t, st_bytes(b"{}", n=2**64 - 1)),
    "header-not-json": lambda t: _file(t, st_bytes(b"this is not json at all")),
    "header-not-utf8": lambda t: _file(t, st_bytes(b'{"\xff\xfe": 1}')),
    "header-json-list": lambda t: _file(t, st_bytes(b"[1, 2, 3]")),
    "header-json-number": lambda t: _file(t, st_bytes(b"42")),
    "header-nan": lambda t: _file(t, st_bytes(b'{"a": NaN}')),
    "header-empty-object": lambda t: _file(t, st_bytes({})),
    "entry-not-object": lambda t: _file(t, st_bytes({EMB: [1, 2]})),
    "shape-strings": lambda t: _file(
        t, st_bytes({EMB: entry("F32", ["8", "4"], 0, 128)}, bytes(128))
    ),
    "shape-negative": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [-8, -4], 0, 128)}, bytes(128))
    ),
    "shape-not-list": lambda t: _file(t, st_bytes({EMB: entry("F32", 32, 0, 128)}, bytes(128))),  # type: ignore[arg-type]
    "shape-float": lambda t: _file(t, st_bytes({EMB: entry("F32", [8.0, 4], 0, 128)}, bytes(128))),
    "shape-huge": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [2**62, 2**62], 0, 128)}, bytes(128))
    ),
    "offsets-outside-file": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [8, 4], 0, 128)}, bytes(64))
    ),
    "offsets-negative": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [8, 4], -128, 0)}, bytes(128))
    ),
    "offsets-reversed": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [8, 4], 128, 0)}, bytes(128))
    ),
    "offsets-wrong-size": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [8, 4], 0, 64)}, bytes(128))
    ),
    "offsets-three": lambda t: _file(
        t,
        st_bytes(
            {EMB: {"dtype": "F32", "shape": [8, 4], "data_offsets": [0, 64, 128]}}, bytes(128)
        ),
    ),
    "offsets-missing": lambda t: _file(
        t, st_bytes({EMB: {"dtype": "F32", "shape": [8, 4]}}, bytes(128))
    ),
    "offsets-overlap": lambda t: _file(
        t,
        st_bytes(
            {EMB: entry("F32", [8, 4], 0, 128), "lm_head.weight": entry("F32", [8, 4], 64, 192)},
            bytes(192),
        ),
    ),
    "unknown-dtype": lambda t: _file(t, st_bytes({EMB: entry("F31", [8, 4], 0, 128)}, bytes(128))),
    "dtype-not-string": lambda t: _file(t, st_bytes({EMB: entry(7, [8, 4], 0, 128)}, bytes(128))),  # type: ignore[arg-type]
    "metadata-not-strings": lambda t: _file(
        t, st_bytes({"__metadata__": {"format": 1}, EMB: entry("F32", [8, 4], 0, 128)}, bytes(128))
    ),
    "metadata-list": lambda t: _file(
        t, st_bytes({"__metadata__": ["pt"], EMB: entry("F32", [8, 4], 0, 128)}, bytes(128))
    ),
    "no-embedding-by-name": lambda t: _file(t, f32_table(8, 4, name="foo.bar")),
    "tensor-1d-by-name": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [32], 0, 128)}, bytes(128))
    ),
    "tensor-3d-by-name": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [2, 4, 4], 0, 128)}, bytes(128))
    ),
    "tensor-0-rows": lambda t: _file(t, st_bytes({EMB: entry("F32", [0, 4], 0, 0)})),
    "tensor-0-cols": lambda t: _file(t, st_bytes({EMB: entry("F32", [8, 0], 0, 0)})),
    "tensor-not-found": lambda t: [*_file(t, GOOD), "--tensor", "nope.weight"],
    "tensor-1d": lambda t: [
        *_file(
            t,
            st_bytes(
                {EMB: entry("F32", [8, 4], 0, 128), "bias": entry("F32", [4], 128, 144)}, bytes(144)
            ),
        ),
        "--tensor",
        "bias",
    ],
    "tensor-3d": lambda t: [
        *_file(
            t,
            st_bytes(
                {EMB: entry("F32", [8, 4], 0, 128), "cube": entry("F32", [2, 2, 2], 128, 160)},
                bytes(160),
            ),
        ),
        "--tensor",
        "cube",
    ],
    "several-embeddings": lambda t: _file(
        t,
        st_bytes(
            {
                "a.embed_tokens.weight": entry("F32", [8, 4], 0, 128),
                "b.embed_tokens.weight": entry("F32", [8, 4], 128, 256),
            },
            bytes(256),
        ),
    ),
    # 100,000 nested brackets: RecursionError (exit 3) in every command, once.
    "header-deep": lambda t: _file(t, st_bytes(DEEP.encode())),
    # A header of ten million 2s: the product must stop at the data section's size.
    "shape-many-dims": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [2] * 1_000_000, 0, 128)}, bytes(128))
    ),
}


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(SAFETENSORS_CASES))
def test_bad_checkpoint(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = SAFETENSORS_CASES[case](tmp_path)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])


@pytest.mark.parametrize("case", sorted(SAFETENSORS_CASES))
def test_bad_checkpoint_info_diff_tokenize(emb: Any, tmp_path: Path, case: str) -> None:
    run_refused_as_path(emb, tmp_path, SAFETENSORS_CASES[case](tmp_path))


def test_missing_tensor_lists_the_ones_there(emb: Any, tmp_path: Path) -> None:
    data = st_bytes(
        {EMB: entry("F32", [8, 4], 0, 128), "lm_head.weight": entry("F32", [8, 4], 128, 256)},
        bytes(256),
    )
    src = _file(tmp_path, data)
    run_refused(
        emb, tmp_path, ["lookup", "0", *src, "--tensor", "wte.weight"], EMB, "lm_head.weight"
    )


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("dtype,size", [("I32", 4), ("U8", 1), ("BOOL", 1), ("I64", 8)])
def test_odd_dtype_table_does_not_crash(
    emb: Any, tmp_path: Path, command: str, dtype: str, size: int
) -> None:
    """An integer or bool 2-D tensor is read as numbers (exit 0/1) or refused (exit 2)."""
    src = _file(tmp_path, st_bytes({EMB: entry(dtype, [8, 4], 0, 32 * size)}, bytes(32 * size)))
    before = snapshot(tmp_path)
    result = emb(*COMMANDS[command], *src)
    if result.exit_code == 2:
        assert_refused(result)
    else:
        assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    assert snapshot(tmp_path) == before
