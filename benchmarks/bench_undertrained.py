"""emb undertrained on the 1.6 GB fp32 tables: time against init-stats, peak RSS.

Targets: `emb undertrained --json` within 4x `emb init-stats --json` on the same table,
measured in the same run, on the random table (no dominant direction: nothing removed) and on
the planted one (a dominant first principal component: found and removed); peak RSS < 400 MB.
The planted run's report must say the component was removed, with a small angle bound.

Run: python benchmarks/bench_undertrained.py [--repeat 3]
Needs bench-data/big.safetensors and big-planted.safetensors
(python benchmarks/make_tables.py --only big.safetensors big-planted.safetensors).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _harness import emb, measure, need, table, verdicts

RATIO_LIMIT = 4.0
RSS_LIMIT_MB = 400


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    n = ap.parse_args().repeat
    checks = []
    for name in ("big.safetensors", "big-planted.safetensors"):
        (path,) = need(name)
        stats = measure(
            f"emb init-stats --from {name} --json",
            emb() + ["init-stats", "--from", str(path), "--json"],
            n,
        )
        argv = emb() + ["undertrained", "--from", str(path), "--json"]
        ut = measure(f"emb undertrained --from {name} --json", argv, n)
        table([stats, ut], None)
        report = json.loads(subprocess.run(argv, capture_output=True, check=True).stdout)
        pc = {k: v for k, v in report.items() if k.startswith("pc_")}
        print(f"  {name}: {pc}\n")
        ratio = ut.best / stats.best
        ran = ut.rc == 0 and stats.rc == 0
        checks.append(
            (
                f"{name}: undertrained {ratio:.2f}x init-stats (<= {RATIO_LIMIT:g}x)",
                ran and ratio <= RATIO_LIMIT,
            )
        )
        checks.append(
            (
                f"{name}: undertrained peak RSS {ut.rss_mb:.0f} MB (< {RSS_LIMIT_MB})",
                ran and ut.rss_mb < RSS_LIMIT_MB,
            )
        )
        planted = name == "big-planted.safetensors"
        if planted:
            ok = pc["pc_removed"] and pc["pc_angle_bound"] < 1e-3
            checks.append((f"{name}: dominant component found and removed", ok))
        else:
            checks.append((f"{name}: no dominant direction, nothing removed", not pc["pc_removed"]))
    return verdicts(checks)


if __name__ == "__main__":
    sys.exit(main())
