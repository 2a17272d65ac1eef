"""Write a Llama-3-8B-shaped GGUF for bench_gguf.py: the real header, F16 tables.

    general.architecture llama, llama.embedding_length 4096, tokenizer.ggml.model gpt2,
    tokenizer.ggml.pre llama-bpe; 128,256 token strings + their token types, 280,000
    merges (Llama-3's 8 MB header); token_embd.weight and output.weight F16
    128256 x 4096 (1 GiB each) and output_norm.weight F32.

Tokens and merges form a real byte-level BPE (GPT-2's 256-character byte alphabet, each
token the merge of two others, seeded), so `emb tokenize` can run on the file. The header is
written by gguf's GGUFWriter; the tensor bytes by hand, 32 MiB at a time, so memory
stays at one block: N(0, 0.02) float16 rows from one seeded block, written again and
again (the readers benchmarked never look at them). --sparse leaves the data as a hole
in a sparse file: no disk and no time, same header and size.

--type q4_k writes both tables as Q4_K instead (144 bytes per 256 values, 288 MiB each,
as a Q4_K_M file's token_embd): blocks of seeded random bytes whose two float16 scales
(d, dmin) are set to 1e-3, so every value decodes finite; run_all.py times the decode.

Run: python benchmarks/make_gguf.py [--out /tmp/emb-bench/llama3-8b-shaped.gguf] [--sparse]
     [--type f16|q4_k]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

VOCAB, DIM = 128256, 4096
N_MERGES = 280000
N_SPECIAL = 256  # <|begin_of_text|>, <|reserved_special_token_N|> ...
BLOCK_ROWS = 4096  # 32 MiB of F16 rows per write
DEFAULT_OUT = Path("/tmp/emb-bench/llama3-8b-shaped.gguf")


def _byte_alphabet() -> list[str]:
    """GPT-2's bytes_to_unicode: the 256 one-character tokens byte-level BPE starts from."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, n = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + n))
            n += 1
    return chars


def _vocab(n: int, n_merges: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """A byte-level BPE vocabulary that tokenizers accepts: every merge joins two tokens
    into a third. Tokens grow by merging random pairs (one merge each, as BPE training
    adds them), then other splits of the same tokens fill the merges up to Llama-3's count.
    """
    tokens = _byte_alphabet()
    seen = set(tokens)
    merges: list[str] = []
    merged: set[tuple[str, str]] = set()
    common = tokens[:]  # merging short pieces more often gives Llama-like lengths
    while len(tokens) < n:
        a = rng.choice(common if rng.random() < 0.7 else tokens)
        b = rng.choice(common if rng.random() < 0.7 else tokens)
        t = a + b
        if t in seen or len(t) > 16:
            continue
        seen.add(t)
        tokens.append(t)
        merges.append(f"{a} {b}")
        merged.add((a, b))
        if len(t) <= 4:
            common.append(t)
    for t in tokens:
        for k in range(1, len(t)):
            if len(merges) >= n_merges:
                return tokens, merges
            a, b = t[:k], t[k:]
            if a in seen and b in seen and (a, b) not in merged:
                merged.add((a, b))
                merges.append(f"{a} {b}")
    return tokens, merges


def _q4_k_rows(rows: int) -> np.ndarray:
    """Q4_K rows of DIM values as raw block bytes (uint8, rows x DIM/256*144): random
    4-bit codes and 6-bit sub-scales, d = dmin = 1e-3 as float16."""
    blocks = DIM // 256
    raw = np.random.default_rng(0).integers(0, 256, (rows, blocks, 144), dtype=np.uint8)
    raw[:, :, 0:4] = np.array([1e-3, 1e-3], dtype=np.float16).view(np.uint8)
    return raw.reshape(rows, blocks * 144)


def write(path: Path, sparse: bool, qtype: str = "f16") -> None:
    from gguf import GGMLQuantizationType, GGUFWriter, TokenType

    rng = random.Random(0)
    tokens, merges = _vocab(VOCAB - N_SPECIAL, N_MERGES, rng)
    tokens += ["<|begin_of_text|>", "<|end_of_text|>"]
    tokens += [f"<|reserved_special_token_{i}|>" for i in range(N_SPECIAL - 2)]
    types = [int(TokenType.NORMAL)] * (VOCAB - N_SPECIAL) + [int(TokenType.CONTROL)] * N_SPECIAL

    path.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(path), "llama")
    w.add_name("Llama-3-8B-shaped benchmark file")
    w.add_context_length(8192)
    w.add_embedding_length(DIM)
    w.add_block_count(32)
    w.add_feed_forward_length(14336)
    w.add_head_count(32)
    w.add_head_count_kv(8)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(128)
    w.add_vocab_size(VOCAB)
    w.add_file_type(1 if qtype == "f16" else 15)  # MOSTLY_F16, MOSTLY_Q4_K_M
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(VOCAB - N_SPECIAL)
    w.add_eos_token_id(VOCAB - N_SPECIAL + 1)
    w.add_chat_template("{% for message in messages %}{{ message['content'] }}{% endfor %}")
    if qtype == "f16":
        block = (np.random.default_rng(0).standard_normal((BLOCK_ROWS, DIM)) * 0.02).astype(
            np.float16
        )
        kind, table_dtype = None, np.dtype(np.float16)
    else:
        block = _q4_k_rows(BLOCK_ROWS)
        kind, table_dtype = GGMLQuantizationType.Q4_K, np.dtype(np.uint8)
    cols = block.shape[1]
    table_bytes = VOCAB * block.nbytes // BLOCK_ROWS
    for name in ("token_embd.weight", "output_norm.weight", "output.weight"):
        if name == "output_norm.weight":
            w.add_tensor_info(name, (DIM,), np.dtype(np.float32), DIM * 4)
        else:  # a quantized tensor's shape is given in bytes, as gguf-py's add_tensor does
            w.add_tensor_info(name, (VOCAB, cols), table_dtype, table_bytes, raw_dtype=kind)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    assert w.fout is not None
    fout = w.fout[0]
    w.write_padding(fout, fout.tell())

    layout = ((VOCAB, table_bytes), (1, DIM * 4), (VOCAB, table_bytes))
    for rows, nbytes in layout:
        if sparse:
            fout.seek(nbytes, 1)
        elif rows == 1:
            np.ones(DIM, dtype=np.float32).tofile(fout)
        else:
            for start in range(0, rows, BLOCK_ROWS):
                block[: min(BLOCK_ROWS, rows - start)].tofile(fout)
        pad = -nbytes % w.data_alignment
        if sparse:
            fout.seek(pad, 1)
        else:
            fout.write(bytes(pad))
    fout.truncate()  # a sparse file ends in a hole: truncate sets its size
    w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--sparse", action="store_true", help="leave the tensor data as a hole")
    ap.add_argument("--type", choices=("f16", "q4_k"), default="f16", help="the tables' type")
    args = ap.parse_args()
    t = time.perf_counter()
    write(args.out, args.sparse, args.type)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {size / 2**30:.2f} GiB in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
