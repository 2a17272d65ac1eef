"""Tokens a tokenizer declares unused or reserved, and tokens it can never produce.

Evidence about rows that owes nothing to the table's values, so it can seed the reference set
of emb undertrained without circularity:
- declared unused: `[unusedN]` (BERT), `<unusedN>` (Gemma), `<|reserved_special_token_N|>`
  (Llama 3), `<|unused_token_N|>`, `<madeupwordN>` (XGLM), DeepSeek's `<|place▁holder▁no▁N|>`,
  and GGUF's token type "unused";
- unreachable (Land and Bartolo 2024, "Fishing for Magikarp", section 3.2): decoding the token
  alone and encoding the text again does not give the id back. Tried a second time after a
  prefix token, as Magikarp does, for tokenizers that add a leading space to the text.
  Not tested: special tokens (a template inserts them), WordPiece-style continuation pieces
  (`##ing` exists only after another piece), GGUF "byte" tokens and tokens that decode to
  part of a UTF-8 character (U+FFFD): those are reached through other text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_UNUSED = re.compile(r"(unused|reserved|placeholder|madeupword)[a-z]*\d+")
_BRACKETS = ("<", "["), (">", "]")
_STRIP = str.maketrans("", "", "<>[]|｜▁_- ")
PREFIXES = ("«", "»", "§")  # Magikarp's prefix characters, and a third to fall back on
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class TokenEvidence:
    vocab_size: int  # the tokenizer's size with added tokens
    special: frozenset[int]
    declared_unused: list[int]
    unreachable: list[int]
    tested: int  # ids put to the unreachable test


def is_declared_unused(token: str) -> bool:
    """A bracketed name such as [unused3] or <|reserved_special_token_7|>."""
    if len(token) < 3 or token[0] not in _BRACKETS[0] or token[-1] not in _BRACKETS[1]:
        return False
    return _UNUSED.fullmatch(token.translate(_STRIP).lower()) is not None


def declared_unused(
    tok: Tokenizer | None, size: int, token_types: Sequence[str] | None = None
) -> list[int]:
    out: set[int] = set()
    if token_types is not None:
        out.update(i for i, t in enumerate(token_types[:size]) if t == "unused")
    if tok is not None:
        for i in range(size):
            token = tok.id_to_token(i)
            if token is not None and is_declared_unused(token):
                out.add(i)
    return sorted(out)


def _round_trips(tok: Tokenizer, seqs: list[list[int]]) -> tuple[list[str], list[bool]]:
    texts: list[str] = tok.decode_batch(seqs, skip_special_tokens=False)
    encoded = tok.encode_batch_fast(texts, add_special_tokens=False)
    return texts, [e.ids == s for e, s in zip(encoded, seqs, strict=True)]


def unreachable(
    tok: Tokenizer, size: int, token_types: Sequence[str] | None = None
) -> tuple[list[int], int, frozenset[int]]:
    """(unreachable ids, ids tested, special ids). Batched: ~1 s for a 128k vocabulary."""
    # Saved tokenizers may pad (MiniLM's pads to 128) or truncate: the test wants plain text.
    tok.no_padding()
    tok.no_truncation()
    special = frozenset(int(i) for i, t in tok.get_added_tokens_decoder().items() if t.special)
    prefix = getattr(tok.model, "continuing_subword_prefix", None) or None
    skip = set(special)
    if token_types is not None:
        skip.update(i for i, t in enumerate(token_types[:size]) if t in ("byte", "control"))
    ids = []
    for i in range(size):
        if i in skip:
            continue
        token = tok.id_to_token(i)
        if token is None or (prefix is not None and token.startswith(prefix)):
            continue
        ids.append(i)
    texts, ok = _round_trips(tok, [[i] for i in ids])
    failed = [
        i for i, t, good in zip(ids, texts, ok, strict=True) if not good and REPLACEMENT not in t
    ]
    for p in PREFIXES:
        if not failed:
            break
        p_ids = tok.encode(p, add_special_tokens=False).ids
        if len(p_ids) != 1:
            continue
        texts, ok = _round_trips(tok, [[p_ids[0], i] for i in failed])
        failed = [i for i, good in zip(failed, ok, strict=True) if not good]
        break
    return failed, len(ids), special


def evidence(
    tok: Tokenizer | None, token_types: Sequence[str] | None = None
) -> TokenEvidence | None:
    """What the tokenizer (and GGUF token types, when a reader supplies them) says; None
    without either."""
    if tok is None and token_types is None:
        return None
    if tok is None:
        assert token_types is not None
        control = frozenset(i for i, t in enumerate(token_types) if t == "control")
        size = len(token_types)
        return TokenEvidence(size, control, declared_unused(None, size, token_types), [], 0)
    size = int(tok.get_vocab_size(with_added_tokens=True))
    unreached, tested, special = unreachable(tok, size, token_types)
    return TokenEvidence(
        vocab_size=size,
        special=special,
        declared_unused=declared_unused(tok, size, token_types),
        unreachable=unreached,
        tested=tested,
    )
