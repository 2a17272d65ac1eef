"""The GGUF tokenizer vocabulary, once: token-type names and the special-token id keys.

Both the file reader (`info`, `lookup` token types) and the tokenizer builder use these
tables, so a name or a key is spelled in one place (llama.cpp: src/llama-vocab.h
LLAMA_TOKEN_TYPE_*, src/llama-arch.cpp LLM_KV_TOKENIZER_*_ID).
"""

from __future__ import annotations

from typing import Final

# tokenizer.ggml.token_type value -> name; the index is the value. The spelling is the one
# emb's JSON has always used ("user-defined").
TOKEN_TYPES: Final = (
    "undefined",
    "normal",
    "unknown",
    "control",
    "user-defined",
    "unused",
    "byte",
)


def token_type_name(value: int) -> str:
    """The name of one token_type value; a value llama.cpp does not define is shown as it is
    stored (llama.cpp loads it as "undefined")."""
    return TOKEN_TYPES[value] if 0 <= value < len(TOKEN_TYPES) else f"type-{value}"


# (role, key under tokenizer.ggml.) in llama_vocab::impl::load's order: later keys win, so
# the deprecated FIM names override the current ones, as in llama.cpp. "seperator" is
# llama.cpp's spelling.
SPECIAL_ID_KEYS: Final = (
    ("bos", "bos_token_id"),
    ("eos", "eos_token_id"),
    ("eot", "eot_token_id"),
    ("eom", "eom_token_id"),
    ("unk", "unknown_token_id"),
    ("sep", "seperator_token_id"),
    ("pad", "padding_token_id"),
    ("mask", "mask_token_id"),
    ("fim_pre", "fim_pre_token_id"),
    ("fim_suf", "fim_suf_token_id"),
    ("fim_mid", "fim_mid_token_id"),
    ("fim_pad", "fim_pad_token_id"),
    ("fim_rep", "fim_rep_token_id"),
    ("fim_sep", "fim_sep_token_id"),
    ("fim_pre", "prefix_token_id"),
    ("fim_suf", "suffix_token_id"),
    ("fim_mid", "middle_token_id"),
)

# The special ids `emb info` lists, by role, in this order. cls has a key of its own that
# llama.cpp reads for BERT-style models only.
INFO_ROLES: Final = ("bos", "eos", "unk", "sep", "pad", "cls", "mask", "eot", "eom")
_KEYS = {**dict(SPECIAL_ID_KEYS[:8]), "cls": "cls_token_id"}
INFO_ID_KEYS: Final = tuple((role, f"tokenizer.ggml.{_KEYS[role]}") for role in INFO_ROLES)
