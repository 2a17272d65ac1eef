"""Opening a Llama-3-8B-shaped GGUF: emb's header reader against gguf's GGUFReader.

Each command runs in a fresh process (start-up included); peak RSS is the command's own.
  read_gguf_header      emb_cli.sources.gguf.header: metadata + tensor infos, arrays not decoded
  + decode tokens       the same, then all 128,256 token strings decoded (imports numpy)
  gguf.GGUFReader       what gguf_file.py opens GGUF files with today (the naive baseline)
  gguf-dump             gguf's own CLI, --no-tensors (GGUFReader + printing)
  import typer, rich    the floor: what any emb command pays before reading a byte
It also counts the reads the header takes: what a remote file costs in HTTP requests.

Run: python benchmarks/make_gguf.py --sparse && python benchmarks/bench_gguf.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from _harness import ROOT, measure, table, verdicts

DEFAULT = Path("/tmp/emb-bench/llama3-8b-shaped.gguf")
# 1 KB of ordinary English for `emb tokenize`
KB_TEXT = (
    "The embedding table maps each token id to a vector. A language model looks up the rows "
    "of the tokens in its input, adds positions, and passes them through its layers; the "
    "output head projects the last hidden states back onto the vocabulary, often with the "
    "same matrix, which is what tying means. When a tokenizer is extended, new rows are "
    "appended and initialised, usually from the mean of the old rows. Rows that no text "
    "ever reaches keep their initial values: they are the undertrained tokens that can make "
    "a model misbehave. Quantized files store codes and scales instead of values, and "
    "GGUF files keep the tokenizer in their metadata, beside the tensors themselves. " * 3
)
SPEEDUP = 20  # read_gguf_header vs GGUFReader
LIMIT_S = 0.5
RSS_MB = 100

OURS = (
    "from emb_cli.sources.gguf.header import read_gguf_header\n"
    "h = read_gguf_header({path!r})\n"
    "print(len(h.kv['tokenizer.ggml.tokens']), h.kv['llama.embedding_length'], len(h.tensors))\n"
)
DECODE = OURS + "print(len(h.kv['tokenizer.ggml.tokens'].values()))\n"
GGUF_READER = (
    "import gguf\n"
    "r = gguf.GGUFReader({path!r})\n"
    "print(len(r.fields['tokenizer.ggml.tokens'].data), len(r.tensors))\n"
)


def count_reads(path: Path) -> list[tuple[int, int]]:
    """The (offset, length) of every read the header takes, in process."""
    sys.path.insert(0, str(ROOT))
    from emb_cli.sources.gguf.header import read_gguf_header
    from emb_cli.sources.tensors import LocalReader

    class Counting(LocalReader):
        def __init__(self, path: str) -> None:
            super().__init__(path)
            self.reads: list[tuple[int, int]] = []

        def read(self, offset: int, length: int) -> bytes:
            self.reads.append((offset, length))
            return super().read(offset, length)

    reader = Counting(str(path))
    try:
        read_gguf_header(reader)
    finally:
        reader.close()
    return reader.reads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--path", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of the fast commands")
    ap.add_argument("--slow-repeat", type=int, default=1, help="timed runs of GGUFReader")
    args = ap.parse_args()
    if not args.path.exists():
        sys.exit(f"missing {args.path}: run `python benchmarks/make_gguf.py --sparse` first")
    os.environ["PYTHONPATH"] = str(ROOT)  # this checkout's emb_cli, in every subprocess
    py, path, n = sys.executable, str(args.path), args.repeat

    floor = measure('python -c "import typer, rich"', [py, "-c", "import typer, rich"], n)
    ours = measure("read_gguf_header", [py, "-c", OURS.format(path=path)], n)
    decode = measure("read_gguf_header + decode tokens", [py, "-c", DECODE.format(path=path)], n)
    # ~25 s a run: one timed run after ours has filled the page cache
    reader = measure(
        "gguf.GGUFReader", [py, "-c", GGUF_READER.format(path=path)], args.slow_repeat, 0
    )
    from _harness import emb

    text = Path("/tmp/emb-bench/1k.txt")
    text.parent.mkdir(parents=True, exist_ok=True)
    text.write_text(KB_TEXT[:1024])
    stats_floor = measure(
        "emb stats --vocab 10 --dim 10", emb() + ["stats", "--vocab", "10", "--dim", "10"], n
    )
    info = measure("emb info FILE", emb() + ["info", path], n)
    lookup = measure(
        "emb lookup 73 786 2934 --from FILE",
        emb() + ["lookup", "73", "786", "2934", "--from", path],
        n,
    )
    tok = measure(
        "emb tokenize --from FILE --file 1k.txt",
        emb() + ["tokenize", "--from", path, "--file", str(text)],
        n,
    )
    results = [floor, stats_floor, info, lookup, tok, ours, decode, reader]
    dump = shutil.which("gguf-dump", path=str(Path(py).parent))
    if dump:
        argv = [dump, "--no-tensors", path]
        results.append(measure("gguf-dump --no-tensors", argv, args.slow_repeat, 0))
    table(results, reader)

    reads = count_reads(args.path)
    print(f"reads for the header: {len(reads)}  {reads}")
    print(
        f"read_gguf_header: {reader.best / ours.best:.0f}x faster than GGUFReader, "
        f"{reader.rss_mb / ours.rss_mb:.0f}x less memory; "
        f"{ours.best - floor.best:+.3f} s over the typer+rich floor\n"
    )
    return verdicts(
        [
            (
                f"read_gguf_header {ours.best:.3f} s < {LIMIT_S} s",
                ours.best < LIMIT_S and ours.rc == 0,
            ),
            (
                f"read_gguf_header >= {SPEEDUP}x faster than GGUFReader "
                f"({reader.best / ours.best:.0f}x)",
                reader.best >= SPEEDUP * ours.best and reader.rc == 0,
            ),
            (f"read_gguf_header peak RSS {ours.rss_mb:.0f} MB < {RSS_MB} MB", ours.rss_mb < RSS_MB),
            (f"header in {len(reads)} reads <= 6", len(reads) <= 6),
            *[
                (
                    f"{r.label}: {r.best:.3f} s <= 3 x floor {stats_floor.best:.3f} s, "
                    f"peak RSS {r.rss_mb:.0f} MB",
                    r.rc == 0
                    and r.best <= 3 * stats_floor.best
                    and (r is tok or r.rss_mb < RSS_MB),
                )
                for r in (info, lookup, tok)
            ],
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
