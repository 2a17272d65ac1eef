"""Start-up: the light commands never import torch and answer well under 0.5 s.

Run: python benchmarks/bench_startup.py [--repeat 5] [--against OTHER_CHECKOUT]
Needs bench-data/small.safetensors (python benchmarks/make_tables.py).

--against runs every command a second time with another checkout's emb_cli first on
PYTHONPATH (say `git worktree add /tmp/before HEAD~5`): before/after in one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from _harness import emb, measure, need, table, verdicts

LIMIT_S = 0.5
PROBE = (
    "import sys\n"
    "from emb_cli.cli import app\n"
    "try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
    "print('torch' in sys.modules)\n"
)


def imports_torch(argv: list[str]) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1] == "True"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--against", help="another checkout of emb, timed in the same run")
    args = ap.parse_args()
    n = args.repeat
    (small,) = need("small.safetensors")
    ids = ["73", "786", "2934"]
    commands = {
        "emb --help": ["--help"],
        "emb stats --vocab 100352 --dim 4096": ["stats", "--vocab", "100352", "--dim", "4096"],
        "emb lookup 73 786 2934 --from small": ["lookup", *ids, "--from", str(small)],
    }
    naive = measure('python -c "import torch"', [sys.executable, "-c", "import torch"], n)
    results = [measure(label, emb() + argv, n) for label, argv in commands.items()]
    others = []
    if args.against:
        other = [sys.executable, "-c", "import sys; from emb_cli.cli import main; main()"]
        env = {**os.environ, "PYTHONPATH": os.path.abspath(args.against)}
        others = [
            measure(f"{label}  [{args.against}]", other + argv, n, env=env)
            for label, argv in commands.items()
        ]
        here = {**os.environ, "PYTHONPATH": os.path.abspath(os.path.dirname(__file__) + "/..")}
        others += [
            measure(f"{label}  [this checkout, same launcher]", other + argv, n, env=here)
            for label, argv in commands.items()
        ]
    table([naive, *results, *others], naive)
    checks = []
    for (label, argv), r in zip(commands.items(), results, strict=True):
        checks.append((f"{label}: {r.best:.3f} s < {LIMIT_S} s", r.best < LIMIT_S and r.rc == 0))
        checks.append((f"{label}: torch not imported", r.rc == 0 and not imports_torch(argv)))
    return verdicts(checks)


if __name__ == "__main__":
    sys.exit(main())
