"""The app as a whole: bad input, help, start-up without torch, python -m, internal errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emb_cli.cli import app
from tests.helpers import heavy_imports_after


@pytest.mark.parametrize(
    "args,needle",
    [
        (["lookup", "3000"], "0..2999"),
        (["lookup", "-1"], "out of range"),
        (["lookup", "abc"], "not an integer"),
        (["lookup"], "no token ids"),
        (["lookup", "1", "--from", "/nonexistent/x.safetensors"], "no such file"),
        (["stats", "--vocab", "0", "--dim", "8"], "vocab size"),
        (["stats", "--vocab", "8", "--dim", "0"], "embedding dim"),
        (["stats", "--vocab", "-3", "--dim", "8"], "vocab size"),
        (["stats", "--vocab", "ten"], "--vocab"),
        (["lookup", "1", "--preset", "nope"], "unknown preset"),
        (["lookup", "1", "--pad", "5000"], "pad id 5000"),
        (["lookup", "1", "--vocab", str(10**15)], "memory"),
    ],
)
def test_bad_input_exit_2_one_line(emb, args, needle):
    r = emb(*args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--vocab", "5"], "--vocab describe"),
        (["--dim", "5", "--no-tie"], "--dim, --tie/--no-tie describe"),
        (["--init", "uniform"], "--init describe"),
    ],
)
def test_build_flags_beside_from_are_refused_by_their_names(emb, arange_file, flags, named):
    """The refusal names the flags as typed (not the field names, `--vocab-size`)."""
    r = emb("stats", "--from", arange_file, *flags)
    assert r.exit_code == 2 and r.stdout == ""
    assert f"{named} a table to build; a file from --from has its own" in r.stderr


def test_every_command_has_help(emb):
    import typer

    names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"lookup", "stats", "init-stats", "padding", "tie", "info", "presets"} <= set(names)
    for name in names:
        r = emb(name, "--help", ok=True)
        assert "Example:" in r.stdout, name


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["stats", "--vocab", "100352", "--dim", "4096"],
        ["stats", "--preset", "kimi-k2", "--json"],
        ["lookup", "1", "3", "7", "--from", "FILE"],
        ["info", "FILE"],
    ],
)
def test_light_paths_never_import_torch(argv, arange_file: Path):
    argv = [str(arange_file) if a == "FILE" else a for a in argv]
    assert heavy_imports_after(argv) == []


def test_python_dash_m_works(arange_file):
    r = subprocess.run(
        [sys.executable, "-m", "emb_cli", "lookup", "1", "--from", str(arange_file), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["vectors"] == [[4.0, 5.0, 6.0, 7.0]]


def test_internal_errors_are_one_line_without_debug(arange_file, tmp_path):
    """EMB_DEBUG=1 shows the traceback; without it a user error is one line."""
    env_cmd = [sys.executable, "-m", "emb_cli", "lookup", "99", "--from", str(arange_file)]
    r = subprocess.run(env_cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    import os

    r = subprocess.run(
        env_cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "EMB_DEBUG": "1"}
    )
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_torch_is_imported_without_collection_and_frozen() -> None:
    """`emb` (the console script's main) pauses the cyclic collector while a command first
    imports torch and freezes what that import made; the collector is on again after."""
    code = (
        "import gc, sys\n"
        "sys.argv = ['emb', 'lookup', '5', '--preset', 'gpt2', '--json']\n"
        "from emb_cli.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "import torch, json\n"
        "print(json.dumps([gc.get_freeze_count(), gc.isenabled(), torch.__name__]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    frozen, enabled, name = json.loads(r.stdout.strip().splitlines()[-1])
    assert frozen > 100_000 and enabled is True and name == "torch"
