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
    token_types: list[str] | None  # control, user-defined, unused, byte ... (GGUF records them)
    shape: list[int]  # [1, T, D]: what embed(torch.tensor([ids])) returns
    dtype: str  # stored dtype; vectors are exact float32 widenings of it
    vectors: list[list[float]]
    norms: list[float]
    source: SourceSummary


def encode_text(source: TableSource, text: str, special: bool) -> list[int]:
    tok = source.tokenizer()
    if tok is None:
        raise UsageError(
            f"--text needs a tokenizer, and {source.info.name} has none (no tokenizer.json, "
            "no GGUF tokenizer metadata); pass token ids instead"
        )
    # Saved tokenizers may pad to a fixed length (MiniLM's pads to 128) or truncate:
    # a lookup wants the text's own tokens.
    from emb_cli.analysis.text_input import check_text
    from emb_cli.sources.gguf.encoders import rust_call

    check_text(text, "--text")
    tok.no_padding()
    tok.no_truncation()
    # a regex past Oniguruma's retry limit panics inside tokenizers: an InputError here
    ids: list[int] = rust_call(
        source.info.name, lambda: tok.encode(text, add_special_tokens=special).ids
    )
    if not ids:
        raise UsageError(f"the tokenizer turns {text!r} into no tokens; pass ids or other text")
    return ids


def token_strings(source: TableSource, ids: Sequence[int]) -> list[str] | None:
    # Strings are a courtesy: never download a remote tokenizer.json just for them.
    vocab = source.vocab()
    if vocab is None:
        return None
    return [t or "" for t in vocab.tokens(ids)]


def token_types(source: TableSource, ids: Sequence[int]) -> list[str] | None:
    vocab = source.vocab()
    return vocab.types(ids) if vocab is not None else None


def _ensure_lookup_memory(source: TableSource, rows: int) -> None:
    """The output rows, their float64 norms and their Python floats, plus a table to build."""
    from emb_cli.sources.memory import ensure_memory, lookup_bytes

    info = source.info
    table = info.vocab_size * info.embed_dim * 4 if info.built else 0
    ensure_memory(
        table + lookup_bytes(rows, info.embed_dim),
        f"looking up {rows} rows of width {info.embed_dim}",
        "use `emb stats` for sizes, or a smaller --dim",
    )


def lookup_rows(source: TableSource, token_ids: Sequence[int]) -> LookupResult:
    import numpy as np

    ids = [int(t) for t in token_ids]
    _ensure_lookup_memory(source, len(ids))
    rows = source.rows(ids)
    norms = np.sqrt(np.einsum("ij,ij->i", rows.astype(np.float64), rows.astype(np.float64)))
    return LookupResult(
        ids=ids,
        tokens=token_strings(source, ids),
        token_types=token_types(source, ids),
        shape=[1, len(ids), source.info.embed_dim],
        dtype=source.info.dtype,
        vectors=rows.tolist(),
        norms=[float(x) for x in norms],
        source=summarize(source.info),
    )


@dataclass(frozen=True)
class BatchLookupResult:
    """A ragged batch padded with the pad id, as a DataLoader collate would: (B, T, D)."""

    batch: list[list[int]]  # the padded input_ids, B x T
    lengths: list[int]  # each sequence's own length before padding
    pad_token_id: int | None
    shape: list[int]  # [B, T, D]
    dtype: str
    vectors: list[list[list[float]]]  # B x T x D
    padded_positions: list[list[int]]  # [b, t] pairs filled with the pad id
    pad_row_is_zero: bool | None
    padded_positions_zero: bool | None  # every padded position's vector is exactly zero
    source: SourceSummary


def lookup_batch(source: TableSource, sequences: Sequence[Sequence[int]]) -> BatchLookupResult:
    import numpy as np

    seqs = [[int(t) for t in s] for s in sequences]
    if any(not s for s in seqs):
        raise UsageError(
            "an empty --batch sequence; give each one at least one id, e.g. --batch 5,6"
        )
    longest = max(len(s) for s in seqs)
    pad = source.info.pad_token_id
    if pad is None and any(len(s) < longest for s in seqs):
        raise UsageError(
            "sequences of unequal length need a pad token to fill them, and this table has "
            "none; pass --pad ID"
        )
    padded = [s + [pad] * (longest - len(s)) if pad is not None else s for s in seqs]
    unique = sorted({t for s in padded for t in s if t is not None})
    _ensure_lookup_memory(source, len(padded) * longest)
    rows = source.rows(unique)
    index = {t: i for i, t in enumerate(unique)}
    out = np.stack([rows[[index[t] for t in s]] for s in padded])
    positions = [[b, t] for b, s in enumerate(seqs) for t in range(len(s), longest)]
    pad_zero = (
        None if pad is None else bool((rows[index[pad]] == 0).all()) if pad in index else None
    )
    return BatchLookupResult(
        batch=[[int(t) for t in s if t is not None] for s in padded],
        lengths=[len(s) for s in seqs],
        pad_token_id=pad,
        shape=list(out.shape),
        dtype=source.info.dtype,
        vectors=out.tolist(),
        padded_positions=positions,
        pad_row_is_zero=pad_zero,
        padded_positions_zero=bool(all((out[b, t] == 0).all() for b, t in positions))
        if positions
        else None,
        source=summarize(source.info),
    )
