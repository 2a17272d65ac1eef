"""llama.cpp's vocab-only GGUF files in tests/data/gguf-vocab, their texts and expected ids
(test-tokenizer-0's .inp and .out), and emb's tokenizer built from each file."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from emb_cli.sources.gguf.tokenizer import GGUFTokenizer, tokenizer_from_gguf

DATA = Path(__file__).resolve().parent.parent / "data" / "gguf-vocab"
NAMES = (
    "gpt-2", "llama-spm", "bert-bge", "phi-3", "falcon", "mpt", "command-r", "deepseek-coder",
    "deepseek-llm", "gemma-4", "llama-bpe", "qwen2", "qwen35", "refact", "starcoder",
)  # fmt: skip
# the big vocabularies are built once per session: a few seconds each
BIG = ("command-r", "gemma-4", "llama-bpe", "qwen2", "qwen35", "deepseek-llm")


@cache
def read_meta(name: str) -> dict[str, Any]:
    """Every key of the file, arrays as Python lists, read with emb's header reader
    (tests/sources/test_gguf_header.py checks it against gguf's GGUFReader key by key)."""
    from emb_cli.sources.gguf.header import GGUFArray, read_gguf_header

    header = read_gguf_header(DATA / f"ggml-vocab-{name}.gguf")
    return {k: v.values() if isinstance(v, GGUFArray) else v for k, v in header.kv.items()}


@cache
def cases(name: str) -> list[tuple[str, list[int]]]:
    """(text, ids) as test-tokenizer-0's read_tests splits the .inp and .out files."""
    raw = (DATA / f"ggml-vocab-{name}.gguf.inp").read_bytes().decode("utf-8")
    sep = "\n__ggml_vocab_test__\n"
    texts, pos = [], 0
    while pos < len(raw):
        nxt = raw.find(sep, pos)
        if nxt < 0:
            texts.append(raw[pos:])
            break
        texts.append(raw[pos:nxt])
        pos = nxt + len(sep)
    lines = (DATA / f"ggml-vocab-{name}.gguf.out").read_text("utf-8").split("\n")
    assert len(lines) >= len(texts) and not any(lines[len(texts) :])
    return [
        (t, [int(x) for x in line.split()])
        for t, line in zip(texts, lines[: len(texts)], strict=True)
    ]


@cache
def built(name: str, parse_special: bool = False) -> GGUFTokenizer:
    return tokenizer_from_gguf(
        read_meta(name), f"ggml-vocab-{name}.gguf", parse_special=parse_special
    )


def ids(name: str, text: str, **kw: Any) -> list[int]:
    return built(name, **kw).encode_ids(text)
