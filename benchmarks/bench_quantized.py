"""A full pass over a 4-bit MLX table against the same pass over its bf16 original.

    q4/    model.safetensors: model.embed_tokens.weight uint32 128256 x 512 + scales and
           biases bf16 128256 x 64 (mx.quantize, group 64, 4 bits; 296 MB), config.json
    bf16.safetensors: model.embed_tokens.weight bf16 128256 x 4096 (1.05 GB)

Both hold N(0, 0.02) from one seeded generator (Llama 3's vocabulary and width), built in
4096-row blocks so that no full float table is ever in memory. Each pass is the sum of
squares over every row, in chunks of emb's size (rows_per_chunk: 4 MiB of float32):
through QuantizedTensor on q4, through FileTensor on bf16, and the naive way (mx.load,
mx.dequantize of the whole table, then the sum) for the ratio.

Targets: the q4 pass within 3x of the bf16 pass, peak RSS under 400 MB.

Run: python benchmarks/bench_quantized.py [--repeat 3] [--scales bfloat16|float16]
Files go to $EMB_QUANT_BENCH (default /tmp/emb-bench-quant); delete it when done.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import sys
from pathlib import Path

from _harness import EMBED, Result, measure, table, verdicts

VOCAB, DIM, GROUP, BITS = 128256, 4096, 64, 4
BLOCK_ROWS = 4096
RSS_LIMIT_MB = 400
OUT = Path(os.environ.get("EMB_QUANT_BENCH", "/tmp/emb-bench-quant"))

EMB_PASS = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "import numpy as np\n"
    "from emb_cli.sources.base import rows_per_chunk\n"
    "from emb_cli.sources.safetensors_file import read_header\n"
    "from emb_cli.sources.quant.guard import attach_quantization\n"
    "p = Path(sys.argv[1])\n"
    "tensors = read_header(p).tensors\n"
    "cfg = p.parent / 'config.json'\n"
    "if cfg.exists():\n"
    "    tensors = attach_quantization(tensors, json.loads(cfg.read_text()), str(p))\n"
    "t = tensors[{name!r}]\n"
    "acc = 0.0\n"
    "for _, b in t.iter_chunks(rows_per_chunk(t.shape[1])):\n"
    "    acc += float(np.vdot(b, b))\n"
    "print(t.dtype, acc)\n"
)
NAIVE = (
    "import sys\n"
    "import mlx.core as mx\n"
    "w = mx.load(sys.argv[1])\n"
    "x = mx.dequantize(w[{name!r}], w[{scales!r}], w[{biases!r}], group_size={gs}, bits={bits})\n"
    "s = mx.sum(mx.square(x.astype(mx.float32)))\n"
    "print(s.item())\n"
)


def _header(tensors: dict[str, tuple[str, tuple[int, int], int]]) -> tuple[bytes, dict[str, int]]:
    """A safetensors header (sorted names, 8-byte aligned) and each tensor's data offset."""
    header: dict[str, object] = {}
    offsets: dict[str, int] = {}
    pos = 0
    for name in sorted(tensors):
        dtype, shape, itemsize = tensors[name]
        size = shape[0] * shape[1] * itemsize
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [pos, pos + size]}
        offsets[name] = pos
        pos += size
    header["__metadata__"] = {"format": "mlx"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, offsets


def build(scales_dtype: str) -> tuple[Path, Path]:
    """Write both files block by block (bounded memory); reuse them when present."""
    import mlx.core as mx
    import numpy as np

    qdir = OUT / f"q4-{scales_dtype}"
    q4, bf16 = qdir / "model.safetensors", OUT / f"{scales_dtype}.safetensors"
    if q4.exists() and bf16.exists():
        return q4, bf16
    qdir.mkdir(parents=True, exist_ok=True)
    st = "BF16" if scales_dtype == "bfloat16" else "F16"
    mdt = mx.bfloat16 if scales_dtype == "bfloat16" else mx.float16
    groups = DIM // GROUP
    names = {
        EMBED: ("U32", (VOCAB, DIM * BITS // 32), 4),
        "model.embed_tokens.scales": (st, (VOCAB, groups), 2),
        "model.embed_tokens.biases": (st, (VOCAB, groups), 2),
    }
    qhead, qoff = _header(names)
    fhead, foff = _header({EMBED: (st, (VOCAB, DIM), 2)})
    rng = np.random.default_rng(0)
    with open(q4, "wb") as fq, open(bf16, "wb") as ff:
        fq.write(qhead)
        ff.write(fhead)
        for s in range(0, VOCAB, BLOCK_ROWS):
            n = min(BLOCK_ROWS, VOCAB - s)
            w = mx.array(rng.standard_normal((n, DIM), dtype=np.float32) * np.float32(0.02))
            w = w.astype(mdt)
            ff.seek(len(fhead) + foff[EMBED] + s * DIM * 2)
            ff.write(bytes(memoryview(w)))
            q, sc, bi = mx.quantize(w, group_size=GROUP, bits=BITS)
            for name, arr, width in (
                (EMBED, q, DIM * BITS // 8),
                ("model.embed_tokens.scales", sc, groups * 2),
                ("model.embed_tokens.biases", bi, groups * 2),
            ):
                fq.seek(len(qhead) + qoff[name] + s * width)
                fq.write(bytes(memoryview(arr)))
    config = {
        "hidden_size": DIM,
        "vocab_size": VOCAB,
        "quantization": {"group_size": GROUP, "bits": BITS},
    }
    (qdir / "config.json").write_text(json.dumps(config))
    return q4, bf16


def _cpu_measure(label: str, argv: list[str], repeat: int) -> tuple[Result, float]:
    """_harness.measure, plus the CPU seconds (user + sys) per run: on a shared machine the
    wall clock counts other people's work, CPU time mostly does not."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = measure(label, argv, repeat)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return res, cpu / (repeat + 1)  # the warm-up run included


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scales", choices=("bfloat16", "float16"), default="bfloat16")
    ap.add_argument("--skip-naive", action="store_true", help="mx.dequantize takes ~40 s, 4 GB")
    args = ap.parse_args()
    q4, bf16 = build(args.scales)
    py = sys.executable
    env_root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = env_root + os.pathsep + os.environ.get("PYTHONPATH", "")
    code = EMB_PASS.format(name=EMBED)
    label = f"FileTensor {args.scales} chunked pass"
    plain, plain_cpu = _cpu_measure(label, [py, "-c", code, str(bf16)], args.repeat)
    label = f"QuantizedTensor mlx-q4 ({args.scales} scales) chunked pass"
    quant, quant_cpu = _cpu_measure(label, [py, "-c", code, str(q4)], args.repeat)
    results = [plain, quant]
    naive = None
    if not args.skip_naive:
        naive_code = NAIVE.format(
            name=EMBED,
            scales="model.embed_tokens.scales",
            biases="model.embed_tokens.biases",
            gs=GROUP,
            bits=BITS,
        )
        naive, _ = _cpu_measure(
            "naive: mx.load + mx.dequantize whole + sum",
            [py, "-c", naive_code, str(q4)],
            args.repeat,
        )
        results.insert(0, naive)
    table(results, naive)
    ratio = quant.best / plain.best
    print(
        f"CPU seconds per run (user + sys, all threads): FileTensor {plain_cpu:.2f}, "
        f"QuantizedTensor {quant_cpu:.2f}, ratio {quant_cpu / plain_cpu:.2f}\n"
    )
    ran = quant.rc == 0 and plain.rc == 0
    return verdicts(
        [
            (f"q4 pass {ratio:.2f}x the {args.scales} FileTensor pass (<= 3x)", ran and ratio <= 3),
            (
                f"q4 pass peak RSS {quant.rss_mb:.0f} MB (< {RSS_LIMIT_MB})",
                ran and quant.rss_mb < RSS_LIMIT_MB,
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
