"""emb lookup: the rows for some token ids, as nn.Embedding's forward returns them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.errors import UsageError
from emb_cli.sources.base import TableSource


@dataclass(frozen=True)
class LookupResult:
    ids: list[int]
    tokens: list[str] | None  # token strings, when a tokenizer is present
    shape: list[int]  # [1, T, D]: what embed(torch.tensor([ids])) returns
    dtype: str  # stored dtype; vectors are exact float32 widenings of it
    vectors: list[list[float]]
    norms: list[float]
    source: SourceSummary


def encode_text(source: TableSource, text: str, special: bool) -> list[int]:
    tok = source.tokenizer()
    if tok is None:
        raise UsageError(
            f"--text needs a tokenizer, and {source.info.name} has no tokenizer.json; "
            "pass token ids instead"
        )
    # Saved tokenizers may pad to a fixed length (MiniLM's pads to 128) or truncate:
    # a lookup wants the text's own tokens.
    tok.no_padding()
    tok.no_truncation()
    ids: list[int] = tok.encode(text, add_special_tokens=special).ids
    if not ids:
        raise UsageError(f"the tokenizer turns {text!r} into no tokens; pass ids or other text")
    return ids


def token_strings(source: TableSource, ids: Sequence[int]) -> list[str] | None:
    tok = source.tokenizer()
    if tok is None:
        return None
    return [tok.id_to_token(i) or "" for i in ids]


def lookup_rows(source: TableSource, token_ids: Sequence[int]) -> LookupResult:
    import numpy as np

    ids = [int(t) for t in token_ids]
    rows = source.rows(ids)
    norms = np.sqrt(np.einsum("ij,ij->i", rows.astype(np.float64), rows.astype(np.float64)))
    return LookupResult(
        ids=ids,
        tokens=token_strings(source, ids),
        shape=[1, len(ids), source.info.embed_dim],
        dtype=source.info.dtype,
        vectors=rows.tolist(),
        norms=[float(x) for x in norms],
        source=summarize(source.info),
    )
