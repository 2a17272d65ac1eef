"""emb info: every embedding-related tensor of a checkpoint, and what its config says.

Headers and small JSON files only: no tensor values are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emb_cli.sources import roles
from emb_cli.sources.base import TableSource, Vocab


@dataclass(frozen=True)
class TensorEntry:
    name: str
    role: str
    dtype: str
    shape: list[int]
    bytes: int
    file: str


@dataclass(frozen=True)
class InfoReport:
    path: str
    kind: str  # safetensors | sharded | hf-dir | gguf | torch
    tensor_count: int  # every tensor in the checkpoint
    tensors: list[TensorEntry]  # the embedding-related ones among them, and --tensor's
    embedding: str | None
    embedding_reason: str
    head: str | None
    config: dict[str, Any] | None  # model_type, vocab_size, hidden_size, tie, initializer_range
    table_rows: int
    embed_dim: int
    tokenizer_vocab_size: int | None
    padded_rows: int | None  # table rows beyond the tokenizer's vocabulary
    pad_token_id: int | None
    pad_source: str | None
    pad_ids_found: dict[str, int | None]
    pad_sources_disagree: bool
    tied: bool | None
    tied_source: str | None
    head_stored: bool
    metadata_pointers: dict[str, str]  # safetensors save_model: dropped name -> kept name
    tokenizer: dict[str, Any] | None  # what a GGUF file records of its tokenizer
    quantization: dict[str, Any] | None  # the table's scheme, if quantized (as in stats)
    notes: list[str] = field(default_factory=list)


def checkpoint_info(source: TableSource) -> InfoReport:
    info = source.info
    facts = source.facts
    entries = []
    for name in facts.tensor_names:
        role = roles.classify(name)
        if role is None and name == info.tensor_name:
            role = roles.ROLE_INPUT  # chosen with --tensor: listed, whatever its name
        if role is None:
            continue
        t = source.tensor(name)
        entries.append(
            TensorEntry(name, role, t.dtype, list(t.shape), int(t.nbytes), source.file_of(name))
        )
    notes = list(info.notes)
    cfg: dict[str, Any] | None = None
    if facts.config is not None:
        cfg = {
            "model_type": info.model_type,
            "vocab_size": info.config_vocab_size,
            "hidden_size": facts.config.hidden_size,
            "tie_word_embeddings": info.tied,
            "initializer_range": info.initializer_range,
            "architectures": facts.config.architectures,
        }
        if info.config_vocab_size is not None and info.config_vocab_size != info.vocab_size:
            notes.append(
                f"config vocab_size {info.config_vocab_size} != table rows {info.vocab_size}"
            )
    vocab = source.vocab()  # info reads headers and small JSON only: nothing is fetched
    tok_vocab = vocab.size if vocab is not None else None
    tokenizer = _tokenizer_facts(facts.tokenizer, vocab)
    padded = info.vocab_size - tok_vocab if tok_vocab is not None else None
    if padded is not None and padded > 0 and info.vocab_size:
        notes.append(
            f"{padded} rows beyond the tokenizer's {tok_vocab} tokens: padding rows no text reaches"
        )
    pad = facts.pad
    if pad.disagree:
        notes.append(
            "pad ids disagree: " + ", ".join(f"{k} says {v}" for k, v in pad.found.items())
        )
    return InfoReport(
        path=str(info.path),
        kind=facts.kind,
        tensor_count=len(facts.tensor_names),
        tensors=entries,
        embedding=info.tensor_name,
        embedding_reason=facts.choice_reason or "",
        head=info.head_name,
        config=cfg,
        table_rows=info.vocab_size,
        embed_dim=info.embed_dim,
        tokenizer_vocab_size=tok_vocab,
        padded_rows=padded,
        pad_token_id=info.pad_token_id,
        pad_source=info.pad_source,
        pad_ids_found=dict(pad.found),
        pad_sources_disagree=pad.disagree,
        tied=info.tied,
        tied_source=info.tied_source,
        head_stored=info.head_name is not None,
        tokenizer=tokenizer,
        quantization=info.quantization,
        metadata_pointers=source.facts.metadata_pointers,  # after reading the headers above
        notes=notes,
    )


def _tokenizer_facts(facts: dict[str, Any] | None, vocab: Vocab | None) -> dict[str, Any] | None:
    """The format's tokenizer facts, each special id beside its token (and type)."""
    if facts is None:
        return None
    out = dict(facts)
    specials = facts.get("special_ids", {})
    ids = list(specials.values())
    tokens = vocab.tokens(ids) if vocab is not None else [None] * len(ids)
    types = vocab.types(ids) if vocab is not None else None
    out["special_tokens"] = {
        name.removesuffix("_id"): {
            "id": tid,
            "token": tokens[n],
            "type": types[n] if types is not None else None,
        }
        for n, (name, tid) in enumerate(specials.items())
    }
    del out["special_ids"]
    return out
