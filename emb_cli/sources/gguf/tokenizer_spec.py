"""A GGUF's tokenizer metadata, checked key by key, as llama.cpp's llama_vocab::impl::load reads it.

Every key's type and length is checked before anything is built (a token list of int32, scores
as strings, a model name that is an array: one InputError each, never a TypeError or a Rust
panic), then llama.cpp's own rules are applied: default special ids per model, token
attributes fixed by token text (end-of-generation and FIM tokens become CONTROL, gpt-oss's
channel tokens USER_DEFINED ...), per-model LSTRIP/RSTRIP, and the flags (add_bos, add_eos,
add_sep, add_space_prefix, clean_spaces, ignore_merges) each pre-tokenizer name sets.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Literal

from emb_cli.errors import InputError
from emb_cli.sources.gguf.arrays import GGUFArray
from emb_cli.sources.gguf.constants import STRING
from emb_cli.sources.gguf.pre_tokenizers import BPE_MODELS, MODELS, PreSpec, pre_spec
from emb_cli.sources.gguf.vocab_keys import SPECIAL_ID_KEYS

# llama_token_attr bits (llama.h): the ones that change how text is tokenized or rendered
UNKNOWN, UNUSED, NORMAL, CONTROL, USER_DEFINED, BYTE = (1 << i for i in range(6))
LSTRIP, RSTRIP = 1 << 7, 1 << 8
# token_type value -> attribute; any other value loads as UNDEFINED (0), as in llama.cpp
_TYPE_ATTR: Final = (0, NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE)

_K = "tokenizer.ggml."
# llama_vocab::impl::load's defaults per model, before the file's own ids
_DEFAULT_IDS: Final[dict[str, dict[str, int]]] = {
    "llama": {"bos": 1, "eos": 2, "unk": 0},
    "bert": {"bos": 101, "unk": 100, "sep": 102, "pad": 0, "mask": 103},
    "gpt2": {"bos": 11, "eos": 11},
    "hybriddna": {"bos": 11, "eos": 11},
    "whitespace": {"bos": 11, "eos": 11},
    "t5": {"eos": 1, "unk": 2, "pad": 0},
    "plamo2": {"bos": 1, "eos": 2, "unk": 0, "pad": 3},
}

# Texts llama.cpp marks CONTROL whatever their type ("auto-detect special tokens by text")
_FIM_TEXTS: Final = {
    "fim_pre": ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>",
                "▁<PRE>", "<|code_prefix|>", "<|prefix|>"),
    "fim_suf": ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>",
                "▁<SUF>", "<|code_suffix|>", "<|suffix|>"),
    "fim_mid": ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
                "▁<MID>", "<|code_middle|>", "<|middle|>"),
    "fim_pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    "fim_rep": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "fim_sep": ("<|file_sep|>",),
}  # fmt: skip
_EOG_TEXTS: Final = frozenset((
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
))  # fmt: skip
# gpt-oss: always rendered, so USER_DEFINED whatever the file says
_GPT_OSS_TEXTS: Final = ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")

ModelKind = Literal["bpe", "spm", "wpm", "ugm", "rwkv", "plamo2", "test"]
_KINDS: Final[dict[str, ModelKind]] = {
    k: k for k in ("bpe", "spm", "wpm", "ugm", "rwkv", "plamo2", "test")
}


@dataclass(frozen=True)
class TokenizerSpec:
    """What decides llama.cpp's ids for one GGUF vocabulary, checked and with its rules applied."""

    model: str  # tokenizer.ggml.model as written ("gpt2", "llama", "gemma4" ...)
    kind: ModelKind  # llama.cpp's algorithm (LLAMA_VOCAB_TYPE_*)
    pre: PreSpec | None  # BPE kinds only
    tokens: list[str]
    attrs: list[int]
    scores: list[float]  # empty unless the algorithm reads them
    # the file's array, decoded only where merge_ids must (a list where meta gave one)
    merges: Sequence[str] | GGUFArray | None
    special: dict[str, int]  # role -> id, unset roles left out
    # FIM roles llama.cpp fills by token text, picking in hash-map order among several
    # candidates (unknowable): role -> candidate ids, none of them marked CONTROL here
    fim_ambiguous: dict[str, list[int]]
    add_bos: bool
    add_eos: bool
    add_sep: bool
    add_space_prefix: bool
    remove_extra_whitespaces: bool
    lowercase: bool
    strip_accents: bool
    charsmap: bytes  # UGM's precompiled normalizer, b"" when absent

    @cached_property
    def ids(self) -> dict[str, int]:
        """Token -> id: ~10 MB for 128k tokens, so made on first use where read_spec did not
        keep its own (a vocabulary only read for decoding never needs it)."""
        return dict(zip(self.tokens, range(len(self.tokens)), strict=True))


