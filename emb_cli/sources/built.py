"""Tables built from a spec with torch, by the recipes the README documents.

Each recipe is bit-identical to the plain torch code it names (tests prove it):
  normal          torch.manual_seed(s); w = torch.empty(V, D).normal_(0, std); w[pad] = 0
  torch-default   torch.manual_seed(s); w = nn.Embedding(V, D, padding_idx=pad).weight
  uniform         torch.manual_seed(s); w = torch.empty(V, D).uniform_(low, high); w[pad] = 0
  xavier-normal   torch.manual_seed(s); w = nn.init.xavier_normal_(torch.empty(V, D)); w[pad] = 0
  xavier-uniform  torch.manual_seed(s); w = nn.init.xavier_uniform_(torch.empty(V, D)); w[pad] = 0
then `w = w.to(dtype)` for bfloat16 / float16.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from emb_cli.errors import TensorNotFound
from emb_cli.sources.base import (
    PadFacts,
    SourceFacts,
    TableInfo,
    TensorRef,
    Vocab,
    check_ids,
    rows_per_chunk,
)
from emb_cli.sources.memory import ensure_memory
from emb_cli.sources.progress import tracked

if TYPE_CHECKING:
    import numpy as np
    import torch
    from tokenizers import Tokenizer

    from emb_cli.sources.spec import TableSpec


def ensure_buildable(vocab_size: int, embed_dim: int, copies: float = 1.0) -> None:
    """Refuse before allocating: a 10**15-row table is arithmetic for `stats`, not a build."""
    ensure_memory(
        vocab_size * embed_dim * 4 * copies,
        f"building a {vocab_size} x {embed_dim} table",
        "use `emb stats` for sizes (arithmetic only) or a smaller --vocab/--dim",
    )


def build_weight(spec: TableSpec) -> torch.Tensor:
    import torch

    # float32 init, plus the cast's copy for bfloat16/float16 (both alive during .to()).
    ensure_buildable(spec.vocab_size, spec.embed_dim, 1.0 if spec.dtype == "float32" else 1.5)
    v, d, pad, init = spec.vocab_size, spec.embed_dim, spec.pad_token_id, spec.init
    torch.manual_seed(init.seed)
    if init.scheme == "torch-default":
        w = torch.nn.Embedding(v, d, padding_idx=pad).weight.detach()
    else:
        w = torch.empty(v, d)
        if init.scheme == "normal":
            w.normal_(0.0, init.std)
        elif init.scheme == "uniform":
            w.uniform_(init.low, init.high)
        elif init.scheme == "xavier-normal":
            torch.nn.init.xavier_normal_(w)
        elif init.scheme == "xavier-uniform":
            torch.nn.init.xavier_uniform_(w)
        else:  # validate_spec rejects other names before we get here
            raise AssertionError(init.scheme)
        if pad is not None:
            w[pad] = 0
    if spec.dtype != "float32":
        w = w.to(getattr(torch, spec.dtype))
    return w


class BuiltSource:
    def __init__(self, spec: TableSpec, pad_source: str | None) -> None:
        self.spec = spec
        self._weight: torch.Tensor | None = None
        self.info = TableInfo(
            origin=spec.origin,
            name=spec.name,
            vocab_size=spec.vocab_size,
            embed_dim=spec.embed_dim,
            dtype=spec.dtype,
            pad_token_id=spec.pad_token_id,
            pad_source=pad_source if spec.pad_token_id is not None else None,
            tied=spec.tied,
            tied_source=spec.origin,
            init=spec.init,
            initializer_range=spec.init.std if spec.init.scheme == "normal" else None,
            config_vocab_size=spec.vocab_size,
            model_type=spec.model_type,
            notes=spec.notes,
        )
        self.config: dict[str, Any] | None = None
        self.facts = SourceFacts(
            kind=spec.origin,
            tensor_names=(),
            choice_reason=None,
            pad=PadFacts(self.info.pad_token_id, self.info.pad_source, {}),
            metadata_pointers={},
            config=None,
        )

    def weight(self) -> torch.Tensor:
        if self._weight is None:
            self._weight = build_weight(self.spec)
        return self._weight

    def rows(self, token_ids: Sequence[int]) -> np.ndarray:
        import torch

        check_ids(token_ids, self.info.vocab_size)
        w = self.weight()
        out: np.ndarray = w[torch.tensor(list(token_ids))].float().numpy()
        return out

    def chunks(self, rows_per: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        # Not a generator: the table is built (or refused as too large) at the call,
        # before a caller sizes its own per-row arrays from info.vocab_size.
        w = self.weight()
        n = rows_per or rows_per_chunk(self.info.embed_dim)
        blocks = ((s, w[s : s + n].float().numpy()) for s in range(0, self.info.vocab_size, n))
        return tracked(blocks, self.info.vocab_size, f"scanning {self.info.name}")

    def head(self) -> TensorRef | None:
        return None

    def embedding(self) -> TensorRef | None:
        return None

    def tensor(self, name: str) -> TensorRef:
        raise TensorNotFound(f"{self.info.name} is built from a config: it stores no {name!r}")

    def file_of(self, name: str) -> str:
        raise TensorNotFound(f"{self.info.name} is built from a config: it has no files")

    def tokenizer(self, fetch: bool = True) -> Tokenizer | None:
        return None

    def vocab(self, fetch: bool = False) -> Vocab | None:
        return None
