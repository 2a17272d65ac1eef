"""Repo ids (ORG/NAME[@REV][/PATH]) through the local Hugging Face cache, then the Hub.

The cache is laid out here as huggingface_hub writes it (blobs/, refs/, snapshots/ of
relative symlinks) and checked with huggingface_hub's own scan_cache_dir and
try_to_load_from_cache. Every test runs offline against an empty cache unless it says
otherwise; the Hub is the range server of tests/helpers/range_server.py, named by HF_ENDPOINT.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import assert_refused
from tests.helpers.hub_cache import cache_repo
from tests.helpers.range_server import VOCAB, Server

pytestmark = pytest.mark.usefixtures("only_loopback", "quick_retries")

ROWS, COLS = 8, 4
EMBED = "model.embed_tokens.weight"
COMMIT_V1 = "1" * 8 + "a" * 32  # tag v1.0
COMMIT_MAIN = "2" * 8 + "b" * 32  # refs/main
REPO_ROOT = Path(__file__).resolve().parents[2]


def _table(offset: float) -> np.ndarray:
    """Row i is [4i, 4i+1, 4i+2, 4i+3] + offset: each revision has its own values."""
    return np.arange(ROWS * COLS, dtype=np.float32).reshape(ROWS, COLS) + offset


def _safetensors(table: np.ndarray, tied: bool = False) -> bytes:
    from safetensors.numpy import save

    tensors = {EMBED: table}
    if not tied:
        tensors["lm_head.weight"] = -table
    return bytes(save(tensors))


def _config(tied: bool = False) -> bytes:
    cfg = {"model_type": "llama", "vocab_size": ROWS, "hidden_size": COLS}
    return json.dumps({**cfg, "tie_word_embeddings": tied}).encode()


@dataclass
class Cache:
    path: Path
    tiny: Path  # models--org--tiny

    def snapshot(self, commit: str) -> Path:
        return self.tiny / "snapshots" / commit


@pytest.fixture(autouse=True)
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: repo ids are not found as local paths by accident."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(autouse=True)
def hf_cache(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    only_loopback: None,  # first: it sets huggingface_hub online
) -> Iterator[Cache]:
    """huggingface_hub read HF_HUB_CACHE and HF_HUB_OFFLINE at import: set its constants."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    tiny = cache_repo(
        cache,
        "org/tiny",
        {
            COMMIT_V1: {"model.safetensors": _safetensors(_table(0)), "config.json": _config()},
            COMMIT_MAIN: {
                "model.safetensors": _safetensors(_table(100)),
                "config.json": _config(),
            },
        },
        {"main": COMMIT_MAIN, "v1.0": COMMIT_V1},
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    yield Cache(cache, tiny)


