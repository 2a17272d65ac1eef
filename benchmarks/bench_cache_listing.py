"""`emb cache` over a cache like a user's: dozens of models, real header sizes, real file sizes.

Builds a Hugging Face cache in a temp folder (huggingface_hub's layout: blobs, refs,
snapshots of symlinks) holding N models: single-file and sharded Llama-shaped checkpoints
(~290 tensors each, bf16, 1.5-16 GB) and a few config-only repos. The weights are sparse
files: the header is real, the data section is a hole, so the listing would crawl if it
read any tensor data. Times `emb cache --json` in a fresh process (start-up included).

    PYTHONPATH=$PWD python benchmarks/bench_cache_listing.py [--models 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES = [(32000, 4096, 32), (128256, 4096, 32), (151936, 896, 24), (151936, 3584, 28)]


def _tensors(vocab: int, dim: int, layers: int) -> dict[str, list[int]]:
    t = {"model.embed_tokens.weight": [vocab, dim], "model.norm.weight": [dim]}
    for i in range(layers):
        p = f"model.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t[f"{p}self_attn.{name}.weight"] = [dim, dim]
        for name in ("gate_proj", "up_proj"):
            t[f"{p}mlp.{name}.weight"] = [dim * 3, dim]
        t[f"{p}mlp.down_proj.weight"] = [dim, dim * 3]
        t[f"{p}input_layernorm.weight"] = [dim]
        t[f"{p}post_attention_layernorm.weight"] = [dim]
    t["lm_head.weight"] = [vocab, dim]
    return t


def _write_safetensors(path: Path, tensors: dict[str, list[int]]) -> None:
    """A real header over a sparse data section (bf16: 2 bytes a value)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        n = 2
        for s in shape:
            n *= s
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        fh.truncate(8 + len(raw) + offset)


def _add(cache: Path, repo_id: str, files: dict[str, Path | bytes]) -> None:
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(f"{repo_id}/{name}".encode()).hexdigest()
        if isinstance(data, Path):
            data.rename(blob)
        else:
            blob.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))


def build(cache: Path, n: int) -> None:
    scratch = cache.parent / "scratch"
    scratch.mkdir()
    for i in range(n):
        vocab, dim, layers = SHAPES[i % len(SHAPES)]
        config = json.dumps(
            {"model_type": "llama", "vocab_size": vocab, "hidden_size": dim,
             "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
        ).encode()  # fmt: skip
        files: dict[str, Path | bytes] = {"config.json": config}
        if i % 8 == 7:  # config only (AutoConfig.from_pretrained)
            _add(cache, f"org{i}/config-only", files)
            continue
        tensors = _tensors(vocab, dim, layers)
        if i % 2:  # sharded: 4 shards and an index
            names = list(tensors)
            weight_map = {}
            for k in range(4):
                shard = f"model-{k + 1:05d}-of-00004.safetensors"
                part = {m: tensors[m] for m in names[k::4]}
                weight_map.update(dict.fromkeys(part, shard))
                _write_safetensors(scratch / shard, part)
                files[shard] = scratch / shard
            index = {"metadata": {}, "weight_map": weight_map}
            files["model.safetensors.index.json"] = json.dumps(index).encode()
        else:
            _write_safetensors(scratch / "model.safetensors", tensors)
            files["model.safetensors"] = scratch / "model.safetensors"
        _add(cache, f"org{i}/model-{vocab}x{dim}", files)
    shutil.rmtree(scratch)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="emb-cache-bench-"))
    try:
        cache = root / "hub"
        build(cache, args.models)
        env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "emb_cli", "cache", "--json"]
        times = []
        for _ in range(args.repeat + 1):  # the first run warms the page cache
            t0 = time.perf_counter()
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - t0)
        doc = json.loads(r.stdout)
        apparent = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
        print(
            f"emb cache: {len(doc['models'])} tables listed, {len(doc['skipped'])} skipped, "
            f"{apparent / 1e9:,.0f} GB of (sparse) weights; best {min(times[1:]):.2f} s, "
            f"runs {', '.join(f'{t:.2f}' for t in times[1:])} s"
        )
    finally:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
