"""PyTorch pickles: garbage, truncated, wrong contents, and payloads that run code when
unpickled. emb refuses them all and runs nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import ALL, COMMANDS, EMB, run_refused


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
