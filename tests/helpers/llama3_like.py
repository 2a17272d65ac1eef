"""A Llama-3-like checkpoint, built with tokenizers and transformers (emb check, emb report).

Byte-level BPE trained on a small corpus, then Llama 3's special tokens in Llama 3's order
(<|begin_of_text|>, <|end_of_text|>, reserved 0-3, <|start_header_id|>, <|end_header_id|>,
reserved 4, <|eot_id|>, more reserved), and Llama 3's chat template. The weights look
trained: each row a shared offset plus noise (not N(0, 0.02)); the reserved rows are small
and share one direction, as never-trained rows do (Magikarp). As in Llama-3 base, the rows
of the tokens the chat template writes (<|start_header_id|>, <|end_header_id|>,
<|eot_id|>) are exactly zero; `template_rows="mean"` sets them to the mean of the trained
rows instead (what unsloth's fix does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

DIM = 64
N_RESERVED = 16
BASE_VOCAB = 600  # BPE tokens before the special ones
SPECIAL = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|reserved_special_token_2|>",
    "<|reserved_special_token_3|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|reserved_special_token_4|>",
    "<|eot_id|>",
    *(f"<|reserved_special_token_{i}|>" for i in range(5, N_RESERVED)),
]
TEMPLATE_TOKENS = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
# Llama 3's chat template (Meta-Llama-3-8B-Instruct's tokenizer_config.json)
CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Embedding rows that were never trained break fine-tuning.",
    "What is the capital of France? Paris is the capital of France.",
    "Numbers like 1234 and 56789 are split into digits, words into pieces.",
    "You are a helpful assistant. Answer the user's questions briefly.",
] * 20


def tokenizer() -> object:
    """A PreTrainedTokenizerFast: byte-level BPE, Llama 3's special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BASE_VOCAB,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.add_special_tokens(SPECIAL)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        chat_template=CHAT_TEMPLATE,
    )


def _weights(rows: int, seed: int) -> object:
    """A trained-looking table: a shared offset plus noise; reserved rows small, aligned."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    offset = torch.randn(DIM, generator=gen) * 0.05
    table = offset + torch.randn(rows, DIM, generator=gen) * 0.05
    direction = torch.randn(DIM, generator=gen)
    return table, direction * 0.002


def save_llama3_like(
    path: Path,
    *,
    template_rows: Literal["zero", "mean"] = "zero",
    config_tied: bool = False,
    rows_short: int = 0,
    nan_row: int | None = None,
) -> Path:
    """Save the checkpoint to `path`. config_tied: config.json says tied while the stored
    head differs; rows_short: the table has that many rows fewer than the tokenizer;
    (negative: that many rows more); nan_row: that row holds a NaN."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tokenizer()
    size = len(tok)  # type: ignore[arg-type]
    rows = size - rows_short
    cfg = LlamaConfig(
        vocab_size=rows,
        hidden_size=DIM,
        intermediate_size=2 * DIM,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        bos_token_id=tok.convert_tokens_to_ids("<|begin_of_text|>"),  # type: ignore[attr-defined]
        eos_token_id=tok.convert_tokens_to_ids("<|end_of_text|>"),  # type: ignore[attr-defined]
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL}  # type: ignore[attr-defined]
    reserved = [i for t, i in ids.items() if "reserved" in t and i < rows]
    template = [ids[t] for t in TEMPLATE_TOKENS if ids[t] < rows]
    with torch.no_grad():
        for k, w in enumerate((model.model.embed_tokens.weight, model.lm_head.weight)):
            table, small = _weights(rows, seed=k)
            trained = [i for i in range(rows) if i not in reserved and i not in template]
            table[reserved] = small + torch.randn(len(reserved), DIM) * 0.0002
            table[template] = 0.0 if template_rows == "zero" else table[trained].mean(0)
            w.copy_(table)
        if nan_row is not None:
            model.model.embed_tokens.weight[nan_row, 5] = float("nan")
    model.save_pretrained(path)
    tok.save_pretrained(path)  # type: ignore[attr-defined]
    if config_tied:
        config = json.loads((path / "config.json").read_text())
        config["tie_word_embeddings"] = True
        (path / "config.json").write_text(json.dumps(config))
    return path


def token_id(token: str) -> int:
    """The id of one of SPECIAL in the checkpoints above."""
    tok = tokenizer()
    return int(tok.convert_tokens_to_ids(token))  # type: ignore[attr-defined]


def chat_lines(n: int, with_token: str | None = None, every: int = 10) -> list[str]:
    """n .jsonl lines of chat `messages`; every `every`-th user turn holds `with_token`."""
    lines = []
    for k in range(n):
        text = f"What is {k} plus {k}?"
        if with_token is not None and k % every == 0:
            text += f" {with_token}"
        messages = [
            {"role": "user", "content": text},
            {"role": "assistant", "content": f"It is {2 * k}."},
        ]
        lines.append(json.dumps({"messages": messages}))
    return lines
