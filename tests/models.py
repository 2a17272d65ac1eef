"""Tiny real transformers models for the tests, built the one way every test file needs."""

from __future__ import annotations

from typing import Any


def tiny_llama(
    vocab: int,
    dim: int,
    *,
    tied: bool,
    seed: int = 0,
    heads: int = 4,
    pad_token_id: int | None = 0,
    initializer_range: float = 0.02,
) -> Any:
    """LlamaForCausalLM with one layer, seeded: its weights are what _init_weights draws."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=dim,
        intermediate_size=2 * dim,
        num_hidden_layers=1,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        pad_token_id=pad_token_id,
        tie_word_embeddings=tied,
        initializer_range=initializer_range,
    )
    return LlamaForCausalLM(config)