def _doc(emb: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    r = emb(*args, "--json", env=env)
    assert r.exit_code == 0, (r.exit_code, r.stdout, r.stderr)
    return json.loads(r.stdout)


def _row(emb: Any, source: str, token_id: int = 3) -> list[float]:
    vectors: list[list[float]] = _doc(emb, "lookup", str(token_id), "--from", source)["vectors"]
    return vectors[0]


# ---------------------------------------------------------------- the cache


def test_layout_is_huggingface_hubs(hf_cache: Cache) -> None:
    """The cache built here is what huggingface_hub reads; resolve_repo finds what it finds."""
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache

    from emb_cli.sources.remote.hub import resolve_repo

    info = scan_cache_dir(hf_cache.path)
    [repo] = info.repos
    assert repo.repo_id == "org/tiny" and not info.warnings
    assert {r.commit_hash: set(r.refs) for r in repo.revisions} == {
        COMMIT_MAIN: {"main"},
        COMMIT_V1: {"v1.0"},
    }
    for revision in ("main", "v1.0", COMMIT_V1, None):
        theirs = try_to_load_from_cache(
            "org/tiny", "model.safetensors", cache_dir=hf_cache.path, revision=revision
        )
        spec = "org/tiny" + (f"@{revision}" if revision else "") + "/model.safetensors"
        assert str(resolve_repo(spec).local) == theirs


def test_info_reads_the_cache(emb: Any, hf_cache: Cache) -> None:
    doc = _doc(emb, "info", "org/tiny")
    assert doc["path"] == str(hf_cache.snapshot(COMMIT_MAIN))
    assert (doc["table_rows"], doc["embed_dim"], doc["tied"]) == (ROWS, COLS, False)
    r = emb("lookup", "3", "--from", "org/tiny")
    assert r.exit_code == 0 and r.stderr == ""
    # the source line names the cache snapshot that was read
    assert r.stdout.splitlines()[0].startswith(f"hf-dir {hf_cache.snapshot(COMMIT_MAIN)}")


@pytest.mark.parametrize(
    ("spec", "offset"),
    [
        ("org/tiny", 100),
        ("org/tiny@main", 100),
        ("org/tiny@v1.0", 0),  # a tag
        (f"org/tiny@{COMMIT_V1}", 0),  # a commit
        (f"org/tiny@{COMMIT_V1[:7]}", 0),  # a unique prefix of one
        ("org/tiny@v1.0/model.safetensors", 0),  # a file in the repo
        ("org/tiny/model.safetensors", 100),
    ],
)
def test_revisions(emb: Any, spec: str, offset: int) -> None:
    assert _row(emb, spec) == (_table(offset)[3]).tolist()


def test_subfolder(emb: Any, hf_cache: Cache) -> None:
    cache_repo(
        hf_cache.path,
        "org/pipe",
        {COMMIT_V1: {"text_encoder/model.safetensors": _safetensors(_table(7))}},
        {"main": COMMIT_V1},
    )
    assert _row(emb, "org/pipe/text_encoder") == _table(7)[3].tolist()
    doc = _doc(emb, "info", "org/pipe/text_encoder/model.safetensors")
    assert doc["path"] == str(
        hf_cache.path / "models--org--pipe/snapshots" / COMMIT_V1 / "text_encoder/model.safetensors"
    )


def test_diff_two_revisions(emb: Any) -> None:
    r = emb("diff", "org/tiny@v1.0", "org/tiny", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["max_abs_diff"] == 100.0 and doc["rows_changed"] == ROWS
    assert doc["a"]["name"].endswith(COMMIT_V1) and doc["b"]["name"].endswith(COMMIT_MAIN)


def test_a_local_path_wins(emb: Any, cwd: Path) -> None:
    from safetensors.numpy import save_file

    (cwd / "org" / "tiny").mkdir(parents=True)
    save_file({EMBED: _table(-50)}, str(cwd / "org" / "tiny" / "model.safetensors"))
    assert _row(emb, "org/tiny") == _table(-50)[3].tolist()
    # org/ exists here: org/other is a missing folder, not a repo
    assert_refused(emb("info", "org/other"), "no such file or directory: org/other")


@pytest.mark.parametrize(
    ("text", "repo"),
    [
        ("Qwen/Qwen2.5-0.5B", True),
        ("meta-llama/Llama-3.1-8B@v1.0", True),
        ("org/name@refs%2Fpr%2F1/sub/model.safetensors", True),
        ("org/name/model.safetensors", True),
        ("runs/model.safetensors", False),  # a missing file
        ("out/config.json", False),
        ("./org/name", False),
        ("/abs/path", False),
        ("~/models/x", False),
        ("name-only", False),
        ("org/na--me", False),
        ("org/name.", False),
        ("org/-name", False),
        ("org/name@", False),
        ("org/name@../x", False),
        ("org/name/../x", False),
        ("hf://org/name", False),
        ("https://host/x.safetensors", False),
    ],
)
def test_looks_like_repo_id(text: str, repo: bool) -> None:
    from emb_cli.sources.remote.hub import looks_like_repo_id

    assert looks_like_repo_id(text) is repo


def test_revision_names() -> None:
    from emb_cli.sources.remote.hub import RepoId, parse_repo_id

    assert parse_repo_id("a/b@refs%2Fpr%2F1/x") == RepoId(
        "a/b", "refs/pr/1", "x", "a/b@refs%2Fpr%2F1/x"
    )
    assert parse_repo_id("a/b").hf_spec == "hf://a/b@main"  # type: ignore[union-attr]


# ---------------------------------------------------------------- nowhere, offline


def test_nowhere_offline(emb: Any, hf_cache: Cache) -> None:
    r = emb("info", "org/missing")
    assert_refused(
        r,
        "org/missing: no local path ./org/missing; not in the Hugging Face cache (",
        f"{hf_cache.path / 'models--org--missing'}: not cached)",
        "HF_HUB_OFFLINE=1",
    )


def test_revision_not_cached_offline(emb: Any, hf_cache: Cache) -> None:
    r = emb("lookup", "1", "--from", "org/tiny@v2.0")
    assert_refused(r, "revision v2.0 is not cached (refs: main, v1.0; snapshots: 11111111aaaa")


def test_snapshot_without_weights_offline(emb: Any, hf_cache: Cache) -> None:
    cache_repo(
        hf_cache.path, "org/cfg", {COMMIT_V1: {"config.json": _config()}}, {"main": COMMIT_V1}
    )
    r = emb("info", "org/cfg")
    assert_refused(r, "holds no weights, only config.json", "HF_HUB_OFFLINE=1")


# ---------------------------------------------------------------- then the Hub


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, server: Server) -> dict[str, str]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return {"HF_ENDPOINT": server.base}


def test_not_cached_read_from_the_hub(emb: Any, server: Server, online: dict[str, str]) -> None:
    local = _doc(emb, "lookup", "2", "9", "--from", str(server.root / "llama"))
    server.clear()
    r = emb("lookup", "2", "9", "--from", "org/tiny-llama", "--json", "--verbose", env=online)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["vectors"] == local["vectors"]
    assert r.stderr == f"fetched {server.sent():,} bytes in {len(server.hits) // 2} requests\n"
    info = _doc(emb, "info", "org/tiny-llama", env=online)
    # the source names the URL read, not the repo id
    assert info["path"] == f"{server.base}/org/tiny-llama/resolve/main/model.safetensors"
    assert info["table_rows"] == VOCAB


def test_cached_repo_makes_no_request(emb: Any, server: Server, online: dict[str, str]) -> None:
    server.clear()
    r = emb("lookup", "3", "--from", "org/tiny", "--json", "--verbose", env=online)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == "fetched 0 bytes in 0 requests\n" and server.hits == []


def test_repo_nowhere_names_every_place(
    emb: Any,
    server: Server,
    online: dict[str, str],
    hf_cache: Cache,
) -> None:
    r = emb("info", "org/nothing-here", env=online)
    assert_refused(
        r,
        "no local path ./org/nothing-here",
        f"{hf_cache.path / 'models--org--nothing-here'}: not cached",
        f"and on the Hub ({server.base}/org/nothing-here/resolve/main/)",
        "neither model.safetensors.index.json nor model.safetensors",
    )
    r = emb("info", "ghost/repo", env=online)
    assert_refused(r, "models--ghost--repo: not cached", "no such repo on the Hub (HTTP 401)")


# ---------------------------------------------------------------- emb cache


def test_cache_lists_tables(emb: Any, hf_cache: Cache) -> None:
    from huggingface_hub import scan_cache_dir

    cache_repo(
        hf_cache.path, "org/cfg", {COMMIT_V1: {"config.json": _config()}}, {"main": COMMIT_V1}
    )
    cache_repo(
        hf_cache.path,
        "acme/Tied",
        {
            COMMIT_MAIN: {
                "model.safetensors": _safetensors(_table(1), tied=True),
                "config.json": _config(tied=True),
            }
        },
        {"main": COMMIT_MAIN},
    )
    doc = _doc(emb, "cache")
    sizes = {
        (repo.repo_id, rev.commit_hash): rev.size_on_disk
        for repo in scan_cache_dir(hf_cache.path).repos
        for rev in repo.revisions
    }
    assert doc["cache_dir"] == str(hf_cache.path)
    assert [(m["repo_id"], m["revision"]) for m in doc["models"]] == [
        ("acme/Tied", "main"),
        ("org/tiny", "main"),
        ("org/tiny", "v1.0"),
    ]
    first = doc["models"][0]
    assert first == {
        "repo_id": "acme/Tied",
        "revision": "main",
        "commit": COMMIT_MAIN,
        "path": str(hf_cache.path / "models--acme--Tied" / "snapshots" / COMMIT_MAIN),
        "tensor": EMBED,
        "vocab_size": ROWS,
        "embed_dim": COLS,
        "dtype": "float32",
        "tied": True,
        "tied_source": "config",
        "has_lm_head": None,  # the config names no architectures
        "size_on_disk": sizes[("acme/Tied", COMMIT_MAIN)],
    }
    assert [m["tied"] for m in doc["models"]] == [True, False, False]
    assert doc["skipped"] == [
        {
            "repo_id": "org/cfg",
            "commit": COMMIT_V1,
            "reason": "no weights (config or tokenizer only)",
        }
    ]
    r = emb("cache")
    assert r.exit_code == 0
    assert "org/tiny" in r.stdout and "8 x 4" in r.stdout and "float32" in r.stdout
    assert "3 tables in" in r.stdout
    assert r.stderr.startswith("note: 1 cached revision without a table emb lists")


def test_cache_empty_or_absent(emb: Any, tmp_path: Path) -> None:
    doc = _doc(emb, "cache", "--cache-dir", str(tmp_path / "nowhere"))
    assert doc == {
        "cache_dir": str(tmp_path / "nowhere"),
        "models": [],
        "skipped": [],
        "warnings": [],
    }


# ---------------------------------------------------------------- as a user runs it


def _emb_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGINGFACE_")) and not k.lower().endswith("_proxy")
    }
    base.update(PYTHONPATH=str(REPO_ROOT), **env)
    cmd = [sys.executable, "-m", "emb_cli", *args]
    return subprocess.run(cmd, env=base, capture_output=True, text=True, timeout=120)


