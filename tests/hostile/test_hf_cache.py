"""The Hugging Face cache as the world leaves it: folders the user may not read (as an
unprivileged uid), a revision too long for a file name, a 4 GB sparse or non-UTF-8 refs
file, a cache that is a file or an empty HF_HUB_CACHE, a snapshot symlink loop, and a
download in progress (blobs/*.incomplete). Each is one Error line and exit 2, or for
`emb cache` the one bad entry skipped with a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_refused
from tests.helpers.hostile import (
    CASE_SECONDS,
    ROOT,
    _as_unprivileged,
    f32_table,
    run_refused,
    time_limit,
)
from tests.helpers.hub_cache import cache_repo

COMMIT = "a" * 40
OTHER = "b" * 40


def _make_cache(cache: Path) -> Path:
    """org/tiny and org/other, one snapshot each; returns models--org--tiny."""
    cache_repo(cache, "org/other", {OTHER: {"model.safetensors": f32_table(8, 4)}}, {"main": OTHER})
    return cache_repo(
        cache, "org/tiny", {COMMIT: {"model.safetensors": f32_table(8, 4)}}, {"main": COMMIT}
    )


@pytest.fixture
def hub_constants(monkeypatch: pytest.MonkeyPatch) -> Any:
    """huggingface_hub read HF_HUB_CACHE and HF_HUB_OFFLINE at import: set its constants."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return constants


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)  # org/tiny is never a local path by accident
    return folder


