"""Assertions shared by the test files: the scripting contract and the no-torch promise."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import Any


def assert_refused(result: Any, *needles: str) -> None:
    """Bad input: exit 2, nothing on stdout, one `Error: ...` line naming the problem."""
    out = result.stdout + result.stderr
    detail = (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in out, detail
    assert result.exit_code == 2, detail
    assert result.stdout == "", detail
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), detail
    assert "internal error" not in lines[0], detail
    for needle in needles:
        assert needle in lines[0], (needle, detail)


def heavy_imports_after(argv: list[str]) -> list[str]:
    """Run `emb ARGV` in a fresh interpreter; which of torch/transformers did it import?"""
    code = (
        "import sys\n"
        "from emb_cli.cli import app\n"
        f"try:\n    app({argv!r})\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print([m for m in ('torch', 'transformers') if m in sys.modules])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    heavy: list[str] = ast.literal_eval(r.stdout.strip().splitlines()[-1])
    return heavy