def test_hf_home_and_offline_from_the_environment(tmp_path: Path, hf_cache: Cache) -> None:
    """HF_HOME and HF_HUB_OFFLINE as a user sets them, read by huggingface_hub at start."""
    home = tmp_path / "home"
    (home / "hub").mkdir(parents=True)
    os.symlink(hf_cache.tiny, home / "hub" / hf_cache.tiny.name)
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    r = _emb_process(["info", "org/tiny@v1.0", "--json"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == str(
        home / "hub" / hf_cache.tiny.name / "snapshots" / COMMIT_V1
    )
    r = _emb_process(["info", "org/missing"], env)
    assert r.returncode == 2 and "HF_HUB_OFFLINE=1" in r.stderr and str(home / "hub") in r.stderr
    r = _emb_process(["cache", "--json"], {"HF_HUB_CACHE": str(hf_cache.path)})
    assert [m["revision"] for m in json.loads(r.stdout)["models"]] == ["main", "v1.0"]


def _modules_after(argv: list[str]) -> list[str]:
    """Run `emb ARGV` in a fresh interpreter; which HTTP / Hub modules did it import?"""
    code = (
        "import sys\n"
        "from emb_cli.cli import app\n"
        f"try:\n    app({argv!r})\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print([m for m in ('huggingface_hub', 'httpx2', 'httpx', 'urllib.request') "
        "if m in sys.modules])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert r.returncode == 0, r.stderr
    found: list[str] = ast.literal_eval(r.stdout.strip().splitlines()[-1])
    return found


def test_local_commands_do_not_import_the_hub(tmp_path: Path) -> None:
    """huggingface_hub + httpx2 cost ~0.4 s to import: only repo ids, URLs and `cache` pay."""
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({EMBED: _table(0)}, str(path))
    assert _modules_after(["stats", "--vocab", "10", "--dim", "10"]) == []
    assert _modules_after(["info", str(path)]) == []
    assert _modules_after(["lookup", "1", "--from", str(path), "--verbose"]) == []