def model_kind(model: object, where: str) -> ModelKind:
    """llama.cpp's algorithm for a tokenizer.ggml.model value, or InputError naming it."""
    if not isinstance(model, str):
        shown = "missing" if model is None else f"a {type(model).__name__}, not a string"
        raise InputError(
            f"{where}: tokenizer.ggml.model is {shown}; llama.cpp cannot load this vocabulary "
            f"(it knows: {', '.join(MODELS)}); give token ids instead of text"
        )
    if model in ("no_vocab", "none"):
        raise InputError(
            f"{where}: tokenizer.ggml.model {model!r} declares no vocabulary, so there is "
            "nothing to tokenize with; give token ids instead of text"
        )
    if model not in MODELS:
        raise InputError(
            f"{where}: tokenizer.ggml.model {model!r} is not one llama.cpp knows "
            f"({', '.join(MODELS)}), so emb cannot tokenize exactly as llama.cpp does; give "
            "token ids instead of text"
        )
    return _KINDS[MODELS[model]]


def read_spec(meta: Mapping[str, Any], where: str, with_merges: bool = True) -> TokenizerSpec:
    """The checked tokenizer of `meta` (GGUF keys -> decoded values), as llama.cpp loads it.
    `with_merges=False`: merges None, for what only reads the vocabulary (a tokenizer loaded
    from emb's cache keeps its merges as ids; Llama 3's as strings are ~30 MB)."""
    model = meta.get(_K + "model")
    kind = model_kind(model, where)
    assert isinstance(model, str)
    pre = _read_pre(meta, model, where) if model in BPE_MODELS else None
    tokens = _read_tokens(meta, where)
    n = len(tokens)
    attrs = _read_attrs(meta, n, where)
    scores = _read_scores(meta, n, where) if kind in ("spm", "ugm", "plamo2") else []
    # llama.cpp loads kimi-k2 without merges; every other BPE vocabulary needs them
    need = kind == "bpe" and (pre is None or pre.name != "kimi-k2")
    merges = _read_merges(meta, where, need) if with_merges else None
    flags = _read_flags(meta, where)
    special = _special_ids(meta, model, pre, n, where)
    ids = dict(zip(tokens, range(n), strict=True))
    ambiguous = _mark_by_text(attrs, tokens, ids, special)
    _mark_strip(attrs, ids, meta)
    add_bos, add_eos, add_sep = _add_flags(kind, pre, flags)
    lowercase = flags.get("normalizer.lowercase", pre is None or pre.name != "whitespace")
    spec = TokenizerSpec(
        model=model,
        kind=kind,
        pre=pre,
        tokens=tokens,
        attrs=attrs,
        scores=scores,
        merges=merges,
        special=special,
        fim_ambiguous=ambiguous,
        add_bos=add_bos,
        add_eos=add_eos,
        add_sep=add_sep,
        add_space_prefix=flags.get("add_space_prefix", kind == "spm"),
        remove_extra_whitespaces=flags.get("remove_extra_whitespaces", False),
        lowercase=lowercase,
        strip_accents=flags.get("normalizer.strip_accents", lowercase),
        charsmap=_read_charsmap(meta, where) if kind == "ugm" else b"",
    )
    if with_merges:  # a spec that builds a model keeps the look-up made here
        spec.__dict__["ids"] = ids
    return spec


def _read_pre(meta: Mapping[str, Any], model: str, where: str) -> PreSpec:
    raw = meta.get(_K + "pre")
    if raw is not None and not isinstance(raw, str):
        raise InputError(f"{where}: tokenizer.ggml.pre is a {type(raw).__name__}, not a string")
    # llama.cpp: a gemma4 model always splits as gemma4; no name or "" is "default"
    name = "gemma4" if model == "gemma4" else (raw or "default")
    spec = pre_spec(name)
    if spec is None:
        raise InputError(
            f"{where}: BPE pre-tokenizer {name!r} (tokenizer.ggml.pre) is not one llama.cpp "
            "knows, so emb cannot tokenize exactly as llama.cpp does; give token ids instead of "
            "text"
        )
    return spec


def _array(meta: Mapping[str, Any], key: str, where: str) -> list[Any] | None:
    value = meta.get(_K + key)
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InputError(f"{where}: tokenizer.ggml.{key} is a {type(value).__name__}, not an array")
    return value if isinstance(value, list) else list(value)


def _bad_elements(key: str, where: str, values: list[Any], want: str) -> InputError:
    bad = next(v for v in values if not _is(v, want))
    return InputError(
        f"{where}: tokenizer.ggml.{key} holds a {type(bad).__name__} where llama.cpp needs "
        f"{want}s; the file's tokenizer metadata is damaged"
    )


