"""emb check against emb undertrained alone on the 1.6 GB fp32 table; --data tokenize speed.

Targets (issue 19): `emb check SOURCE --json` within 1.3x `emb undertrained --from SOURCE
--json` on big.safetensors, measured in the same run, with a peak RSS under 400 MB: every
table check shares undertrained's passes. `--data` tokenizes at least 5 MB/s on a
Llama-3-size vocabulary (128,256 tokens, 280,000 merges: make_gguf.py's file, made sparse
here if bench-data has none): the data check's own loop (read, tokenize, count) timed on
DATA_MB of English-like chat lines, apart from the table passes.

Run: python benchmarks/bench_check.py [--repeat 3]
Needs bench-data/big.safetensors (python benchmarks/make_tables.py --only big.safetensors).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import DATA, ROOT, emb, measure, need, table, verdicts

RATIO_LIMIT = 1.3
RSS_LIMIT_MB = 400
MB_S_LIMIT = 5.0
DATA_MB = 20
WORDS = (
    "the model of a training data set is checked before it is fine tuned on a chat "
    "template with special tokens 2024 results show that embedding rows were never "
    "trained , and ; ( ) : - tokenizer vocabulary llama reserved users ask questions"
).split()


def _gguf() -> Path:
    path = DATA / "llama3-8b-shaped.gguf"
    if path.exists():
        return path
    sparse = Path(tempfile.gettempdir()) / "emb-bench-check" / "llama3-8b-shaped-sparse.gguf"
    if not sparse.exists():
        script = ROOT / "benchmarks" / "make_gguf.py"
        subprocess.run([sys.executable, str(script), "--out", str(sparse), "--sparse"], check=True)
    return sparse


def _data_file(folder: Path) -> Path:
    """DATA_MB of .jsonl lines: `text`, seeded."""
    rng = random.Random(0)
    path = folder / "data.jsonl"
    with open(path, "w") as fh:
        size = 0
        while size < DATA_MB * 2**20:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200)))
            line = json.dumps({"text": text}) + "\n"
            fh.write(line)
            size += len(line)
    return path


def data_speed() -> float:
    """MB/s of the data check's loop on the Llama-3-shaped tokenizer."""
    import numpy as np

    from emb_cli.analysis.check_data import tally_data
    from emb_cli.sources.resolve import open_checkpoint_source

    source = open_checkpoint_source(str(_gguf()), tokenizer_only=True)
    tok = source.tokenizer()
    assert tok is not None
    bad = np.zeros(tok.get_vocab_size(), dtype=bool)
    bad[128002:] = True  # the reserved special tokens
    with tempfile.TemporaryDirectory() as tmp:
        path = _data_file(Path(tmp))
        tally_data(source, tok, [path], bad)  # warm-up: the tokenizer built and cached
        t = time.perf_counter()
        tally = tally_data(source, tok, [path], bad)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        bare = _bare_encode(tok, path)
        naive = time.perf_counter() - t
    mb = tally.nbytes / 2**20
    print(
        f"--data: {mb:.1f} MB, {tally.texts:,} texts, {tally.tokens:,} tokens in {dt:.2f} s "
        f"({tally.tokens / dt / 1e6:.2f} M tokens/s); the tokenizer alone (json.loads + "
        f"encode_batch_fast, {bare:,} tokens): {naive:.2f} s, so the check's loop is "
        f"{dt / naive:.2f}x it"
    )
    return mb / dt


def _bare_encode(tok: Any, path: Path) -> int:
    """The naive loop: parse each line, encode 4096 texts at a time; the tokens counted."""
    n, texts = 0, []

    def encode(batch: list[str]) -> int:
        return sum(len(e.ids) for e in tok.encode_batch_fast(batch, add_special_tokens=False))

    with open(path) as fh:
        for line in fh:
            texts.append(json.loads(line)["text"])
            if len(texts) == 4096:
                n += encode(texts)
                texts = []
    return n + encode(texts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    n = ap.parse_args().repeat
    (path,) = need("big.safetensors")
    ut = measure(
        "emb undertrained --from big.safetensors --json",
        emb() + ["undertrained", "--from", str(path), "--json"],
        n,
    )
    check = measure("emb check big.safetensors --json", emb() + ["check", str(path), "--json"], n)
    table([ut, check], ut)
    ratio = check.best / ut.best
    ran = ut.rc == 0 and check.rc in (0, 1)  # 1: a check failed, the command ran
    speed = data_speed()
    return verdicts(
        [
            (
                f"check {ratio:.2f}x undertrained alone (<= {RATIO_LIMIT:g}x)",
                ran and ratio <= RATIO_LIMIT,
            ),
            (
                f"check peak RSS {check.rss_mb:.0f} MB (< {RSS_LIMIT_MB})",
                ran and check.rss_mb < RSS_LIMIT_MB,
            ),
            (f"--data tokenizes {speed:.1f} MB/s (>= {MB_S_LIMIT:g})", speed >= MB_S_LIMIT),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
