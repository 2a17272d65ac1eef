"""emb tokenize: text to ids with the checkpoint's own tokenizer (tokenizer.json or GGUF)."""

from __future__ import annotations

from dataclasses import dataclass

from emb_cli.analysis.lookup import encode_text, token_strings, token_types
from emb_cli.sources.base import TableSource


@dataclass(frozen=True)
class TokenizeReport:
    source: str  # the checkpoint the tokenizer came from
    text_chars: int
    special: bool  # the tokenizer's special tokens were added
    count: int
    ids: list[int]
    tokens: list[str]
    token_types: list[str] | None  # GGUF records control, user-defined, unused, byte ...


def tokenize(source: TableSource, text: str, special: bool) -> TokenizeReport:
    ids = encode_text(source, text, special)
    return TokenizeReport(
        source=source.info.name,
        text_chars=len(text),
        special=special,
        count=len(ids),
        ids=ids,
        tokens=token_strings(source, ids) or [],
        token_types=token_types(source, ids),
    )
