"""Hostile input: every bad file, flag or id gets one `Error: ...` line and exit 2.

Never a traceback, never anything on stdout, never a write to an input file. Exit 3
(internal error) in here is a bug in emb, not an outcome to accept.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from emb_cli.cli import COMMANDS as CLI_COMMANDS
from tests.helpers import assert_refused

# Arguments a command needs before its source options; every other command runs bare.
ARGS: dict[str, list[str]] = {
    "lookup": ["0"],
    "init-stats": ["--no-hist"],
    "neighbors": ["0"],
    "resize": ["10"],
}
# Commands that take a checkpoint but no table options; the file cases run them below.
PATH_COMMANDS = ("info", "diff", "tokenize")


def _source_commands() -> dict[str, list[str]]:
    """Every command of the app that takes --from, with the arguments it needs.

    Built from cli.COMMANDS, so a new command is in the hostile matrix from its first day.
    """
    import inspect

    out = {}
    for name, fn, _ in CLI_COMMANDS:
        params = inspect.signature(fn).parameters
        if "from_" in params and "tensor" in params:  # the shared table-source options
            out[name] = [name, *ARGS.get(name, [])]
        else:
            assert name in (*PATH_COMMANDS, "presets", "cache"), f"{name}: add it to the matrix"
    return out


COMMANDS = _source_commands()
ALL = tuple(COMMANDS)
# commands that allocate a built table
BUILDING = ("lookup", "init-stats", "padding", "tie", "undertrained", "neighbors")


# ---------------------------------------------------------------- safetensors by hand


def st_bytes(header: dict[str, Any] | bytes, data: bytes = b"", n: int | None = None) -> bytes:
    """A safetensors file: 8-byte little-endian header length, header, data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if n is None else n) + raw + data


def f32_table(rows: int, cols: int, name: str = "model.embed_tokens.weight") -> bytes:
    data = struct.pack(f"<{rows * cols}f", *range(rows * cols))
    header = {name: {"dtype": "F32", "shape": [rows, cols], "data_offsets": [0, len(data)]}}
    return st_bytes(header, data)