# ---------------------------------------------------------------- permissions, as nobody


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the unprivileged user can reach (tmp_path's parents are root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="emb-hfperm-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for p in [folder, *folder.rglob("*")]:
            if not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(folder)


def _unreadable(cache: Path, case: str) -> Path:
    """Make the cache, open it to everyone, then close the one folder `case` names."""
    repo = _make_cache(cache)
    for p in [cache, *cache.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    closed = {
        "cache-root": cache,
        "repo": repo,
        "refs": repo / "refs",
        "ref-file": repo / "refs" / "main",
        "snapshots": repo / "snapshots",
        "commit": repo / "snapshots" / COMMIT,
    }[case]
    closed.chmod(0)
    return cache


PERM_CASES = ("cache-root", "repo", "refs", "ref-file", "snapshots", "commit")
PERM_COMMANDS = {
    "cache": lambda c: ["cache", "--cache-dir", str(c), "--json"],
    "info": lambda c: ["info", "org/tiny"],
    "lookup": lambda c: ["lookup", "0", "--from", "org/tiny"],
}


def _preload() -> None:
    """What the commands import lazily, loaded before the fork drops privileges."""
    import huggingface_hub.errors  # noqa: F401
    import huggingface_hub.utils._cache_manager  # noqa: F401

    import emb_cli.analysis.cached_models  # noqa: F401
    import emb_cli.commands.cache  # noqa: F401
    import emb_cli.render.cache  # noqa: F401
    import emb_cli.render.lookup  # noqa: F401
    import emb_cli.sources.gguf.tokenizer_cache  # noqa: F401
    import emb_cli.sources.remote.hub  # noqa: F401
    import emb_cli.sources.resolve  # noqa: F401


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("command", PERM_COMMANDS)
@pytest.mark.parametrize("case", PERM_CASES)
def test_an_unreadable_cache_folder_is_one_error_line(
    shared_dir: Path, hub_constants: Any, monkeypatch: pytest.MonkeyPatch, case: str, command: str
) -> None:
    if os.geteuid() != 0 and case == "ref-file":
        pytest.skip("as root only: we own the file and can read it anyway")
    cache = _unreadable(shared_dir / "hub", case)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.chdir(shared_dir)
    _preload()
    with time_limit(CASE_SECONDS):
        rc, out, err = _as_unprivileged(PERM_COMMANDS[command](cache))
    if os.geteuid() != 0:
        pytest.skip("not root: no unprivileged user to switch to")
    assert rc == 2 and out == "", (rc, out, err)
    assert err.startswith("Error: ") and len(err.splitlines()) == 1, err
    assert "internal error" not in err, err
    assert "ermission denied" in err or "not readable" in err, err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("command", ["cache", "info"])
def test_the_default_cache_under_an_unreadable_home_cache(
    shared_dir: Path, hub_constants: Any, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """~/.cache 0700 root's (or 000): the default cache and emb's own cache under it."""
    home_cache = shared_dir / "home" / ".cache"
    cache = home_cache / "huggingface" / "hub"
    _make_cache(cache)
    for p in [shared_dir / "home", *(shared_dir / "home").rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    home_cache.chmod(0)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home_cache))
    monkeypatch.chdir(shared_dir)
    _preload()
    args = ["cache"] if command == "cache" else ["info", "org/tiny"]
    with time_limit(CASE_SECONDS):
        rc, out, err = _as_unprivileged(args)
    if os.geteuid() != 0:
        pytest.skip("not root: no unprivileged user to switch to")
    assert rc == 2 and out == "", (rc, out, err)
    assert err.startswith("Error: ") and len(err.splitlines()) == 1, err
    assert "ermission denied" in err, err


# ---------------------------------------------------------------- names and refs files


def test_a_300_character_revision(emb, tmp_path: Path, hub_constants: Any, cwd: Path) -> None:
    _make_cache(tmp_path / "hub")
    hub_constants.HF_HUB_CACHE = str(tmp_path / "hub")
    run_refused(emb, tmp_path, ["info", "org/tiny@" + "x" * 300], "300 characters")
    run_refused(emb, tmp_path, ["lookup", "0", "--from", "org/tiny@" + "x" * 300])


@pytest.fixture
def outside() -> Iterator[Path]:
    """Outside tmp_path: run_refused's snapshot would read a sparse file's holes."""
    folder = Path(tempfile.mkdtemp(prefix="emb-hfsparse-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _bad_ref(repo: Path, kind: str) -> None:
    ref = repo / "refs" / "main"
    ref.unlink()
    if kind == "sparse-4gb":
        with open(ref, "wb") as fh:
            fh.truncate(4 * 2**30)  # read whole: 4 GB of memory, then a MemoryError
    elif kind == "not-utf8":
        ref.write_bytes(b"\xff\xfe\x00a\x80")
    elif kind == "fifo":
        os.mkfifo(ref)
    elif kind == "dev-zero":
        ref.symlink_to("/dev/zero")
    else:
        ref.write_text("not a commit hash, but text")


REF_KINDS = ("sparse-4gb", "not-utf8", "fifo", "dev-zero", "text")


@pytest.mark.parametrize("kind", REF_KINDS)
def test_a_bad_refs_file_is_refused_for_a_repo_id(
    emb, outside: Path, hub_constants: Any, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _bad_ref(_make_cache(outside / "hub"), kind)
    hub_constants.HF_HUB_CACHE = str(outside / "hub")
    monkeypatch.chdir(outside)
    with time_limit(CASE_SECONDS):
        result = emb("info", "org/tiny")
    assert_refused(result, "refs")


@pytest.mark.parametrize("kind", REF_KINDS)
def test_a_bad_refs_file_skips_that_repo_in_the_listing(emb, outside: Path, kind: str) -> None:
    _bad_ref(_make_cache(outside / "hub"), kind)
    with time_limit(CASE_SECONDS):
        result = emb("cache", "--cache-dir", str(outside / "hub"), "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    doc = json.loads(result.stdout)
    assert [m["repo_id"] for m in doc["models"]] == ["org/other"]
    assert any("models--org--tiny" in w for w in doc["warnings"]), doc["warnings"]


# ---------------------------------------------------------------- where the cache is


def test_a_cache_that_is_a_file(
    emb, tmp_path: Path, hub_constants: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache-file"
    path.write_text("not a folder")
    run_refused(emb, tmp_path, ["cache", "--cache-dir", str(path)], "not a folder")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(path))  # HF_HUB_CACHE=FILE
    run_refused(emb, tmp_path, ["cache"], "not a folder")
    run_refused(emb, tmp_path, ["cache", "--json"], "not a folder")


@pytest.mark.parametrize("var", ["HF_HUB_CACHE", "HF_HOME"])
def test_an_empty_cache_variable_never_scans_the_working_folder(tmp_path: Path, var: str) -> None:
    """HF_HUB_CACHE="" is unset, not "."; a real process, huggingface_hub reads it at import."""
    work = tmp_path / "work"
    _make_cache(work / ("hub" if var == "HF_HOME" else ""))  # HF_HOME="" + "hub" = ./hub
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(home), var: "", "HF_HUB_OFFLINE": "1"}
    for other in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        if other != var:
            env.pop(other, None)
    r = subprocess.run(
        [sys.executable, "-m", "emb_cli", "cache", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=CASE_SECONDS * 2,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["models"] == [], doc
    assert doc["cache_dir"] == str(home / ".cache" / "huggingface" / "hub")


def test_a_snapshot_symlink_loop_skips_that_entry(emb, tmp_path: Path) -> None:
    repo = _make_cache(tmp_path / "hub")
    loop = repo / "snapshots" / ("c" * 40)
    loop.symlink_to(loop.name)  # snapshots/ccc... -> itself
    with time_limit(CASE_SECONDS):
        result = emb("cache", "--cache-dir", str(tmp_path / "hub"), "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    doc = json.loads(result.stdout)
    assert [m["repo_id"] for m in doc["models"]] == ["org/other"]
    assert any("symbolic links" in w for w in doc["warnings"]), doc["warnings"]
    human = emb("cache", "--cache-dir", str(tmp_path / "hub"))
    assert human.exit_code == 0 and "org/other" in human.stdout
    assert "skipped" in human.stderr


def test_a_download_in_progress_is_described_as_one(
    emb, tmp_path: Path, hub_constants: Any, cwd: Path
) -> None:
    """huggingface_hub writes blobs/HASH.incomplete, then links it into the snapshot."""
    cache = tmp_path / "hub"
    repo = cache / "models--org--partial"
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "blobs").mkdir()
    (repo / "blobs" / ("d" * 64 + ".incomplete")).write_bytes(b"\0" * 1000)
    hub_constants.HF_HUB_CACHE = str(cache)
    run_refused(emb, tmp_path, ["info", "org/partial"], "download is in progress", "1,000 bytes")
    assert "only nothing" not in emb("info", "org/partial").stderr