def _is(v: object, want: str) -> bool:
    if want == "string":
        return type(v) is str
    if want == "integer":
        return type(v) is int
    return type(v) in (int, float)


def _read_tokens(meta: Mapping[str, Any], where: str) -> list[str]:
    raw = _array(meta, "tokens", where)
    if not raw:
        raise InputError(f"{where}: no tokenizer.ggml.tokens array; the file has no vocabulary")
    if set(map(type, raw)) != {str}:
        raise _bad_elements("tokens", where, raw, "string")
    # llama.cpp renames an empty token so every id keeps a distinct text
    tokens = raw if all(raw) else [t or f"[EMPTY_{i}]" for i, t in enumerate(raw)]
    if len(set(tokens)) != len(tokens):
        seen: set[str] = set()
        dup = next(t for t in tokens if t in seen or seen.add(t))  # type: ignore[func-returns-value]
        raise InputError(
            f"{where}: token {dup!r} appears twice in tokenizer.ggml.tokens, which llama.cpp "
            "refuses to load"
        )
    return list(tokens)


def _read_attrs(meta: Mapping[str, Any], n: int, where: str) -> list[int]:
    types = _array(meta, "token_type", where)
    if types is None:
        return [NORMAL] * n
    if len(types) < n:
        raise InputError(
            f"{where}: tokenizer.ggml.token_type has {len(types)} entries for {n} tokens"
        )
    types = types[:n]
    if not set(map(type, types)) <= {int}:
        raise _bad_elements("token_type", where, types, "integer")
    if 0 <= min(types) and max(types) < len(_TYPE_ATTR):
        return list(map(_TYPE_ATTR.__getitem__, types))
    return [_TYPE_ATTR[t] if 0 <= t < len(_TYPE_ATTR) else 0 for t in types]


def _read_scores(meta: Mapping[str, Any], n: int, where: str) -> list[float]:
    raw = _array(meta, "scores", where)
    if raw is None:
        return [0.0] * n
    if len(raw) < n:
        raise InputError(f"{where}: tokenizer.ggml.scores has {len(raw)} entries for {n} tokens")
    raw = raw[:n]
    if not set(map(type, raw)) <= {int, float}:
        raise _bad_elements("scores", where, raw, "number")
    return [float(s) for s in raw]


def _read_merges(
    meta: Mapping[str, Any], where: str, required: bool
) -> Sequence[str] | GGUFArray | None:
    value = meta.get(_K + "merges")
    if isinstance(value, GGUFArray) and value.type == STRING:
        return value  # strings by type; their UTF-8 is checked where they are decoded
    raw = _array(meta, "merges", where)
    if raw is None:
        if required:
            raise InputError(
                f"{where}: a BPE vocabulary without tokenizer.ggml.merges, which llama.cpp "
                "refuses to load"
            )
        return None
    if not set(map(type, raw)) <= {str}:
        raise _bad_elements("merges", where, raw, "string")
    return raw


def _read_charsmap(meta: Mapping[str, Any], where: str) -> bytes:
    raw = _array(meta, "precompiled_charsmap", where)
    if raw is None:
        return b""
    if not all(type(b) is int and -128 <= b < 256 for b in raw):
        raise _bad_elements("precompiled_charsmap", where, raw, "integer")
    blob = bytes(b & 0xFF for b in raw)
    size = int.from_bytes(blob[:4], "little") if len(blob) >= 4 else -1
    if size < 0 or size + 4 >= len(blob) or size % 4:
        raise InputError(
            f"{where}: tokenizer.ggml.precompiled_charsmap is damaged (its table does not fit "
            "the array), which llama.cpp refuses to load"
        )
    return blob


_FLAG_KEYS: Final = (
    "add_bos_token", "add_eos_token", "add_sep_token", "add_space_prefix",
    "remove_extra_whitespaces", "normalizer.lowercase", "normalizer.strip_accents",
)  # fmt: skip


