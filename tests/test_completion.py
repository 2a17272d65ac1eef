"""`--preset <TAB>` completes the shipped preset names, not file names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from emb_cli.options import complete_preset

ROOT = Path(__file__).resolve().parent.parent


def test_complete_preset_names() -> None:
    assert complete_preset("ll") == ["llama-2-7b", "llama-3-8b"]
    assert "bert-base-uncased" in complete_preset("")
    assert complete_preset("nothing-like-this") == []


def test_bash_completion_offers_presets() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "_EMB_COMPLETE": "complete_bash",
        "COMP_WORDS": "emb init-stats --preset ll",
        "COMP_CWORD": "3",
    }
    code = "from emb_cli.cli import app; app(prog_name='emb')"
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert r.stdout.split() == ["llama-2-7b", "llama-3-8b"], (r.stdout, r.stderr)
