"""emb stats: parameters and memory, as integer arithmetic. Never allocates, never imports torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.sources.base import TableInfo

# Bytes per parameter, as eighths of a byte so int4 stays an integer.
EIGHTHS_PER_PARAM = {
    "float32": 32,
    "bfloat16": 16,
    "float16": 16,
    "float8": 8,
    "int8": 8,
    "int4": 4,
}


@dataclass(frozen=True)
class TrainingMemory:
    recipe: str
    weights: int
    gradients: int
    master_weights: int
    adam_m: int
    adam_v: int
    total: int
    bytes_per_param: int


@dataclass(frozen=True)
class CountReport:
    vocab_size: int
    hidden_size: int
    params: int  # one table: vocab_size x hidden_size
    bytes: dict[str, int]  # that table in each dtype (int4 rounded up; no quant scales)
    tied: bool | None
    untied_head: dict[str, object]  # the table plus a separate LM head of the same shape
    has_lm_head: bool | None  # False: a base model (architectures name no LM head, none stored)
    stored_params: int  # what this model stores: 1 table if tied or no head, 2 if untied
    training: list[TrainingMemory]  # for stored_params
    # A quantized table as stored: scheme, bits, group_size, stored_nbytes (scales and
    # biases counted), bytes_per_param; None for a plain table.
    quantization: dict[str, Any] | None
    source: SourceSummary


def bytes_by_dtype(params: int) -> dict[str, int]:
    return {name: -(-params * e // 8) for name, e in EIGHTHS_PER_PARAM.items()}


def training_memory(params: int) -> list[TrainingMemory]:
    """Two common AdamW recipes; both end at 16 bytes per parameter."""
    fp32 = TrainingMemory(
        recipe="fp32 AdamW: fp32 weights + fp32 grads + fp32 m and v",
        weights=4 * params,
        gradients=4 * params,
        master_weights=0,
        adam_m=4 * params,
        adam_v=4 * params,
        total=16 * params,
        bytes_per_param=16,
    )
    mixed = TrainingMemory(
        recipe="mixed precision AdamW: bf16 weights + bf16 grads + fp32 master, m and v",
        weights=2 * params,
        gradients=2 * params,
        master_weights=4 * params,
        adam_m=4 * params,
        adam_v=4 * params,
        total=16 * params,
        bytes_per_param=16,
    )
    return [fp32, mixed]


def count(info: TableInfo, has_lm_head: bool | None = None) -> CountReport:
    """has_lm_head=False (ties.has_lm_head: a base model) stores one table, whatever `tied`."""
    params = info.vocab_size * info.embed_dim
    stored = params if info.tied or has_lm_head is False else 2 * params
    return CountReport(
        vocab_size=info.vocab_size,
        hidden_size=info.embed_dim,
        params=params,
        bytes=bytes_by_dtype(params),
        tied=info.tied,
        untied_head={"params": 2 * params, "bytes": bytes_by_dtype(2 * params)},
        has_lm_head=has_lm_head,
        stored_params=stored,
        training=training_memory(stored),
        quantization=info.quantization,
        source=summarize(info),
    )
