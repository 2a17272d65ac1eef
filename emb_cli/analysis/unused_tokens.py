"""Tokens a tokenizer declares unused or reserved, and tokens it can never produce.

Evidence about rows that owes nothing to the table's values, so it can seed the reference set
of emb undertrained without circularity:
- declared unused: `[unusedN]` (BERT), `<unusedN>` (Gemma), `<|reserved_special_token_N|>`
  (Llama 3), `<|unused_token_N|>`, `<madeupwordN>` (XGLM), DeepSeek's `<|place▁holder▁no▁N|>`,
  and GGUF's token type "unused";
- unreachable (Land and Bartolo 2024, "Fishing for Magikarp", section 3.2): the token's own
  text, encoded again, does not give the id back. Tried a second time after a prefix, as
  Magikarp does, for tokenizers that add a leading space to the text. For a GGUF tokenizer
  the text is the token's own bytes (llama.cpp's token_to_piece), never the detokenizer's
  output: that one drops spaces (" ." decodes to "."), which made GPT-2's " ." look
  unreachable. Texts are encoded in batches of BATCH, so memory stays bounded.
  Not tested: special tokens (a template inserts them), WordPiece-style continuation pieces
  (`##ing` exists only after another piece), GGUF tokens whose type settles it (byte, control,
  unknown, unused, user-defined: matched whole) and tokens that are part of a UTF-8
  character (U+FFFD): those are reached through other text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer

BATCH = 4096  # texts encoded at once: a few MB of encodings, whatever the vocabulary
# GGUF token types that settle reachability without a test
_SETTLED = frozenset(("byte", "control", "unknown", "unused", "user-defined"))
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


def _tokens(tok: Tokenizer, size: int) -> list[str | None]:
    """Each id's token string, from one get_vocab call (id_to_token per id is 3x slower)."""
    out: list[str | None] = [None] * size
    for token, i in tok.get_vocab(with_added_tokens=True).items():
        if 0 <= i < size:
            out[i] = token
    return out


def declared_unused(
    tokens: Sequence[str | None], token_types: Sequence[str] | None = None
) -> list[int]:
    out: set[int] = set()
    if token_types is not None:
        out.update(i for i, t in enumerate(token_types[: len(tokens)]) if t == "unused")
    out.update(i for i, t in enumerate(tokens) if t is not None and is_declared_unused(t))
    return sorted(out)


def _round_trips(tok: Tokenizer, seqs: list[list[int]]) -> tuple[list[str], list[bool]]:
    texts: list[str] = []
    ok: list[bool] = []
    for at in range(0, len(seqs), BATCH):
        part = seqs[at : at + BATCH]
        decoded: list[str] = tok.decode_batch(part, skip_special_tokens=False)
        encoded = tok.encode_batch_fast(decoded, add_special_tokens=False)
        texts += decoded
        ok += [e.ids == s for e, s in zip(encoded, part, strict=True)]
    return texts, ok


def unreachable(
    tok: Tokenizer,
    size: int,
    token_types: Sequence[str] | None = None,
    tokens: Sequence[str | None] | None = None,
) -> tuple[list[int], int, frozenset[int]]:
    """(unreachable ids, ids tested, special ids)."""
    from emb_cli.sources.gguf.tokenizer import GGUFTokenizer

    if isinstance(tok, GGUFTokenizer):
        return _gguf_unreachable(tok, size, token_types)
    # Saved tokenizers may pad (MiniLM's pads to 128) or truncate: the test wants plain text.
    tok.no_padding()
    tok.no_truncation()
    special = frozenset(int(i) for i, t in tok.get_added_tokens_decoder().items() if t.special)
    prefix = getattr(tok.model, "continuing_subword_prefix", None) or None
    skip = set(special)
    if token_types is not None:
        skip.update(i for i, t in enumerate(token_types[:size]) if t in ("byte", "control"))
    names = tokens if tokens is not None else _tokens(tok, size)
    ids = [
        i
        for i, token in enumerate(names)
        if i not in skip
        and token is not None
        and not (prefix is not None and token.startswith(prefix))
    ]
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


def _gguf_unreachable(
    tok: Any, size: int, token_types: Sequence[str] | None
) -> tuple[list[int], int, frozenset[int]]:
    """Each token's own bytes, encoded alone, then after a prefix: what llama.cpp can produce."""
    special = frozenset(i for i, t in tok.get_added_tokens_decoder().items() if t.special)
    settled = set(special)
    if token_types is not None:
        settled.update(i for i, t in enumerate(token_types[:size]) if t in _SETTLED)
    settled.update(tok.get_added_tokens_decoder())  # user-defined: matched whole in text
    ids = [i for i in range(size) if i not in settled]
    if tok.core.kind == "wpm":  # a piece without U+2581 only continues a word
        ids = [i for i in ids if (tok.id_to_token(i) or "").startswith("\u2581")]
    failed: list[int] = []
    tested = 0
    for at in range(0, len(ids), BATCH):
        part = ids[at : at + BATCH]
        texts = {}
        for i, piece in zip(part, tok.token_pieces(part), strict=True):
            try:
                texts[i] = piece.decode("utf-8")
            except UnicodeDecodeError:
                continue  # part of a character: reached through other text
        tested += len(texts)
        failed += _not_produced(tok, texts)
    return failed, tested, special


def _not_produced(tok: Any, texts: dict[int, str]) -> list[int]:
    todo = [i for i, ids in zip(texts, tok.encode_many(list(texts.values())), strict=True)
            if ids != [i]]  # fmt: skip
    for p in PREFIXES:
        if not todo:
            break
        head = tok.encode_ids(p)
        got = tok.encode_many([p + texts[i] for i in todo])
        todo = [i for i, ids in zip(todo, got, strict=True) if ids != [*head, i]]
    return todo


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
        return TokenEvidence(size, control, declared_unused([None] * size, token_types), [], 0)
    size = int(tok.get_vocab_size(with_added_tokens=True))
    tokens = _tokens(tok, size)
    unreached, tested, special = unreachable(tok, size, token_types, tokens)
    return TokenEvidence(
        vocab_size=size,
        special=special,
        declared_unused=declared_unused(tokens, token_types),
        unreachable=unreached,
        tested=tested,
    )
