"""emb undertrained on a Llama-3-size GGUF with Llama 3's real tokenizer: time and peak RSS.

Targets (issue 20): peak RSS under 250 MB and time at most 4x `emb init-stats --json` on the
same file, measured in the same run. The file is llama.cpp's Llama 3 vocabulary
(tests/data/gguf-vocab/ggml-vocab-llama-bpe.gguf: 128,256 tokens, 280,147 merges, their token
types) with a 128,256 x 4,096 F16 token_embd.weight of N(0, 0.02) rows (1 GiB), written once
to --out and kept.

Run: python benchmarks/bench_undertrained_gguf.py [--repeat 1] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from _harness import DATA, emb, measure, table

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ROOT / "tests" / "data" / "gguf-vocab" / "ggml-vocab-llama-bpe.gguf"
ROWS, DIM = 128256, 4096
RATIO_LIMIT = 4.0
RSS_LIMIT_MB = 250


def make(out: Path) -> None:
    import numpy as np
    from gguf import GGUFReader, GGUFWriter

    reader = GGUFReader(str(VOCAB))
    writer = GGUFWriter(str(out), "llama")
    writer.add_uint32("llama.embedding_length", DIM)
    for key, field in reader.fields.items():
        if key.startswith("tokenizer."):
            value = field.contents()
            if isinstance(value, list):
                writer.add_array(key, value)
            elif isinstance(value, str):
                writer.add_string(key, value)
            elif isinstance(value, bool):
                writer.add_bool(key, value)
            else:
                writer.add_uint32(key, value)
    rng = np.random.default_rng(0)
    table_ = np.empty((ROWS, DIM), dtype=np.float16)
    for at in range(0, ROWS, 8192):  # 128 MiB of float32 at a time
        block = rng.standard_normal((min(8192, ROWS - at), DIM), dtype=np.float32)
        table_[at : at + len(block)] = block * 0.02
    writer.add_tensor("token_embd.weight", table_)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=DATA / "llama3-vocab-table.gguf")
    args = ap.parse_args()
    if not args.out.exists():
        make(args.out)
    env = {**os.environ, "XDG_CACHE_HOME": str(args.out.parent / ".emb-bench-cache")}
    src = ["--from", str(args.out)]
    base = measure("init-stats --json", [*emb(), "init-stats", *src, "--json"], args.repeat,
                   env=env)  # fmt: skip
    got = measure("undertrained --json", [*emb(), "undertrained", *src, "--json"], args.repeat,
                  env=env)  # fmt: skip
    table([base, got], base)
    ratio = min(got.times) / min(base.times)
    print(f"undertrained / init-stats: {ratio:.1f}x (target {RATIO_LIMIT:.0f}x); peak RSS "
          f"{got.rss_mb:.0f} MB (target {RSS_LIMIT_MB} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
