"""Write the benchmark tables into bench-data/ (gitignored); safetensors reads them back.

    big.safetensors         model.embed_tokens.weight  100352 x 4096 fp32  (1.6 GB)
    small.safetensors       model.embed_tokens.weight  4096 x 1024 fp32    (16 MiB; ids
                            73 786 2934 must exist, so fewer columns, not fewer rows)
    big-untied.safetensors  the big table + an untied lm_head.weight       (3.2 GB)
    big-planted.safetensors 100352 x 4096 fp32, N(0, 0.02) + a_i u with a_i ~ N(0, 0.1)
                            for one random unit u: a dominant first principal component
                            (25x the variance of any other direction)
    rows25k.safetensors     25088 x 4096 fp32 (411 MB), and rows25k-b (another seed):
                            run_all.py's smaller size, a quarter of big's rows
    wide25k.safetensors     25088 x 8192 fp32 (822 MB), and wide25k-b: twice the width
    mlx-4bit/               big's shape as an MLX 4-bit checkpoint (mx.quantize, group 64:
                            uint32 codes + float32 scales and biases, 257 MB), saved as
                            mlx_lm saves: model.safetensors (format mlx) and config.json

Values are N(0, 0.02) float32 from a seeded numpy generator, one tensor in memory at a
time (safetensors' save_file would hold all of a 3.2 GB file). Existing files of the
right size are kept: pass --force to rewrite them, --only NAME... to make some of them.

Run: python benchmarks/make_tables.py [--force] [--out bench-data] [--only big.safetensors]
(mlx-4bit needs mlx installed; it is skipped without it)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

VOCAB, DIM = 100352, 4096
SMALL_VOCAB, SMALL_DIM = 4096, 1024
PLANTED_STD = 0.1  # 0.1^2 / 0.02^2 = 25: the planted direction's variance over the bulk's
EMBED = "model.embed_tokens.weight"
HEAD = "lm_head.weight"
BLOCK_ROWS = 4096


def _fill(rows: int, cols: int, seed: int, planted: bool = False) -> np.ndarray:
    out = np.empty((rows, cols), dtype=np.float32)
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(cols, dtype=np.float32) if planted else None
    for s in range(0, rows, BLOCK_ROWS):
        n = min(BLOCK_ROWS, rows - s)
        out[s : s + n] = rng.standard_normal((n, cols), dtype=np.float32) * np.float32(0.02)
        if u is not None:
            a = rng.standard_normal(n, dtype=np.float32) * np.float32(PLANTED_STD)
            out[s : s + n] += np.outer(a, u / np.linalg.norm(u))
    return out


def _write(
    path: Path, tensors: dict[str, tuple[int, int]], seed: int, planted: bool = False
) -> None:
    """safetensors layout written by hand, one tensor at a time: bounded memory for 3.2 GB.

    The header is exactly what safetensors.numpy.save_file writes (tensors sorted by
    name, 8-byte aligned header); safe_open reads it back in the self-check below.
    """
    header: dict[str, object] = {}
    offset = 0
    for name in sorted(tensors):
        rows, cols = tensors[name]
        size = rows * cols * 4
        header[name] = {
            "dtype": "F32",
            "shape": [rows, cols],
            "data_offsets": [offset, offset + size],
        }
        offset += size
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for i, name in enumerate(sorted(tensors)):
            rows, cols = tensors[name]
            fh.write(_fill(rows, cols, seed + i, planted).tobytes())
    os.replace(tmp, path)


def _write_mlx(folder: Path, seed: int) -> None:
    """big's shape, N(0, 0.02), quantized by mlx to 4 bits and saved as mlx_lm does."""
    import mlx.core as mx

    w = mx.array(_fill(VOCAB, DIM, seed))
    q, scales, biases = mx.quantize(w, group_size=64, bits=4)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {EMBED: q, EMBED[: -len("weight")] + "scales": scales}
    parts[EMBED[: -len("weight")] + "biases"] = biases
    mx.save_safetensors(str(folder / "model.safetensors"), parts, metadata={"format": "mlx"})
    quant = {"group_size": 64, "bits": 4}
    cfg = {"model_type": "llama", "quantization": quant, "quantization_config": quant}
    (folder / "config.json").write_text(json.dumps(cfg))


def _check(path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        for name in f.keys():
            f.get_slice(name)[:2]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default="bench-data")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="make only these files")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    plan = {
        "small.safetensors": ({EMBED: (SMALL_VOCAB, SMALL_DIM)}, 1),
        "big.safetensors": ({EMBED: (VOCAB, DIM)}, 2),
        "big-untied.safetensors": ({EMBED: (VOCAB, DIM), HEAD: (VOCAB, DIM)}, 3),
        "big-planted.safetensors": ({EMBED: (VOCAB, DIM)}, 4),
        "rows25k.safetensors": ({EMBED: (VOCAB // 4, DIM)}, 5),
        "rows25k-b.safetensors": ({EMBED: (VOCAB // 4, DIM)}, 6),
        "wide25k.safetensors": ({EMBED: (VOCAB // 4, 2 * DIM)}, 7),
        "wide25k-b.safetensors": ({EMBED: (VOCAB // 4, 2 * DIM)}, 8),
    }
    for fname, (tensors, seed) in plan.items():
        if args.only and fname not in args.only:
            continue
        path = out / fname
        want = sum(r * c * 4 for r, c in tensors.values())
        if path.exists() and path.stat().st_size > want and not args.force:
            print(f"kept    {path} ({path.stat().st_size / 1e9:.2f} GB)")
            continue
        _write(path, tensors, seed, planted=fname == "big-planted.safetensors")
        _check(path)
        print(f"wrote   {path} ({path.stat().st_size / 1e9:.2f} GB)")
    mlx_dir = out / "mlx-4bit"
    if args.only and "mlx-4bit" not in args.only:
        return 0
    if (mlx_dir / "config.json").exists() and not args.force:
        print(f"kept    {mlx_dir}")
    elif importlib.util.find_spec("mlx") is None:
        print(f"skipped {mlx_dir}: mlx is not installed")
    else:
        _write_mlx(mlx_dir, 9)
        print(f"wrote   {mlx_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
