"""emb report on the 1.6 GB fp32 table: time against emb check, the page's size, and the
time Chromium takes to show it.

Targets: `emb report` within 1.5x `emb check --json` on the same table, measured in the same
run (interleaved, best of N each); the page at most 20 MB; opened in headless Chromium
(Debian's /usr/bin/chromium through playwright), the map drawn in under 2 s (navigation
start to the canvas drawn, best of N page loads).

Run: python benchmarks/bench_report.py [--repeat 3] [--table big.safetensors]
Needs bench-data/big.safetensors (python benchmarks/make_tables.py --only big.safetensors).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _harness import emb, measure, need, table, verdicts

RATIO_LIMIT = 1.5
SIZE_LIMIT = 20_000_000
SHOW_LIMIT_S = 2.0
CHROMIUM = "/usr/bin/chromium"


def show_times(page: Path, n: int) -> list[float]:
    """Seconds from navigation to body[data-ready] (report.js sets it once the map is drawn)."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for _ in range(n + 1):  # the first load warms the browser's caches: not counted
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            start = time.perf_counter()
            tab.goto(page.resolve().as_uri())
            tab.wait_for_selector("body[data-ready='1']", timeout=60_000)
            out.append(time.perf_counter() - start)
            tab.close()
        browser.close()
    return out[1:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--table", default="big.safetensors")
    args = ap.parse_args()
    n = args.repeat
    (path,) = need(args.table)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        check_argv = emb() + ["check", str(path), "--json"]
        report_argv = emb() + ["report", str(path), "-o", str(page), "--force"]
        # interleaved, one run of each at a time: both meet the same load on a shared machine
        check = measure(f"emb check {args.table} --json", check_argv, 1)
        report = measure(f"emb report {args.table} -o report.html", report_argv, 1)
        for _ in range(n - 1):
            check.times += measure("", check_argv, 1, warmup=0).times
            report.times += measure("", report_argv, 1, warmup=0).times
        table([check, report], None)
        size = page.stat().st_size
        shown = show_times(page, n)
    ratio = report.best / check.best
    best_show = min(shown)
    print(f"  page: {size:,} bytes; shown in Chromium in {' '.join(f'{s:.2f}' for s in shown)} s")
    return verdicts(
        [
            (
                f"report {ratio:.2f}x check (<= {RATIO_LIMIT:g}x)",
                report.rc == 0 and ratio <= RATIO_LIMIT,
            ),
            (f"page {size / 1e6:.1f} MB (<= {SIZE_LIMIT / 1e6:g} MB)", size <= SIZE_LIMIT),
            (f"map drawn in {best_show:.2f} s (< {SHOW_LIMIT_S:g} s)", best_show < SHOW_LIMIT_S),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
