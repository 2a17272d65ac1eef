"""A table read from a checkpoint: the TableSource over a Checkpoint's embedding tensor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from emb_cli.errors import InputError
from emb_cli.sources import roles
from emb_cli.sources.base import (
    Checkpoint,
    PadFacts,
    PadSource,
    SourceFacts,
    TableInfo,
    TensorRef,
    Vocab,
    check_ids,
    rows_per_chunk,
)
from emb_cli.sources.config.spec import (
    config_dim,
    config_facts,
    config_pad,
    config_tied,
    text_config,
)
from emb_cli.sources.dtypes import INTEGER
from emb_cli.sources.tensors import FileTensor, load_torch, require_table

if TYPE_CHECKING:
    import numpy as np
    import torch
    from tokenizers import Tokenizer


def pad_facts(ckpt: Checkpoint, flag: int | None, flag_given: bool) -> PadFacts:
    found: dict[str, int | None] = {}
    cfg = text_config(ckpt.config) if ckpt.config is not None else None
    if cfg is not None and "pad_token_id" in cfg:
        found[ckpt.config_label] = config_pad(cfg)
    gen = ckpt.generation_config
    if gen is not None and "pad_token_id" in gen:
        found["generation_config"] = config_pad(gen)
    tok = tokenizer_pad(ckpt)
    if tok is not None:
        found["tokenizer"] = tok
    if flag_given:
        return PadFacts(flag, "flag", found)
    order: tuple[PadSource, ...] = (ckpt.config_label, "generation_config", "tokenizer")
    for source in order:
        if found.get(source) is not None:
            return PadFacts(found[source], source, found)
    return PadFacts(None, None, found)


def tokenizer_pad(ckpt: Checkpoint) -> int | None:
    """The pad id a tokenizer declares: tokenizer_config's pad_token, or tokenizer.json padding."""
    tc = ckpt.tokenizer.config or {}
    pad = tc.get("pad_token")
    if isinstance(pad, dict):
        pad = pad.get("content")
    if isinstance(pad, str):
        decoder = tc.get("added_tokens_decoder")
        if isinstance(decoder, dict):
            for key, entry in decoder.items():
                if isinstance(entry, dict) and entry.get("content") == pad and key.isdigit():
                    return int(key)
        # fetch=False: a remote tokenizer.json (Gemma's is 33 MB) is not fetched for the pad.
        tok = ckpt.tokenizer.load(fetch=False)
        if tok is not None:
            tid = tok.token_to_id(pad)
            if tid is not None:
                return int(tid)
    if ckpt.tokenizer.file is not None:
        tok = ckpt.tokenizer.load()
        padding = tok.padding if tok is not None else None
        if padding and isinstance(padding.get("pad_id"), int):
            return int(padding["pad_id"])
    return None


def head_name(ckpt: Checkpoint) -> str | None:
    return roles.choose(ckpt.names, roles.ROLE_HEAD, str(ckpt.path), required=False).name


def _input_name(ckpt: Checkpoint) -> tuple[str, str]:
    """The input embedding by name, or the tensor a dropped one points to.

    safetensors' `save_model` stores one of two shared tensors and records
    {dropped: kept} in the metadata; for a tied Llama it keeps lm_head.weight and
    drops model.embed_tokens.weight, so the table is stored under the head's name.
    """
    choice = roles.choose(ckpt.names, roles.ROLE_INPUT, str(ckpt.path), required=False)
    if choice.name is not None:
        return choice.name, choice.reason
    names = set(ckpt.names)
    for dropped, kept in ckpt.metadata.items():
        if kept in names and dropped not in names and roles.classify(dropped) == roles.ROLE_INPUT:
            return kept, f"{dropped} was dropped at save as a copy of {kept} (safetensors metadata)"
    choice = roles.choose(ckpt.names, roles.ROLE_INPUT, str(ckpt.path), required=True)
    assert choice.name is not None
    return choice.name, choice.reason


