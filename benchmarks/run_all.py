"""Every full-table command on every benchmark table, in one markdown table.

For each input (the 1.6 GB float32 safetensors table, a Llama-3-shaped GGUF in F16 and in
Q4_K, a 4-bit MLX table, a built preset) and each command in COMMANDS, in fresh processes:
the best wall time of --repeat runs after one warm-up (page cache filled), the spread of
those runs, the peak RSS, and the ratio to the command's floor measured in the same run:

    read     the naive full read of that table: numpy's float64 sum of its values, decoded
             the way its own library does (safetensors: np.memmap; GGUF:
             np.memmap at the table + gguf.quants.dequantize; MLX: mx.load + mx.dequantize)
    2 reads  diff reads two tables: twice that
    start    a fresh `python -c "import numpy"` (commands that read a few rows or headers)
    torch    `python -c "import torch"` (a built table: torch draws its rows)

and, for the full-table commands, the ratio to `init-stats` on the same table. Then the
scaling table: the full-table commands at 25,088 x 4,096, 100,352 x 4,096 and 25,088 x
8,192, how time and peak RSS grow with rows and width, and the most rows each command's
measured memory allows in 24 GB. The issue's targets are checked at the end.

Adding a command is one line in COMMANDS; `check` and `report` run only where
`emb <command> --help` works.

Run: EMB_BENCH_DATA=/work/bench-data python benchmarks/run_all.py [--repeat 3]
     [--inputs safetensors gguf-f16 ...] [--no-scaling]
Tables: python benchmarks/make_tables.py; python benchmarks/make_gguf.py --out
bench-data/llama3-8b-shaped.gguf; the same with --type q4_k --out
bench-data/llama3-8b-shaped-q4_k.gguf.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace

from _harness import DATA, Result, emb, measure

GiB = 2**30
REPORT_PAGE = os.path.join(tempfile.gettempdir(), "emb-run-all-report.html")
MEMORY = 24 * GiB  # "the largest table each handles in 24 GB"


@dataclass(frozen=True)
class Input:
    key: str
    label: str
    src: list[str]  # how a command names the table
    diff: list[str]  # `diff`'s two tables (A B and their tensor options)
    floor: str  # python script printing the float64 sum of the table's values
    rows: int
    dim: int
    files: tuple[str, ...]  # under DATA, all needed
    full: bool = True  # has a file to read (a built table has none)
    floor_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cmd:
    name: str
    argv: Callable[[Input], list[str]]
    floor: str = "read"  # read | 2 reads | start
    needs: str | None = None  # a command that may not exist on this branch
    once: bool = False  # slow: one timed run, in the last round, no warm-up of its own
    only: tuple[str, ...] | None = None  # the inputs it runs on (None: every one)
    slow: bool = False  # minutes on a busy machine: only with --slow


# One line per command. The full-table ones (floor read / 2 reads) are also scaled.
COMMANDS = [
    Cmd("init-stats", lambda t: ["init-stats", *t.src, "--json"]),
    Cmd("padding --pad 0", lambda t: ["padding", *t.src, "--pad", "0", "--json"]),
    Cmd("tie", lambda t: ["tie", *t.src, "--json"]),
    Cmd("undertrained", lambda t: ["undertrained", *t.src, "--json"]),
    Cmd("neighbors 5 -k 10", lambda t: ["neighbors", "5", "-k", "10", *t.src, "--json"]),
    Cmd(
        "neighbors 5 + 7 - 9",
        lambda t: (
            ["neighbors", "--positive-id", "5", "--positive-id", "7"]
            + ["--negative-id", "9", *t.src, "--json"]
        ),
    ),
    Cmd("diff A B", lambda t: ["diff", *t.diff, "--json"], floor="2 reads"),
    # a (dim x dim) float64 covariance of every row: 1.7e12 multiply-adds at 100k x 4096
    Cmd(
        "resize +64 (plan)",
        lambda t: ["resize", str(t.rows + 64), *t.src, "--json"],
        once=True,
        only=("safetensors", "rows25k", "wide25k"),
        slow=True,
    ),
    Cmd("check", lambda t: ["check", *t.src, "--json"], needs="check"),
    Cmd("report", lambda t: ["report", *t.src, "-o", REPORT_PAGE, "--force"], needs="report"),
    Cmd("stats", lambda t: ["stats", *t.src, "--json"], floor="start"),
    Cmd("info", lambda t: ["info", *t.src[1:], "--json"], floor="start"),
    Cmd("lookup 5", lambda t: ["lookup", "5", *t.src, "--json"], floor="start"),
]

ST_FLOOR = """
import json, struct, sys
import numpy as np
p = sys.argv[1]
with open(p, 'rb') as fh:
    n = struct.unpack('<Q', fh.read(8))[0]
    a, b = json.loads(fh.read(n))['model.embed_tokens.weight']['data_offsets']