def entry(dtype: str, shape: list[Any], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


EMB = "model.embed_tokens.weight"
GOOD = f32_table(8, 4)


# Each builder makes its files under `tmp` and returns the source options to pass.
Builder = Callable[[Path], list[str]]


def _file(tmp: Path, content: bytes, name: str = "model.safetensors") -> list[str]:
    path = tmp / name
    path.write_bytes(content)
    return ["--from", str(path)]


def _dir(tmp: Path, files: dict[str, bytes | str]) -> list[str]:
    folder = tmp / "model"
    folder.mkdir()
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return ["--from", str(folder)]


def _config(tmp: Path, content: str, name: str = "config.json") -> list[str]:
    path = tmp / name
    path.write_text(content)
    return ["--config", str(path)]


DEEP = "[" * 100_000 + "]" * 100_000


def _symlink_loop(tmp: Path) -> list[str]:
    (tmp / "a.safetensors").symlink_to(tmp / "b.safetensors")
    (tmp / "b.safetensors").symlink_to(tmp / "a.safetensors")
    return ["--from", str(tmp / "a.safetensors")]


def _fifo(tmp: Path, name: str) -> list[str]:
    """A named pipe: open() for reading blocks until a writer comes, i.e. forever."""
    os.mkfifo(tmp / name)
    return ["--from", str(tmp / name)]


def _fifo_in_dir(tmp: Path, name: str) -> list[str]:
    src = _dir(tmp, {"model.safetensors": GOOD} if name != "model.safetensors" else {})
    os.mkfifo(tmp / "model" / name)
    return src


def _device(tmp: Path, device: str, name: str) -> list[str]:
    """An endless device behind an innocent name: read whole, it fills memory."""
    (tmp / name).symlink_to(device)
    return ["--from", str(tmp / name)]


def _device_in_dir(tmp: Path, device: str, name: str) -> list[str]:
    src = _dir(tmp, {"model.safetensors": GOOD})
    (tmp / "model" / name).symlink_to(device)
    return src


TOKENIZER_BROKEN = '{"version": "1.0", "model": {"type": "WordPiece", "vocab": 7}}'


def _mlx(
    tmp: Path,
    quant: dict[str, Any] | None,
    *,
    scales: tuple[int, int] = (8, 2),
    biases: bool = True,
    hidden: int = 64,
    weight: tuple[str, list[int]] = ("U32", [8, 8]),
) -> list[str]:
    """An MLX-quantized table (4-bit codes in uint32 words, fp16 scales and biases per 32)
    as mlx_lm saves it, with one part or one config value wrong."""
    name = "model.embed_tokens"
    dtype, shape = weight
    parts: dict[str, tuple[str, list[int]]] = {
        f"{name}.weight": (dtype, shape),
        f"{name}.scales": ("F16", list(scales)),
    }
    if biases:
        parts[f"{name}.biases"] = ("F16", list(scales))
    size = {"U32": 4, "I32": 4, "F16": 2}
    header: dict[str, Any] = {}
    pos = 0
    for key, (dt, shp) in parts.items():
        n = size[dt] * shp[0] * shp[1]
        header[key] = entry(dt, shp, pos, pos + n)
        pos += n
    config: dict[str, Any] = {"model_type": "llama", "hidden_size": hidden, "vocab_size": 8}
    if quant is not None:
        config.update(quant)
    return _dir(
        tmp,
        {"model.safetensors": st_bytes(header, bytes(pos)), "config.json": json.dumps(config)},
    )


MLX4 = {"quantization": {"group_size": 32, "bits": 4}}


FILE_CASES: dict[str, Builder] = {
    "mlx-scales-wrong-shape": lambda t: _mlx(t, MLX4, scales=(8, 3)),
    "mlx-group-not-dividing-width": lambda t: _mlx(
        t, {"quantization": {"group_size": 48, "bits": 4}}, scales=(8, 1)
    ),
    "mlx-bits-outside-scheme": lambda t: _mlx(t, {"quantization": {"group_size": 32, "bits": 7}}),
    "mlx-missing-biases": lambda t: _mlx(t, MLX4, biases=False),
    "mlx-missing-scales-config-says-quantized": lambda t: _dir(
        t,
        {
            "model.safetensors": st_bytes(
                {"model.embed_tokens.weight": entry("U32", [8, 8], 0, 256)}, bytes(256)
            ),
            "config.json": json.dumps({"model_type": "llama", **MLX4}),
        },
    ),
    "mlx-packed-width-vs-hidden-size": lambda t: _mlx(t, MLX4, hidden=100),
    "packed-codes-unknown-scheme": lambda t: _mlx(
        t, {"quantization_config": {"quant_method": "gptq", "bits": 4}}, weight=("I32", [8, 8])
    ),
    "packed-codes-no-config": lambda t: _mlx(t, None),
    "missing-path": lambda t: ["--from", str(t / "nope.safetensors")],
    "empty-dir": lambda t: _dir(t, {}),
    "dir-unrelated-files": lambda t: _dir(t, {"README.md": "hello", "notes.txt": "x"}),
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
    "header-deep": lambda t: _file(t, st_bytes(DEEP.encode())),
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
    # A header of ten million 2s: the product must stop at the data section's size.
    "shape-many-dims": lambda t: _file(
        t, st_bytes({EMB: entry("F32", [2] * 1_000_000, 0, 128)}, bytes(128))
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
    "name-too-long": lambda t: ["--from", str(t / ("x" * 300 + ".safetensors"))],
    "path-too-long": lambda t: ["--from", str(t / ("d/" * 3000) / "model.safetensors")],
    "symlink-loop": lambda t: _symlink_loop(t),
    "fifo-safetensors": lambda t: _fifo(t, "model.safetensors"),
    "fifo-gguf": lambda t: _fifo(t, "model.gguf"),
    "fifo-pt": lambda t: _fifo(t, "model.pt"),
    "fifo-index": lambda t: _fifo(t, "model.safetensors.index.json"),
    "fifo-bin-index": lambda t: _fifo(t, "pytorch_model.bin.index.json"),
    "dir-fifo-weights": lambda t: _fifo_in_dir(t, "model.safetensors"),
    "dir-fifo-config": lambda t: _fifo_in_dir(t, "config.json"),
    "dir-fifo-gguf": lambda t: (_dir(t, {}), os.mkfifo(t / "model" / "x.gguf"))[0],
    "dev-zero-as-index": lambda t: _device(t, "/dev/zero", "model.safetensors.index.json"),
    "dev-urandom-as-index": lambda t: _device(t, "/dev/urandom", "model.safetensors.index.json"),
    "dev-zero-as-safetensors": lambda t: _device(t, "/dev/zero", "model.safetensors"),
    "dev-null-as-gguf": lambda t: _device(t, "/dev/null", "model.gguf"),
    "dir-dev-zero-config": lambda t: _device_in_dir(t, "/dev/zero", "config.json"),
    "dir-dev-zero-tokenizer": lambda t: _device_in_dir(t, "/dev/zero", "tokenizer.json"),
    "dir-weights-garbage": lambda t: _dir(t, {"model.safetensors": b"\x00" * 3}),
}


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


FLAG_CASES: dict[str, list[str]] = {
    "vocab-zero": ["--vocab", "0"],
    "vocab-negative": ["--vocab", "-5"],
    "dim-zero": ["--dim", "0"],
    "dim-negative": ["--dim", "-1"],
    "vocab-not-int": ["--vocab", "many"],
    "dim-float": ["--dim", "8.5"],
    "pad-outside": ["--pad", "5000"],
    "pad-negative": ["--pad", "-1"],
    "pad-word": ["--pad", "zero"],
    "std-zero": ["--init-std", "0"],
    "std-nan": ["--init-std", "nan"],
    "std-inf": ["--init-std", "inf"],
    "uniform-reversed": ["--init", "uniform", "--low", "1", "--high", "-1"],
    "uniform-inf": ["--init", "uniform", "--low", "-inf", "--high", "1"],
    "uniform-nan": ["--init", "uniform", "--low", "nan"],
    "seed-negative": ["--seed", "-1"],
    "seed-huge": ["--seed", str(2**64)],
    "unknown-preset": ["--preset", "no-such-model"],
    "preset-escapes": ["--preset", "../configs/default"],
    "preset-name-too-long": ["--preset", "p" * 300],
    "preset-and-config": ["--preset", "gpt2", "--config", "x.json"],
    "tensor-without-from": ["--tensor", "wte.weight"],
    "unknown-init": ["--init", "magic"],
    "unknown-dtype": ["--dtype", "int4"],
    "seed-10**30": ["--seed", str(10**30)],
    "std-1e308": ["--init-std", "1e308"],
    "std-1e308-bfloat16": ["--init-std", "1e308", "--dtype", "bfloat16"],
    "std-1e5-float16": ["--init-std", "1e5", "--dtype", "float16"],
    "std-tiny": ["--init-std", "1e-320"],
    "uniform-1e308": ["--init", "uniform", "--low", "-1e308", "--high", "1e308"],
    "uniform-narrower-than-float": ["--init", "uniform", "--low", "1", "--high", "1.0000000001"],
    "uniform-subnormal": ["--init", "uniform", "--low", "0", "--high", "5e-324"],
    "vocab-4000-digits": ["--vocab", "9" * 4000, "--dim", "8"],
    "dim-4000-digits": ["--dim", "9" * 4000],
    "pad-underscore": ["--pad", "1_0"],
    "pad-plus": ["--pad", "+5"],
}
# Absurd sizes: arithmetic for `stats`, a refusal for commands that build the table.
TOO_LARGE: dict[str, list[str]] = {
    "vocab-10**15": ["--vocab", "1000000000000000", "--dim", "8"],
    "dim-10**12": ["--dim", "1000000000000"],
    "vocab-2**70": ["--vocab", str(2**70), "--dim", "8"],
}
# Tables that fit, with scratch that does not: the check counts every array, not the table.
SCRATCH_TOO_LARGE: dict[str, list[str]] = {
    "lookup-dim-10**9": ["lookup", "0", "--vocab", "1", "--dim", "1000000000", "--pad", "none"],
    "lookup-batch-dim-10**9": [
        "lookup",
        "--batch",
        "0",
        "--vocab",
        "1",
        "--dim",
        "1000000000",
        "--pad",
        "none",
    ],
}
# Flags that describe a build, given with --from: contradictory.
FROM_CONFLICTS: dict[str, list[str]] = {
    "from-and-vocab": ["--vocab", "8"],
    "from-and-preset": ["--preset", "gpt2"],
    "from-and-tie": ["--tie"],
    "from-pad-word": ["--pad", "zero"],
}
# Bad ids per command, against the default 3000-row table and the 8-row file.
ID_CASES: dict[str, list[str]] = {
    "lookup-no-ids": ["lookup"],
    "lookup-out-of-range": ["lookup", "3000"],
    "lookup-way-out-of-range": ["lookup", str(2**70)],
    "lookup-negative": ["lookup", "-1"],
    "lookup-negative-comma": ["lookup", "1,-2"],
    "lookup-not-int": ["lookup", "abc"],
    "lookup-float": ["lookup", "1.5"],
    "lookup-hex": ["lookup", "0x10"],
    "lookup-empty-string": ["lookup", ""],
    "lookup-commas-only": ["lookup", ",,,"],
    "lookup-ids-not-int": ["lookup", "1", "--ids", "x"],
    "lookup-underscore": ["lookup", "1_0"],
    "lookup-plus": ["lookup", "+5"],
    "lookup-arabic-indic": ["lookup", "\u0663"],
    "lookup-fullwidth": ["lookup", "\uff15"],
    "lookup-superscript": ["lookup", "\u00b2"],
    "lookup-ids-underscore": ["lookup", "--ids", "1_0"],
    "lookup-batch-plus": ["lookup", "--batch", "1,+2"],
    "padding-ids-underscore": ["padding", "--ids", "1_0"],
    "tie-ids-plus": ["tie", "--ids", "+1"],
    "neighbors-underscore": ["neighbors", "1_0"],
    "lookup-text-no-tokenizer": ["lookup", "--text", "hello"],
    "padding-ids-out-of-range": ["padding", "--ids", "5000"],
    "padding-ids-negative": ["padding", "--ids", "-3"],
    "padding-ids-not-int": ["padding", "--ids", "x"],
    "tie-ids-out-of-range": ["tie", "--ids", "3000"],
    "tie-ids-negative": ["tie", "--ids", "-1"],
    "tie-ids-not-int": ["tie", "--ids", "1.0"],
    "unknown-option": ["stats", "--frobnicate"],
    "presets-extra-arg": ["presets", "extra"],
    "presets-unknown-option": ["presets", "--vocab", "8"],
}
FILE_ID_CASES: dict[str, list[str]] = {
    "lookup-out-of-range": ["lookup", "8"],
    "lookup-negative": ["lookup", "-8"],
    "lookup-no-ids": ["lookup"],
    "lookup-text-no-tokenizer": ["lookup", "--text", "hi"],
    "padding-pad-outside": ["padding", "--pad", "-1"],
    "tie-ids-out-of-range": ["tie", "--ids", "99"],
}


# ---------------------------------------------------------------- assertions


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime under root: inputs must come out untouched.

    Regular files only, not followed through symlinks (/dev/zero is one case's input).
    """
    out = {}
    for p in sorted(root.rglob("*")):
        with contextlib.suppress(OSError):  # names too long, symlink loops
            if not p.is_symlink() and p.is_file():
                out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


# No command may take longer than this on a hostile file (a FIFO once blocked forever,
# /dev/zero behind a symlink took 8-22 s to end in MemoryError).
CASE_SECONDS = 10


def run_refused(emb: Any, tmp_path: Path, args: list[str], *needles: str) -> None:
    before = snapshot(tmp_path)
    with time_limit(CASE_SECONDS):
        result = emb(*args)
    assert_refused(result, *needles)
    assert snapshot(tmp_path) == before, "an input file changed"


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """SIGALRM after `seconds`: a hang fails the case instead of stalling the suite."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the command ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- the table


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_checkpoint(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = FILE_CASES[case](tmp_path)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_checkpoint_info_diff_tokenize(emb: Any, tmp_path: Path, case: str) -> None:
    """`info PATH`, `diff A B` and `tokenize --from`: the same files, the same refusal."""
    flag, path, *extra = FILE_CASES[case](tmp_path)
    assert flag == "--from" and extra[:1] in ([], ["--tensor"]), extra
    good = tmp_path / "good-side.safetensors"
    good.write_bytes(GOOD)

    def tensor(option: str) -> list[str]:  # info takes --tensor; diff names the side
        return [option, *extra[1:]] if extra else []

    run_refused(emb, tmp_path, ["info", path, *tensor("--tensor")])
    run_refused(emb, tmp_path, ["diff", path, str(good), *tensor("--tensor-a")])
    run_refused(emb, tmp_path, ["diff", str(good), path, *tensor("--tensor-b")])
    if not extra:  # tokenize takes no --tensor
        run_refused(emb, tmp_path, ["tokenize", "--from", path, "hello"])


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = CONFIG_CASES[case](tmp_path)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_bad_flags(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    run_refused(emb, tmp_path, [*COMMANDS[command], *FLAG_CASES[case]])


@pytest.mark.parametrize("command", BUILDING)
@pytest.mark.parametrize("case", sorted(TOO_LARGE))
def test_too_large_to_build(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    run_refused(emb, tmp_path, [*COMMANDS[command], *TOO_LARGE[case]], "memory")


@pytest.mark.parametrize("case", sorted(TOO_LARGE))
def test_too_large_is_arithmetic_for_stats(emb: Any, case: str) -> None:
    result = emb("stats", "--json", *TOO_LARGE[case], ok=True)
    report = json.loads(result.stdout)
    vocab = (
        int(TOO_LARGE[case][TOO_LARGE[case].index("--vocab") + 1])
        if "--vocab" in TOO_LARGE[case]
        else None
    )
    if vocab is not None:
        assert json.dumps(report).count(str(vocab * 8)) >= 1


@pytest.mark.parametrize("case", sorted(SCRATCH_TOO_LARGE))
def test_scratch_too_large(emb: Any, tmp_path: Path, case: str) -> None:
    run_refused(emb, tmp_path, SCRATCH_TOO_LARGE[case], "memory")


def test_resize_write_seed_out_of_range(emb: Any, tmp_path: Path) -> None:
    src = _file(tmp_path, GOOD)
    for seed in (str(2**64), str(10**30), "-1"):
        out = tmp_path / f"out-{seed[:3]}.safetensors"
        run_refused(emb, tmp_path, ["resize", "10", *src, "--write", str(out), "--seed", seed])
        assert not out.exists()


def test_stats_of_10_to_15_rows(emb: Any) -> None:
    result = emb("stats", "--vocab", "1000000000000000", "--dim", "8", ok=True)
    assert result.stderr == ""


def test_lookup_of_10_to_15_rows_names_memory(emb: Any, tmp_path: Path) -> None:
    run_refused(
        emb, tmp_path, ["lookup", "1", "--vocab", "1000000000000000"], "memory", "emb stats"
    )


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(FROM_CONFLICTS))
def test_from_conflicts(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = _file(tmp_path, GOOD)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src, *FROM_CONFLICTS[case]])


@pytest.mark.parametrize("case", sorted(ID_CASES))
def test_bad_ids_built(emb: Any, tmp_path: Path, case: str) -> None:
    run_refused(emb, tmp_path, ID_CASES[case])


@pytest.mark.parametrize("case", sorted(FILE_ID_CASES))
def test_bad_ids_file(emb: Any, tmp_path: Path, case: str) -> None:
    src = _file(tmp_path, GOOD)
    run_refused(emb, tmp_path, [*FILE_ID_CASES[case], *src])


def test_pad_5000_names_the_table(emb: Any, tmp_path: Path) -> None:
    run_refused(emb, tmp_path, ["padding", "--pad", "5000"], "5000", "2999")


def test_missing_tensor_lists_the_ones_there(emb: Any, tmp_path: Path) -> None:
    data = st_bytes(
        {EMB: entry("F32", [8, 4], 0, 128), "lm_head.weight": entry("F32", [8, 4], 128, 256)},
        bytes(256),
    )
    src = _file(tmp_path, data)
    run_refused(
        emb, tmp_path, ["lookup", "0", *src, "--tensor", "wte.weight"], EMB, "lm_head.weight"
    )


def test_missing_shard_is_named(emb: Any, tmp_path: Path) -> None:
    src = FILE_CASES["index-missing-shard"](tmp_path)
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


# ---------------------------------------------------------------- NaN and Inf are data


def _no_constants(name: str) -> Any:
    raise AssertionError(f"--json wrote {name}, which is not JSON (RFC 8259); jq rejects it")


@pytest.fixture
def nonfinite_file(tmp_path: Path) -> Path:
    import numpy as np

    w = np.arange(32, dtype=np.float32).reshape(8, 4) / 10
    w[2, 1] = np.nan
    w[5, 0] = np.inf
    w[6, 3] = -np.inf
    w[0] = 0  # a zero pad row
    head = w.copy()
    header = {
        EMB: entry("F32", [8, 4], 0, 128),
        "lm_head.weight": entry("F32", [8, 4], 128, 256),
    }
    path = tmp_path / "model.safetensors"
    path.write_bytes(st_bytes(header, w.tobytes() + head.tobytes()))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["init-stats"],
        ["init-stats", "--no-hist"],
        ["lookup", "2", "5", "6"],
        ["padding", "--pad", "0"],
        ["padding", "--pad", "2"],
        ["padding", "--pad", "2", "--strict"],
        ["tie"],
        ["tie", "--all-rows"],
        ["stats"],
    ],
    ids=lambda a: "-".join(a),
)
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_nonfinite_table_is_inspected(
    emb: Any, nonfinite_file: Path, args: list[str], as_json: bool
) -> None:
    before = snapshot(nonfinite_file.parent)
    extra = ["--json"] if as_json else []
    result = emb(*args, "--from", str(nonfinite_file), *extra)
    detail = (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.exit_code in (0, 1), detail
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout
    if as_json:
        json.loads(result.stdout, parse_constant=_no_constants)
    assert snapshot(nonfinite_file.parent) == before


def test_nonfinite_counts_are_reported(emb: Any, nonfinite_file: Path) -> None:
    result = emb("init-stats", "--json", "--from", str(nonfinite_file))
    assert result.exit_code in (0, 1), (result.stdout, result.stderr)
    data = json.loads(result.stdout, parse_constant=_no_constants)
    assert (data["nan_values"], data["inf_values"]) == (1, 2)
    assert data["nonfinite_rows"] == [2, 5, 6]


def test_nonfinite_lookup_values(emb: Any, nonfinite_file: Path) -> None:
    result = emb("lookup", "5", "6", "2", "--json", "--from", str(nonfinite_file), ok=True)
    data = json.loads(result.stdout)
    assert len(data["vectors"]) == 3


# ---------------------------------------------------------------- GGUF


def _gguf_cases(tmp: Path) -> dict[str, list[str]]:
    import numpy as np
    from gguf import GGUFWriter

    good = tmp / "good.gguf"
    writer = GGUFWriter(str(good), "llama")
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(8, 4))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    raw = good.read_bytes()
    cases: dict[str, bytes] = {
        "bad-magic": b"GGUX" + raw[4:],
        "magic-only": b"GGUF",
        "truncated-tensor-data": raw[:-40],
        "truncated-header": raw[:24],
        "version-99": raw[:4] + struct.pack("<I", 99) + raw[8:],
        "huge-tensor-count": raw[:8] + struct.pack("<Q", 2**60) + raw[16:],
        "huge-kv-count": raw[:16] + struct.pack("<Q", 2**60) + raw[24:],
        "zeros": b"GGUF" + bytes(60),
    }
    out: dict[str, list[str]] = {}
    for name, data in cases.items():
        path = tmp / f"{name}.gguf"
        path.write_bytes(data)
        out[name] = ["--from", str(path)]
    good.unlink()
    return out


GGUF_CASE_NAMES = (
    "bad-magic",
    "magic-only",
    "truncated-tensor-data",
    "truncated-header",
    "version-99",
    "huge-tensor-count",
    "huge-kv-count",
    "zeros",
)


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", GGUF_CASE_NAMES)
def test_bad_gguf(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = _gguf_cases(tmp_path)[case]
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])


# ---------------------------------------------------------------- PyTorch pickles


class Payload:
    """Unpickling this runs Python: it writes a marker file. emb must never do so."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _torch_cases(tmp: Path, marker: Path) -> dict[str, list[str]]:
    import pickle

    import torch

    zipped = tmp / "zipped.bin"
    torch.save({EMB: torch.zeros(8, 4), "x": Payload(marker)}, zipped)
    legacy = tmp / "legacy.pt"
    torch.save(
        {EMB: torch.zeros(8, 4), "x": Payload(marker)}, legacy, _use_new_zipfile_serialization=False
    )
    raw = tmp / "raw.pt"
    raw.write_bytes(pickle.dumps({"x": Payload(marker)}))
    good = tmp / "good.bin"
    torch.save({EMB: torch.zeros(8, 4)}, good)
    files = {
        "empty.bin": b"",
        "garbage.bin": b"not a pickle at all",
        "truncated.bin": good.read_bytes()[:200],
        "zip-garbage.pt": b"PK\x03\x04" + bytes(60),
        "list.pt": pickle.dumps([1, 2, 3]),
        "string-tensor.pt": pickle.dumps({EMB: "not a tensor"}),
    }
    out = {p.stem: ["--from", str(p)] for p in (zipped, legacy, raw)}
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        out[Path(name).stem] = ["--from", str(tmp / name)]
    good.unlink()
    return out


TORCH_CASE_NAMES = (
    "zipped",
    "legacy",
    "raw",
    "empty",
    "garbage",
    "truncated",
    "zip-garbage",
    "list",
    "string-tensor",
)


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", TORCH_CASE_NAMES)
def test_bad_torch_file_runs_no_code(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    marker = tmp_path / "marker" / "ran.txt"
    marker.parent.mkdir()
    src = _torch_cases(tmp_path, marker)[case]
    run_refused(emb, tmp_path, [*COMMANDS[command], *src])
    assert not marker.exists(), "emb ran code from a pickle"


# ---------------------------------------------------------------- debug mode


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