def _with_block_size(t: TensorRef, config: dict[str, Any] | None) -> TensorRef:
    """An fp8 tensor's scale blocks as config.json's quantization_config states them.

    The header alone is ambiguous: 300 rows under 5 scales fit blocks of 60 to 74 rows.
    """
    q = (config or {}).get("quantization_config")
    size = q.get("weight_block_size") if isinstance(q, dict) else None
    if not isinstance(t, FileTensor) or t.scale is None:
        return t
    if not isinstance(size, list) or len(size) != 2:
        return t
    if not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in size):
        return t
    fits = all(-(-n // b) == s for n, b, s in zip(t.shape, size, t.scale.shape, strict=True))
    if fits:
        t.block = (size[0], size[1])
    return t


def checkpoint_vocab(ckpt: Checkpoint, fetch: bool = False) -> Vocab | None:
    """The format's own vocabulary (GGUF), else the tokenizer's (fetched only if asked)."""
    if ckpt.tokenizer.vocab is not None:
        return ckpt.tokenizer.vocab
    tok = ckpt.tokenizer.load(fetch)
    return TokenizerVocab(tok) if tok is not None else None


class TokenizerVocab:
    """A tokenizer.json's vocabulary as a Vocab: strings by id, no types recorded."""

    def __init__(self, tok: Tokenizer) -> None:
        self._tok = tok

    @property
    def size(self) -> int:
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    def tokens(self, ids: Sequence[int]) -> list[str | None]:
        return [self._tok.id_to_token(i) for i in ids]

    def types(self, ids: Sequence[int]) -> list[str] | None:
        return None

    def all_types(self) -> list[str] | None:
        return None


def tokenizer_only(ckpt: Checkpoint) -> InputError:
    """What a table command says about a file that holds a tokenizer and no tensors."""
    return InputError(
        f"{ckpt.path} holds a tokenizer only (no tensors): there is no table to read; "
        "`emb info` describes it and `emb tokenize` runs it"
    )


class _CheckpointParts:
    """What every source over a Checkpoint answers the same way: tensors, tokenizer, vocab."""

    ckpt: Checkpoint

    def tensor(self, name: str) -> TensorRef:
        return self.ckpt.tensor(name)

    def file_of(self, name: str) -> str:
        return self.ckpt.file_of(name)

    def tokenizer(self, fetch: bool = True) -> Tokenizer | None:
        return self.ckpt.tokenizer.load(fetch)

    def vocab(self, fetch: bool = False) -> Vocab | None:
        return checkpoint_vocab(self.ckpt, fetch)

    def tokenizer_config(self) -> dict[str, Any] | None:
        return self.ckpt.tokenizer.config


class LoadedSource(_CheckpointParts):
    """Reads only what each command needs: rows by id, or the table in chunks."""

    def __init__(
        self,
        ckpt: Checkpoint,
        tensor: str | None,
        pad: int | None,
        pad_given: bool,
        raw: bool = False,
    ) -> None:
        self.ckpt = ckpt
        self._raw = raw
        if ckpt.tokenizer_only:
            raise tokenizer_only(ckpt)
        if tensor is None:
            tensor, self.choice_reason = _input_name(ckpt)
        else:
            self.choice_reason = "named with --tensor"
        self._embedding = _with_block_size(ckpt.tensor(tensor), ckpt.config)
        require_table(self._embedding)
        self._guard(self._embedding)
        self.pad = pad_facts(ckpt, pad, pad_given)
        self._head_name = head_name(ckpt)
        if self._head_name == tensor:
            self._head_name = None
        rows, dim = self._embedding.shape
        cfg: dict[str, Any] = text_config(ckpt.config) if ckpt.config is not None else {}
        tied, tied_source = config_tied(cfg) if cfg else (None, None)
        if ckpt.tie_rule is not None:
            tied, tied_source = ckpt.tie_rule
        std = cfg.get("initializer_range")
        config_vocab = cfg.get("vocab_size")
        notes: list[str] = []
        if ckpt.beside:
            read = ", ".join(ckpt.beside)
            notes.append(f"{read} read from beside the file (--no-siblings: the file alone)")
        model_type = cfg.get("model_type")
        if isinstance(model_type, str) and model_type.startswith("gemma"):
            notes.append("Gemma multiplies embeddings by sqrt(hidden_size) in the forward pass")
        cdim = config_dim(cfg) if cfg else None
        if cdim is not None and cdim != dim and tensor.endswith("embed_tokens.weight"):
            notes.append(f"config hidden size {cdim} differs from the table width {dim}")
        scheme = self._embedding.scheme
        self.info = TableInfo(
            origin=ckpt.kind,
            name=str(ckpt.path),
            vocab_size=rows,
            embed_dim=dim,
            dtype=self._embedding.dtype,
            pad_token_id=self.pad.pad_token_id,
            pad_source=self.pad.source,
            tied=tied,
            tied_source=tied_source,
            tensor_name=tensor,
            head_name=self._head_name,
            path=str(ckpt.path),
            initializer_range=float(std) if isinstance(std, (int, float)) else None,
            config_vocab_size=config_vocab if isinstance(config_vocab, int) else None,
            model_type=model_type if isinstance(model_type, str) else None,
            notes=tuple(notes),
            quantization=asdict(scheme) if scheme is not None else None,
        )
        self.config = ckpt.config

    @property
    def facts(self) -> SourceFacts:
        # A property: a sharded checkpoint's metadata grows as shard headers are read.
        ckpt = self.ckpt
        names = set(ckpt.names)
        return SourceFacts(
            kind=ckpt.kind,
            tensor_names=tuple(ckpt.names),
            choice_reason=self.choice_reason,
            pad=self.pad,
            # safetensors' save_model records {dropped: kept} for shared tensors it dropped.
            metadata_pointers={
                k: v for k, v in ckpt.metadata.items() if v in names and k not in names
            },
            config=config_facts(ckpt.config, self.info.tied) if ckpt.config is not None else None,
            tokenizer=ckpt.tokenizer.facts,
        )

    def rows(self, token_ids: Sequence[int]) -> np.ndarray:
        check_ids(token_ids, self.info.vocab_size)
        return self._embedding.read_rows(token_ids)

    def chunks(self, rows_per: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        n = rows_per or rows_per_chunk(self.info.embed_dim)
        return self._embedding.iter_chunks(n)

    def head(self) -> TensorRef | None:
        if not self._head_name:
            return None
        ref = _with_block_size(self.ckpt.tensor(self._head_name), self.ckpt.config)
        self._guard(ref)
        return ref

    def _guard(self, ref: TensorRef) -> None:
        """Integer or packed codes of an unknown scheme are refused, never read as numbers
        (--raw: the table really is integers)."""
        codes = ref.dtype in INTEGER or ref.dtype == "bool" or ref.dtype.startswith("float8")
        if self._raw or not codes:
            return
        from emb_cli.sources.quant.guard import guard_table

        guard_table(ref, self.ckpt.names, self.ckpt.config)

    def embedding(self) -> TensorRef | None:
        return self._embedding

    def weight(self) -> torch.Tensor:
        """The stored table in its dtype (rows widen exactly to float32; the cast back is exact)."""
        import torch

        dtype = getattr(torch, self.info.dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise InputError(
                f"{self.info.tensor_name} is {self.info.dtype}: torch has no such dtype"
            )
        return load_torch(self._embedding, dtype)


class TokenizerOnlySource(_CheckpointParts):
    """A checkpoint with a tokenizer and no tensors (llama.cpp's vocab-only GGUF files):
    `info` and `tokenize` answer; everything that needs the table is refused.
    """

    def __init__(self, ckpt: Checkpoint) -> None:
        self.ckpt = ckpt
        vocab = checkpoint_vocab(ckpt)
        pad = pad_facts(ckpt, None, False)
        self.config = ckpt.config
        self.info = TableInfo(
            origin=ckpt.kind,
            name=str(ckpt.path),
            vocab_size=0,
            embed_dim=0,
            dtype="none",
            pad_token_id=pad.pad_token_id,
            pad_source=pad.source,
            tied=None,
            tied_source=None,
            path=str(ckpt.path),
            config_vocab_size=vocab.size if vocab is not None else None,
            notes=("the file holds a tokenizer only: no tensors",),
        )
        self.facts = SourceFacts(
            kind=ckpt.kind,
            tensor_names=(),
            choice_reason="the file holds a tokenizer only",
            pad=pad,
            metadata_pointers={},
            config=None,
            tokenizer=ckpt.tokenizer.facts,
        )

    def rows(self, token_ids: Sequence[int]) -> np.ndarray:
        raise tokenizer_only(self.ckpt)

    def chunks(self, rows_per: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        raise tokenizer_only(self.ckpt)

    def head(self) -> TensorRef | None:
        return None

    def embedding(self) -> TensorRef | None:
        return None

    def weight(self) -> torch.Tensor:
        raise tokenizer_only(self.ckpt)