m = np.memmap(p, dtype=np.float32, mode='r', offset=8 + n + a, shape=((b - a) // 4,))
print(m.sum(dtype=np.float64))
"""
# make_gguf.py's layout: token_embd, output_norm (4096 float32), output, ending the file;
# gguf's GGUFReader would spend 15-40 s parsing the 280,000 merges before any value.
GGUF_FLOOR = """
import os, sys
import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize
p, kind = sys.argv[1], sys.argv[2]
row = 4096 * 2 if kind == 'f16' else 4096 // 256 * 144
table = 128256 * row
data = np.memmap(p, dtype=np.uint8, mode='r', offset=os.path.getsize(p) - 2 * table - 16384,
                 shape=(128256, row))
total = 0.0
for i in range(0, 128256, 4096):
    if kind == 'f16':
        total += data[i : i + 4096].view(np.float16).astype(np.float32).sum(dtype=np.float64)
    else:
        total += dequantize(data[i : i + 4096], GGMLQuantizationType.Q4_K).sum(dtype=np.float64)
print(total)
"""
MLX_FLOOR = """
import sys
import mlx.core as mx
import numpy as np
w = mx.load(sys.argv[1] + '/model.safetensors')
p = 'model.embed_tokens.'
x = mx.dequantize(w[p + 'weight'], w[p + 'scales'], w[p + 'biases'], group_size=64, bits=4)
print(np.array(x).sum(dtype=np.float64))
"""


def _st(key: str, label: str, name: str, b: str, rows: int, dim: int) -> Input:
    p, q = str(DATA / name), str(DATA / b)
    return Input(key, label, ["--from", p], [p, q], ST_FLOOR, rows, dim, (name, b))


def _gguf(key: str, label: str, name: str, kind: str) -> Input:
    p = str(DATA / name)
    pair = [p, p, "--tensor-a", "token_embd.weight", "--tensor-b", "output.weight"]
    return Input(key, label, ["--from", p], pair, GGUF_FLOOR, 128256, 4096, (name,), True, (kind,))


INPUTS = {
    "safetensors": _st(
        "safetensors",
        "safetensors fp32 100,352 x 4,096 (1.6 GB)",
        "big.safetensors",
        "big-planted.safetensors",
        100352,
        4096,
    ),
    "gguf-f16": _gguf(
        "gguf-f16", "GGUF F16 128,256 x 4,096 (1.0 GB)", "llama3-8b-shaped.gguf", "f16"
    ),
    "gguf-q4_k": _gguf(
        "gguf-q4_k", "GGUF Q4_K 128,256 x 4,096 (0.3 GB)", "llama3-8b-shaped-q4_k.gguf", "q4_k"
    ),
    "mlx-4bit": Input(
        "mlx-4bit",
        "MLX 4-bit 100,352 x 4,096 (0.26 GB)",
        ["--from", str(DATA / "mlx-4bit")],
        [str(DATA / "mlx-4bit"), str(DATA / "big.safetensors")],
        MLX_FLOOR,
        100352,
        4096,
        ("mlx-4bit", "big.safetensors"),
    ),
}
BUILT = Input("built", "built: --preset deepseek-v3 (bf16)", ["--preset", "deepseek-v3"], [],
              "", 129280, 7168, (), full=False)  # fmt: skip
SCALES = {
    "rows25k": _st(
        "rows25k",
        "fp32 25,088 x 4,096",
        "rows25k.safetensors",
        "rows25k-b.safetensors",
        25088,
        4096,
    ),
    "big": INPUTS["safetensors"],
    "wide25k": _st(
        "wide25k",
        "fp32 25,088 x 8,192",
        "wide25k.safetensors",
        "wide25k-b.safetensors",
        25088,
        8192,
    ),
}


def available(cmd: Cmd) -> bool:
    if cmd.needs is None:
        return True
    r = subprocess.run(emb() + [cmd.needs, "--help"], capture_output=True)
    return r.returncode == 0


def floor_argv(t: Input, kind: str) -> list[str]:
    if kind == "start":
        return [sys.executable, "-c", "import numpy"]
    if kind == "torch":
        return [sys.executable, "-c", "import torch"]
    return [sys.executable, "-c", t.floor, t.src[1], *t.floor_args]


def interleaved(
    jobs: dict[str, list[str]], repeat: int, once: frozenset[str] = frozenset()
) -> dict[str, Result]:
    """Each job once per round, round after round (one untimed warm-up round first): load
    from other jobs on the machine then falls on every command alike, and the ratios of
    commands measured in the same round stay meaningful when the absolute times do not."""
    out = {k: Result(k, argv) for k, argv in jobs.items()}
    for i in range(1 + repeat):
        for k, argv in jobs.items():
            if k in once and i < repeat:
                continue
            got = measure(k, argv, repeat=1, warmup=0)
            r = out[k]
            r.rc = max(r.rc, got.rc)
            if i:  # the first round fills the page cache
                r.times += got.times
                r.rss_mb = max(r.rss_mb, got.rss_mb)
    return out


@dataclass
class Row:
    cmd: str
    t: Input
    res: Result
    floor_kind: str
    floor: Result
    vs_stats: float | None = None


def spread(r: Result) -> str:
    return f"{min(r.times):.2f}-{max(r.times):.2f}"


def run_inputs(keys: list[str], cmds: list[Cmd], repeat: int) -> list[Row]:
    rows: list[Row] = []
    for key in keys:
        t = BUILT if key == "built" else INPUTS[key]
        if any(not (DATA / f).exists() for f in t.files):
            print(f"skipped {t.label}: missing {', '.join(t.files)} in {DATA}", file=sys.stderr)
            continue
        todo = [c for c in cmds if t.full or c.name.startswith("lookup")]
        todo = [c for c in todo if c.only is None or t.key in c.only]
        kinds = (
            {"torch"} if not t.full else {"read" if c.floor == "2 reads" else c.floor for c in todo}
        )
        jobs = {f"floor:{k}": floor_argv(t, k) for k in sorted(kinds)}
        jobs.update({c.name: emb() + c.argv(t) for c in todo})
        got = interleaved(jobs, repeat, frozenset(c.name for c in todo if c.once))
        stats = got.get("init-stats")
        for c in todo:
            res = got[c.name]
            kind = "torch" if not t.full else c.floor
            floor = got["floor:read"] if kind == "2 reads" else got[f"floor:{kind}"]
            if kind == "2 reads":
                floor = Result(kind, floor.argv, [2 * x for x in floor.times], floor.rss_mb)
            row = Row(c.name, t, res, kind, floor)
            if stats is not None and c.floor != "start" and c.name != "init-stats":
                row.vs_stats = res.best / stats.best
            rows.append(row)
            runs = " ".join(f"{x:.2f}" for x in res.times)
            print(
                f"  {c.name:<22} {t.key:<12} {runs} s, {res.rss_mb:.0f} MB; "
                f"floor {floor.best:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def markdown(rows: list[Row]) -> None:
    print("| command | input | best s | runs s | peak RSS MB | floor | floor s | x floor "
          "| x init-stats |")  # fmt: skip
    print("|---|---|--:|--:|--:|---|--:|--:|--:|")
    for r in rows:
        bad = "" if r.res.rc == 0 else f" (exit {r.res.rc})"
        vs = f"{r.vs_stats:.2f}" if r.vs_stats is not None else ""
        print(
            f"| `{r.cmd}`{bad} | {r.t.label} | {r.res.best:.2f} | {spread(r.res)} "
            f"| {r.res.rss_mb:.0f} | {r.floor_kind} | {r.floor.best:.2f} "
            f"| {r.res.best / r.floor.best:.2f} | {vs} |"
        )
    print()


def scaling(rows: list[Row]) -> None:
    """Time and RSS at 25k and 100k rows (width 4096) and at 25k rows x 8192."""
    by = {(r.cmd, r.t.key): r.res for r in rows}
    names = list(dict.fromkeys(r.cmd for r in rows))
    print("| command | 25k x 4096 s / MB | 100k x 4096 s / MB | 25k x 8192 s / MB "
          "| time x4 rows | time x2 width | MB per 1k rows | MB per 1k columns "
          "| rows in 24 GB at 4,096 |")  # fmt: skip
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for n in names:
        a, b, w = by.get((n, "rows25k")), by.get((n, "big")), by.get((n, "wide25k"))
        if a is None or b is None or w is None:
            continue
        per_row = (b.rss_mb - a.rss_mb) / (100352 - 25088)  # MB per row
        per_col = (w.rss_mb - a.rss_mb) / 4096  # MB per column, at 25k rows
        if per_row > 1e-6:
            most = f"{25088 + (MEMORY / 2**20 - a.rss_mb) / per_row:,.0f}"
        else:
            most = "not memory-bound"
        print(
            f"| `{n}` | {a.best:.2f} / {a.rss_mb:.0f} | {b.best:.2f} / {b.rss_mb:.0f} "
            f"| {w.best:.2f} / {w.rss_mb:.0f} | {b.best / a.best:.2f} | {w.best / a.best:.2f} "
            f"| {per_row * 1000:.1f} | {per_col * 1000:.1f} | {most} |"
        )
    print()


def targets(rows: list[Row]) -> list[tuple[str, bool]]:
    by = {(r.cmd, r.t.key): r for r in rows}
    out: list[tuple[str, bool]] = []

    def ok(r: Row) -> bool:
        return r.res.rc == 0

    stats = by.get(("init-stats", "safetensors"))
    if stats is not None:
        f = stats.res.best / stats.floor.best
        out.append(
            (f"init-stats {f:.2f}x the float64 sum of the table (<= 3x)", ok(stats) and f <= 3)
        )
        for cmd, limit in (
            ("diff A B", 2.5),
            ("neighbors 5 -k 10", 1.5),
            ("neighbors 5 + 7 - 9", 1.5),
        ):
            r = by.get((cmd, "safetensors"))
            if r is not None and r.vs_stats is not None:
                out.append(
                    (
                        f"{cmd} {r.vs_stats:.2f}x init-stats (<= {limit}x)",
                        ok(r) and r.vs_stats <= limit,
                    )
                )
    built = by.get(("lookup 5", "built"))
    if built is not None:
        f = built.res.best / built.floor.best
        out.append(
            (
                f"lookup --preset deepseek-v3 {f:.2f}x `import torch` (<= 1.1x)",
                ok(built) and f <= 1.1,
            )
        )
    return out  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inputs", nargs="+", default=[*INPUTS, "built"], choices=[*INPUTS, "built"])
    ap.add_argument("--commands", nargs="+", help="only these (names as in COMMANDS)")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--slow", action="store_true", help="also the slow commands (resize's plan)")
    args = ap.parse_args()
    cmds = [c for c in COMMANDS if available(c) and (args.slow or not c.slow)]
    if args.commands:
        cmds = [c for c in cmds if c.name in args.commands]
    load = os.getloadavg()
    print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", file=sys.stderr)
    rows = run_inputs(args.inputs, cmds, args.repeat)
    if not args.no_scaling:
        full = [c for c in cmds if c.floor != "start"]
        INPUTS.update({k: v for k, v in SCALES.items() if k != "big"})
        keys = [k for k in SCALES if k != "big"]
        scaled = run_inputs(keys, full, args.repeat)
        as_big = replace(INPUTS["safetensors"], key="big")
        big = [replace(r, t=as_big) for r in rows if r.t.key == "safetensors"]
    after = os.getloadavg()
    print(f"load average: {load[0]:.1f} before, {after[0]:.1f} after (2 cores, shared)\n")
    markdown(rows)
    if not args.no_scaling:
        scaling(scaled + big)
    fails = 0
    for what, good in targets(rows):
        print(f"{'PASS' if good else 'FAIL'}  {what}")
        fails += not good
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