def _read_flags(meta: Mapping[str, Any], where: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for key in _FLAG_KEYS:
        value = meta.get(_K + key)
        if value is None:
            continue
        if type(value) is not bool:
            raise InputError(
                f"{where}: tokenizer.ggml.{key} is a {type(value).__name__}, not a boolean, "
                "which llama.cpp refuses to load"
            )
        out[key] = value
    return out


def _special_ids(
    meta: Mapping[str, Any], model: str, pre: PreSpec | None, n: int, where: str
) -> dict[str, int]:
    # llama.cpp disables a default past the vocabulary, and keeps it when the file's id is
    special = {role: i for role, i in _DEFAULT_IDS.get(model, {}).items() if i < n}
    if pre is not None and pre.no_bos:
        special.pop("bos", None)
    for role, key in SPECIAL_ID_KEYS:
        value = meta.get(_K + key)
        if value is None:
            continue
        if type(value) is not int:
            raise InputError(
                f"{where}: tokenizer.ggml.{key} is a {type(value).__name__}, not an integer id, "
                "which llama.cpp refuses to load"
            )
        if 0 <= value < n:
            special[role] = value
    return special


def _add_flags(
    kind: ModelKind, pre: PreSpec | None, flags: dict[str, bool]
) -> tuple[bool, bool, bool]:
    bos = kind in ("spm", "wpm") or (pre is not None and pre.add_bos)
    eos = kind == "ugm"
    sep = kind == "wpm" or (pre is not None and pre.add_sep)
    bos = flags.get("add_bos_token", bos)
    eos = flags.get("add_eos_token", eos)
    sep = flags.get("add_sep_token", sep)
    if pre is not None and pre.name == "gemma4":
        bos = True  # llama.cpp overrides the file for Gemma 4 (PR 21500)
    # what llama_vocab::impl::tokenize adds with add_special: WordPiece always BOS and SEP;
    # RWKV, PLaMo-2 and the test model nothing, whatever the flags say
    if kind in ("rwkv", "plamo2", "test"):
        return False, False, False
    if kind == "wpm":
        bos, eos, sep = True, False, True
    return bos, eos, sep


def _mark_by_text(
    attrs: list[int], tokens: list[str], ids: dict[str, int], special: dict[str, int]
) -> dict[str, list[int]]:
    """llama.cpp's fixes to token attributes by token text (llama_vocab::impl::load); returns
    the FIM roles whose token llama.cpp picks in hash order among several candidates."""
    ambiguous: dict[str, list[int]] = {}
    for role, texts in _FIM_TEXTS.items():
        if role in special:
            continue
        found = [ids[t] for t in texts if t in ids]
        if len(found) > 1 and not all(attrs[i] & CONTROL for i in found):
            ambiguous[role] = found
            continue
        for i in found:
            attrs[i] |= CONTROL
        if found:
            special[role] = found[0]
    for i in itertools.compress(range(len(attrs)), map(CONTROL.__and__, attrs)):
        if "unused" in tokens[i]:
            attrs[i] |= UNUSED
    eog = {ids[t] for t in _EOG_TEXTS if t in ids}
    for i in eog:
        attrs[i] |= CONTROL
    for t in _GPT_OSS_TEXTS:
        if t in ids:
            attrs[ids[t]] = USER_DEFINED
    eog |= {special[r] for r in ("fim_pad", "fim_rep", "fim_sep", "eos", "eot", "eom")
            if r in special}  # fmt: skip
    eog_texts = {tokens[i] for i in eog}
    # gpt-oss and solar-open: "<|end|>" ends no generation there, and is matched in text
    call = bool({"<|call|>", "<|calls|>"} & eog_texts)
    if "<|end|>" in eog_texts and call and {"<|return|>", "<|flush|>"} & eog_texts:
        attrs[ids["<|end|>"]] = USER_DEFINED
    # gemma 4 and PLaMo: "</s>" is plain text
    if {"<|tool_response>", "<|plamo:eos|>"} & eog_texts and "</s>" in eog_texts:
        attrs[ids["</s>"]] = NORMAL
    return ambiguous


def _mark_strip(attrs: list[int], ids: dict[str, int], meta: Mapping[str, Any]) -> None:
    """llama.cpp's per-model LSTRIP/RSTRIP, chosen by pre, architecture and model name."""
    pre = _text(meta.get(_K + "pre"))
    arch = _text(meta.get("general.architecture"))
    name = _text(meta.get("general.name")).lower()
    if any(s in pre for s in ("jina-v2-de", "jina-v2-es", "jina-v2-code")) or any(
        s in arch for s in ("nomic-bert-moe", "jina-bert-v3")
    ):
        if "<mask>" in ids:
            attrs[ids["<mask>"]] |= LSTRIP
    elif "phi-3" in name or "phi3" in name:
        for i, a in enumerate(attrs):
            if a & (CONTROL | USER_DEFINED | UNKNOWN):
                attrs[i] |= RSTRIP
        for t, on in (("</s>", True), ("<unk>", False), ("<s>", False), ("<|endoftext|>", False)):
            if t in ids:
                attrs[ids[t]] = attrs[ids[t]] | RSTRIP if on else attrs[ids[t]] & ~RSTRIP
    elif "modern-bert" in name and "[MASK]" in ids:
        attrs[ids["[MASK]"]] |= LSTRIP


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
