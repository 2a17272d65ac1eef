"""Shared by the bench_*.py scripts: time commands in fresh subprocesses, report a table.

Each run goes through a small wrapper process that starts the command, waits for it and
reads getrusage(RUSAGE_CHILDREN): its only child is the command, so ru_maxrss is that
command's own peak RSS. Times are wall-clock of the command alone (start-up included,
as a user waits for it), best of N after one untimed warm-up run that fills the page cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("EMB_BENCH_DATA", ROOT / "bench-data"))
EMBED = "model.embed_tokens.weight"

_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
dt = time.perf_counter() - t
kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
print(json.dumps({"rc": rc, "s": dt, "rss_mb": kb / 1024}))
"""


@dataclass
class Result:
    label: str
    argv: list[str]
    times: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    rc: int = 0

    @property
    def best(self) -> float:
        return min(self.times)


def emb() -> list[str]:
    exe = shutil.which("emb", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "emb_cli"]


def need(*names: str) -> list[Path]:
    paths = [DATA / n for n in names]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run `python benchmarks/make_tables.py` first")
    return paths


def measure(
    label: str,
    argv: list[str],
    repeat: int = 3,
    warmup: int = 1,
    env: dict[str, str] | None = None,
) -> Result:
    res = Result(label, argv)
    for i in range(warmup + repeat):
        out = subprocess.run(
            [sys.executable, "-c", _WRAPPER, *argv],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        got = json.loads(out.stdout.strip().splitlines()[-1])
        res.rc = max(res.rc, got["rc"])
        if i >= warmup:
            res.times.append(got["s"])
            res.rss_mb = max(res.rss_mb, got["rss_mb"])
    return res


def table(results: list[Result], baseline: Result | None) -> None:
    w = max(len(r.label) for r in results)
    head = f"{'command':<{w}}  {'best s':>7}  {'runs s':<22}  {'peak RSS MB':>11}  {'vs naive':>8}"
    print(head)
    print("-" * len(head))
    for r in results:
        runs = " ".join(f"{t:.2f}" for t in r.times)
        ratio = f"{baseline.best / r.best:.1f}x" if baseline is not None else ""
        if r is baseline:
            ratio = "1.0x"
        bad = "" if r.rc == 0 else f"  (exit {r.rc})"
        print(f"{r.label:<{w}}  {r.best:>7.3f}  {runs:<22}  {r.rss_mb:>11.0f}  {ratio:>8}{bad}")
    print()
    for r in results:
        print(f"  {r.label}:\n      {_shown(r.argv)}")
    print()


def _shown(argv: list[str]) -> str:
    """The command as one line: python -c scripts with their lines joined by '; '."""
    parts = []
    for a in argv:
        a = a.replace(str(ROOT) + os.sep, "")
        if "\n" in a:
            a = repr("; ".join(x.strip() for x in a.strip().splitlines() if x.strip()))
        parts.append(a)
    return " ".join(parts)


def verdicts(checks: list[tuple[str, bool]]) -> int:
    for what, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    print(
        "\n(timings on a shared machine are noisy: each figure is the best of the runs shown, "
        "each run a fresh process)"
    )
    return 0 if all(ok for _, ok in checks) else 1
