"""Lookup of 3 rows from a 1.6 GB fp32 table, against loading it with safetensors.torch.

Targets: >= 10x faster than the naive script (python + torch start-up included, as a
user runs it), and within 1.5x of the same lookup on a 16 MiB table (reads only the rows).

Run: python benchmarks/bench_lookup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys

from _harness import EMBED, emb, measure, need, table, verdicts

IDS = ["73", "786", "2934"]
NAIVE = (
    "import sys, torch\n"
    "from safetensors.torch import load_file\n"
    "w = load_file(sys.argv[1])[{name!r}]\n"
    "print(w[torch.tensor([{ids}])])\n"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    n = ap.parse_args().repeat
    big, small = need("big.safetensors", "small.safetensors")
    script = NAIVE.format(name=EMBED, ids=", ".join(IDS))
    naive = measure("naive: load_file(big)[name][ids]", [sys.executable, "-c", script, str(big)], n)
    e_big = measure(
        "emb lookup 73 786 2934 --from big", emb() + ["lookup", *IDS, "--from", str(big)], n
    )
    e_small = measure(
        "emb lookup 73 786 2934 --from small", emb() + ["lookup", *IDS, "--from", str(small)], n
    )
    table([naive, e_big, e_small], naive)
    speedup = naive.best / e_big.best
    vs_small = e_big.best / e_small.best
    return verdicts(
        [
            (
                f"emb lookup on 1.6 GB is {speedup:.1f}x faster than naive (>= 10x)",
                e_big.rc == 0 and speedup >= 10,
            ),
            (
                f"1.6 GB vs 16 MiB table: {vs_small:.2f}x (<= 1.5x)",
                e_big.rc == 0 and e_small.rc == 0 and vs_small <= 1.5,
            ),
            ("all commands exit 0", all(r.rc == 0 for r in (naive, e_big, e_small))),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
