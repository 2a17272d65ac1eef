"""GGUF files cut short or with a bad magic, version or count."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import ALL, COMMANDS, run_refused


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
