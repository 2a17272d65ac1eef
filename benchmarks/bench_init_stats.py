"""Full-table passes over a 1.6 GB fp32 table: time against PyTorch and numpy, peak RSS.

Targets: `emb init-stats --json` >= 4x faster than the naive torch script and within 3x
of reading the bytes once with numpy (np.memmap + .sum()); peak RSS < 400 MB for
init-stats, padding and tie (the tie file has an untied 1.6 GB lm_head.weight).

Run: python benchmarks/bench_init_stats.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys

from _harness import EMBED, emb, measure, need, table, verdicts

RSS_LIMIT_MB = 400
NAIVE = (
    "import sys, torch\n"
    "from safetensors.torch import load_file\n"
    "w = load_file(sys.argv[1])[{name!r}].float()\n"
    "print(w.mean(), w.std(), w.norm(dim=1).mean(), torch.isnan(w).sum(), torch.isinf(w).sum())\n"
)
NUMPY = (
    "import json, struct, sys\n"
    "import numpy as np\n"
    "p = sys.argv[1]\n"
    "with open(p, 'rb') as fh:\n"
    "    n = struct.unpack('<Q', fh.read(8))[0]\n"
    "    a, b = json.loads(fh.read(n))[{name!r}]['data_offsets']\n"
    "m = np.memmap(p, dtype=np.float32, mode='r', offset=8 + n + a, shape=((b - a) // 4,))\n"
    "print(m.sum())\n"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    n = ap.parse_args().repeat
    big, untied = need("big.safetensors", "big-untied.safetensors")
    naive = measure(
        "naive torch: load_file + mean/std/norm/isnan/isinf",
        [sys.executable, "-c", NAIVE.format(name=EMBED), str(big)],
        n,
    )
    ref = measure(
        "numpy: memmap + sum (one read)",
        [sys.executable, "-c", NUMPY.format(name=EMBED), str(big)],
        n,
    )
    stats = measure(
        "emb init-stats --from big --json", emb() + ["init-stats", "--from", str(big), "--json"], n
    )
    pad = measure(
        "emb padding --from big --pad 0", emb() + ["padding", "--from", str(big), "--pad", "0"], n
    )
    tie = measure("emb tie --from big-untied", emb() + ["tie", "--from", str(untied)], n)
    table([naive, ref, stats, pad, tie], naive)
    speedup = naive.best / stats.best
    vs_numpy = stats.best / ref.best
    ran = stats.rc == 0  # a command that failed early would look fast
    checks = [
        (f"init-stats {speedup:.1f}x faster than naive torch (>= 4x)", ran and speedup >= 4),
        (f"init-stats {vs_numpy:.2f}x the numpy single read (<= 3x)", ran and vs_numpy <= 3),
    ]
    for r in (stats, pad, tie):
        checks.append(
            (
                f"{r.label}: peak RSS {r.rss_mb:.0f} MB (< {RSS_LIMIT_MB})",
                r.rc == 0 and r.rss_mb < RSS_LIMIT_MB,
            )
        )
    checks.append(
        (
            "every command exits 0 (a random table's pad row is not zero, yet "
            "padding without --strict passes)",
            all(r.rc == 0 for r in (stats, pad, tie)),
        )
    )
    return verdicts(checks)


if __name__ == "__main__":
    sys.exit(main())
