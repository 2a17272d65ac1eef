"""Write a Llama-3-8B-shaped GGUF for bench_gguf.py: the real header, F16 tables.

    general.architecture llama, llama.embedding_length 4096, tokenizer.ggml.model gpt2,
    tokenizer.ggml.pre llama-bpe; 128,256 token strings + their token types, 280,000
    merges (Llama-3's 8 MB header); token_embd.weight and output.weight F16
    128256 x 4096 (1 GiB each) and output_norm.weight F32.

Tokens and merges are random byte-level-BPE-like strings (GPT-2's `Ġ` for a space),
seeded, with Llama-3's length spread (1-16 characters, some multi-byte). The header is
written by gguf's GGUFWriter; the tensor bytes by hand, 32 MiB at a time, so memory
stays at one block: N(0, 0.02) float16 rows from one seeded block, written again and
again (the readers benchmarked never look at them). --sparse leaves the data as a hole
in a sparse file: no disk and no time, same header and size.

Run: python benchmarks/make_gguf.py [--out /tmp/emb-bench/llama3-8b-shaped.gguf] [--sparse]
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
# GPT-2's byte-to-unicode alphabet is mostly Latin-1 letters; a few CJK and accented
# pieces give the multi-byte UTF-8 that real vocabularies have
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:'\"()-_"
EXTRA = "éàüöñçøå中文日本語한국어ĠĊ"


def _words(n: int, rng: random.Random) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        k = min(16, max(1, int(rng.expovariate(1 / 6))))
        w = "".join(rng.choice(ALPHABET if rng.random() < 0.95 else EXTRA) for _ in range(k))
        if rng.random() < 0.5:
            w = "Ġ" + w
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def write(path: Path, sparse: bool) -> None:
    from gguf import GGUFWriter, TokenType

    rng = random.Random(0)
    tokens = _words(VOCAB - N_SPECIAL, rng)
    tokens += ["<|begin_of_text|>", "<|end_of_text|>"]
    tokens += [f"<|reserved_special_token_{i}|>" for i in range(N_SPECIAL - 2)]
    pieces = tokens[: VOCAB - N_SPECIAL]
    merges = [f"{rng.choice(pieces)} {rng.choice(pieces)}" for _ in range(N_MERGES)]
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
    w.add_file_type(1)  # MOSTLY_F16
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(VOCAB - N_SPECIAL)
    w.add_eos_token_id(VOCAB - N_SPECIAL + 1)
    w.add_chat_template("{% for message in messages %}{{ message['content'] }}{% endfor %}")
    w.add_tensor_info("token_embd.weight", (VOCAB, DIM), np.dtype(np.float16), VOCAB * DIM * 2)
    w.add_tensor_info("output_norm.weight", (DIM,), np.dtype(np.float32), DIM * 4)
    w.add_tensor_info("output.weight", (VOCAB, DIM), np.dtype(np.float16), VOCAB * DIM * 2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    assert w.fout is not None
    fout = w.fout[0]
    w.write_padding(fout, fout.tell())

    block = (np.random.default_rng(0).standard_normal((BLOCK_ROWS, DIM)) * 0.02).astype(np.float16)
    layout = ((VOCAB, DIM, np.float16), (1, DIM, np.float32), (VOCAB, DIM, np.float16))
    for rows, cols, dtype in layout:
        nbytes = rows * cols * np.dtype(dtype).itemsize
        if sparse:
            fout.seek(nbytes, 1)
        elif dtype == np.float32:
            np.ones(cols, dtype=np.float32).tofile(fout)
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
    args = ap.parse_args()
    t = time.perf_counter()
    write(args.out, args.sparse)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {size / 2**30:.2f} GiB in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
