"""`emb tokenize` of 1 KB on a Llama-3 GGUF, first and second run, against `emb stats`.

The issue's targets: a second run (the tokenizer loaded from emb's cache) at most 2x
`emb stats --vocab 10 --dim 10` (the start-up floor), the first at most 4x. Every figure is
the best of --repeat runs of a fresh process, measured in the same run.

Run: python benchmarks/bench_gguf_tokenize_cli.py [--repeat 3] [--gguf PATH]
(default: tests/data/gguf-vocab/ggml-vocab-llama-bpe.gguf, llama.cpp's Llama 3 vocab file,
128,256 tokens and 280,147 merges).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ROOT / "tests" / "data" / "gguf-vocab" / "ggml-vocab-llama-bpe.gguf"


def timed(argv: list[str], env: dict[str, str], before: object = None) -> float:
    if callable(before):
        before()
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gguf", type=Path, default=VOCAB)
    args = ap.parse_args()
    cache = Path(tempfile.mkdtemp())
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    text = cache / "1k.txt"
    text.write_text(("The quick brown fox jumps over the lazy dog. " * 23)[:1024], "utf-8")
    emb = [sys.executable, "-m", "emb_cli"]
    tok = [*emb, "tokenize", "--from", str(args.gguf), "--file", str(text), "--json"]

    def clear() -> None:
        shutil.rmtree(cache / "emb", ignore_errors=True)

    floor = min(
        timed([*emb, "stats", "--vocab", "10", "--dim", "10"], env) for _ in range(args.repeat)
    )
    first = min(timed(tok, env, clear) for _ in range(args.repeat))
    timed(tok, env)  # fill the cache
    second = min(timed(tok, env) for _ in range(args.repeat))
    shutil.rmtree(cache, ignore_errors=True)
    print(f"emb stats --vocab 10 --dim 10      {floor:6.2f} s  1.0x")
    print(f"emb tokenize 1 KB, first (build)   {first:6.2f} s  {first / floor:4.1f}x  (target 4x)")
    print(
        f"emb tokenize 1 KB, second (cache)  {second:6.2f} s  {second / floor:4.1f}x  (target 2x)"
    )


if __name__ == "__main__":
    main()
