"""The `special` check: every token the model sees as special must have a trained row.

Special: BOS, EOS, PAD, UNK, SEP, CLS, MASK as tokenizer_config.json, config.json,
generation_config.json or the GGUF metadata name them, and every added token the chat
template writes (its text appears in the template). A Llama-3 base model's
<|start_header_id|>, <|end_header_id|> and <|eot_id|> rows are zero: fine-tuning on its own
chat template then gives NaN or gibberish.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from emb_cli.analysis.chat_template import SPECIAL_KEYS, template_text, token_content
from emb_cli.analysis.check_status import LISTED, Status, shown
from emb_cli.sources.base import TableSource

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

# config.json / generation_config.json keys of special ids (an int, or a list of them)
_CONFIG_ID_KEYS: Final = ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id",
                          "sep_token_id", "mask_token_id", "cls_token_id")  # fmt: skip
CHAT_TEMPLATE: Final = "chat_template"


@dataclass(frozen=True)
class SpecialToken:
    id: int
    token: str | None
    used_as: list[str]  # bos_token (tokenizer_config), eos_token_id (config), chat_template ...
    has_row: bool  # the id is inside the table
    zero: bool  # the row is exactly zero
    flagged: bool  # emb undertrained flags it
    norm: float | None


@dataclass(frozen=True)
class SpecialCheck:
    name: str
    status: Status
    summary: str
    tokens: list[SpecialToken]  # every special token found, by id
    untrained: list[SpecialToken]  # missing, zero or flagged rows (a row only the pad uses
    # may be zero: padding_idx keeps it so)


def _ids_of(value: Any) -> Iterator[int]:
    items = value if isinstance(value, list) else [value]
    for v in items:
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            yield v


def _roles(source: TableSource, tok: Tokenizer | None) -> dict[int, list[str]]:
    """Special ids by where they are named: tokenizer_config, config, generation_config, GGUF."""
    found: dict[int, list[str]] = {}

    def add(i: int | None, where: str) -> None:
        if i is not None and where not in found.setdefault(i, []):
            found[i].append(where)

    tc = source.tokenizer_config() or {}
    for key in SPECIAL_KEYS:
        text = token_content(tc.get(key))
        if text is not None and tok is not None:
            add(tok.token_to_id(text), f"{key} (tokenizer_config)")
    cfg: dict[str, Any] = source.config or {}
    text_config = cfg.get("text_config")
    if isinstance(text_config, dict):  # multimodal configs keep the text model's ids here
        cfg = text_config
    for where, doc in (("config", cfg), ("generation_config", _generation_config(source))):
        for key in _CONFIG_ID_KEYS:
            for i in _ids_of(doc.get(key)):
                add(i, f"{key} ({where})")
    gguf = (source.facts.tokenizer or {}).get("special_ids") or {}
    for key, i in gguf.items():
        for j in _ids_of(i):
            add(j, f"{key} (gguf)")
    return found


def _generation_config(source: TableSource) -> dict[str, Any]:
    """generation_config.json's special ids, as the pad facts recorded them."""
    found = source.facts.pad.found
    gen = found.get("generation_config")
    return {"pad_token_id": gen} if gen is not None else {}


def _template_tokens(tok: Tokenizer | None, template: str | None) -> list[int]:
    """Added tokens whose text the chat template writes: special ones, or markup-looking."""
    if tok is None or not template:
        return []
    out = []
    for i, t in tok.get_added_tokens_decoder().items():
        text = t.content
        markup = len(text) >= 3 and text[0] in "<[" and text[-1] in ">]"
        if (t.special or markup) and text in template:
            out.append(int(i))
    return sorted(out)


def special_ids(source: TableSource, tok: Tokenizer | None) -> dict[int, list[str]]:
    """Every special id, and where it is used."""
    found = _roles(source, tok)
    for i in _template_tokens(tok, template_text(source)):
        found.setdefault(i, []).append(CHAT_TEMPLATE)
    return dict(sorted(found.items()))


def _token(source: TableSource, tok: Tokenizer | None, i: int) -> str | None:
    if tok is not None:
        t = tok.id_to_token(i)
        if t is not None:
            return str(t)
    vocab = source.vocab(fetch=True)
    return vocab.tokens([i])[0] if vocab is not None else None


def _only_pad(used_as: list[str]) -> bool:
    """A pad row is meant to be zero (padding_idx); only a token used otherwise needs training."""
    return all(u.startswith("pad_token") for u in used_as)


def check_special(
    source: TableSource,
    tok: Tokenizer | None,
    row_norms: np.ndarray,
    flagged: np.ndarray | None,
) -> SpecialCheck:
    """Each special token's row: inside the table, not zero, not flagged undertrained."""
    rows = row_norms.size
    tokens = []
    for i, used_as in special_ids(source, tok).items():
        inside = i < rows
        norm = float(row_norms[i]) if inside else None
        zero = norm == 0.0
        flag = bool(flagged[i]) if inside and flagged is not None else False
        token = _token(source, tok, i)
        tokens.append(SpecialToken(i, token, used_as, inside, zero, flag, norm))
    bad = [t for t in tokens if _untrained(t)]
    status, summary = _verdict(tokens, bad)
    return SpecialCheck("special", status, summary, tokens[: LISTED * 5], bad[:LISTED])


def _untrained(t: SpecialToken) -> bool:
    return not t.has_row or ((t.zero or t.flagged) and not _only_pad(t.used_as))


def _what(t: SpecialToken) -> str:
    state = "no row" if not t.has_row else "zero row" if t.zero else "flagged undertrained"
    where = ", ".join(u.split(" (")[0] for u in t.used_as)
    return f"{t.token or t.id} ({state}; {where})"


def _verdict(tokens: list[SpecialToken], bad: list[SpecialToken]) -> tuple[Status, str]:
    if not tokens:
        return "skip", "no special token named: no tokenizer, config or chat template says one"
    if bad:
        return "fail", (
            f"{len(bad)} of {len(tokens)} special tokens have untrained rows: "
            + shown((_what(t) for t in bad), len(bad), limit=8)
        )
    in_template = sum(1 for t in tokens if CHAT_TEMPLATE in t.used_as)
    if len(tokens) == 1:
        return (
            "pass",
            f"1 special token ({in_template} written by the chat template) has a trained row",
        )
    return "pass", (
        f"{len(tokens)} special tokens ({in_template} written by the chat template) "
        "all have trained rows"
    )
