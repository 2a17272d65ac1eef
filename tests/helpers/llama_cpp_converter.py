"""llama.cpp's convert_hf_to_gguf.py, from the llama-cpp-python sdist, run on checkpoints
saved here: GGUF files as people make them. The sdist is 77 MB, so it is not fetched by the
tests: `pip download --no-deps --no-binary :all: llama-cpp-python -d /tmp/lcp` and unpack
it there, or point EMB_LLAMA_CPP at its vendor/llama.cpp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "gguf-vocab"


def converter() -> Path:
    """convert_hf_to_gguf.py, or a skip that says how to get it."""
    given = os.environ.get("EMB_LLAMA_CPP")
    places = [Path(given)] if given else sorted(Path("/tmp/lcp").glob("*/vendor/llama.cpp"))
    for place in places:
        script = place / "convert_hf_to_gguf.py"
        if script.is_file():
            return script
    pytest.skip(
        "llama.cpp's converter not found: pip download --no-deps --no-binary :all: "
        "llama-cpp-python -d /tmp/lcp && tar -xzf /tmp/lcp/*.tar.gz -C /tmp/lcp"
    )


def save_gpt2(folder: Path, dim: int = 8) -> None:
    """A tied GPT2LMHeadModel with GPT-2's own tokenizer (rebuilt from llama.cpp's
    ggml-vocab-gpt-2.gguf, so the converter recognises its pre-tokenizer), saved as
    pytorch_model.bin: torch.save keeps both names of the tied weight, as the published
    gpt2 .bin does, and the converter writes lm_head.weight as output.weight."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    from emb_cli.sources.gguf.header import read_gguf_header

    header = read_gguf_header(DATA / "ggml-vocab-gpt-2.gguf")
    tokens = [str(t) for t in header.array("tokenizer.ggml.tokens").values()]  # type: ignore[union-attr]
    merges = [str(m) for m in header.array("tokenizer.ggml.merges").values()]  # type: ignore[union-attr]
    bpe = models.BPE(
        vocab={t: i for i, t in enumerate(tokens)},
        merges=[(a, b) for a, b in (m.split(" ", 1) for m in merges)],
    )
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    end = "<|endoftext|>"
    GPT2TokenizerFast(
        tokenizer_object=tok, bos_token=end, eos_token=end, unk_token=end
    ).save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokens), n_embd=dim, n_layer=1, n_head=2, n_positions=16)
    model = GPT2LMHeadModel(config)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    cfg = model.config.to_dict()
    # what the published config.json names: the class, and n_ctx (1024), which the converter reads
    cfg.update(architectures=["GPT2LMHeadModel"], n_ctx=16)
    (folder / "config.json").write_text(json.dumps(cfg))


def convert(folder: Path, out: Path) -> None:
    """convert_hf_to_gguf.py FOLDER --outfile OUT --outtype f32, which must succeed."""
    r = subprocess.run(
        [sys.executable, str(converter()), str(folder), "--outfile", str(out), "--outtype", "f32"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
