"""Built preset tables are streamed: a lookup builds a prefix, a full pass never holds it.

Targets: `emb lookup 5 --preset deepseek-v3` (129280 x 7168 bf16, 1.85 GB built whole)
within 1.1x `python -c "import torch"` and under 1 GB peak RSS; `emb init-stats --preset
deepseek-v3 --json` under 1 GB peak RSS (its time is the RNG's: 926 million normals).

Run: python benchmarks/bench_built.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys

from _harness import emb, measure, table, verdicts

RATIO_LIMIT = 1.1
RSS_LIMIT_MB = 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    n = ap.parse_args().repeat
    torch_ = measure('python -c "import torch"', [sys.executable, "-c", "import torch"], n)
    lookup = measure(
        "emb lookup 5 --preset deepseek-v3", emb() + ["lookup", "5", "--preset", "deepseek-v3"], n
    )
    stats = measure(
        "emb init-stats --preset deepseek-v3 --json",
        emb() + ["init-stats", "--preset", "deepseek-v3", "--json"],
        1,
        warmup=0,
    )
    table([torch_, lookup, stats], None)
    ratio = lookup.best / torch_.best
    return verdicts(
        [
            (
                f"lookup {ratio:.2f}x `import torch` (<= {RATIO_LIMIT}x)",
                lookup.rc == 0 and ratio <= RATIO_LIMIT,
            ),
            (
                f"lookup peak RSS {lookup.rss_mb:.0f} MB (< {RSS_LIMIT_MB})",
                lookup.rc == 0 and lookup.rss_mb < RSS_LIMIT_MB,
            ),
            (
                f"init-stats peak RSS {stats.rss_mb:.0f} MB (< {RSS_LIMIT_MB}), {stats.best:.1f} s",
                stats.rc == 0 and stats.rss_mb < RSS_LIMIT_MB,
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
