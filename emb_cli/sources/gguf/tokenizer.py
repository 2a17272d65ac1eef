"""A `tokenizers.Tokenizer` rebuilt from a GGUF file's tokenizer metadata, giving llama.cpp's ids.

A GGUF has no tokenizer.json. It stores the vocabulary (`tokenizer.ggml.tokens`, `.token_type`,
`.scores`, `.merges`), the special ids, and two names: `tokenizer.ggml.model`, the algorithm, and
`tokenizer.ggml.pre`, how a BPE vocabulary splits text before merging. What those mean is defined
by llama.cpp (src/llama-vocab.cpp, src/unicode.cpp); this module rebuilds the same pipeline out of
`tokenizers` parts, the engine emb already uses for tokenizer.json files:

  model "gpt2"   byte-level BPE: llama.cpp's split regexes for the pre name, the file's merges
  model "llama"  SentencePiece BPE: spaces escaped to U+2581 and one prepended, adjacent pieces
                 merged best score first, characters outside the vocabulary as <0xXX> bytes
  model "bert"   WordPiece: llama.cpp's normaliser, a U+2581 before every word, longest match

Any other model, and any BPE pre name outside `BPE_PRE_TOKENIZERS`, is refused with InputError:
emb never tokenizes approximately. The construction follows transformers' GGUF converters
(transformers/integrations/gguf/gguf_tokenizer_mapping.py, Apache-2.0) where they agree with
llama.cpp, and llama.cpp where they do not (contractions, token attributes, WordPiece).
Known limits, from what `tokenizers` can express: two special tokens that overlap in the text
are matched leftmost-longest (llama.cpp: longest first); a SentencePiece merge tie between two
splits of one token at overlapping places is broken by rank (llama.cpp: leftmost); lstrip/rstrip
also eat non-ASCII spaces (llama.cpp: ASCII only); a WordPiece word that itself starts with
U+2581 gets no second one; character classes follow the Unicode tables of tokenizers' regex
engine, not llama.cpp's generated ones (they differ only on recently assigned code points).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emb_cli.errors import InputError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# gguf's TokenType / llama.cpp's LLAMA_TOKEN_TYPE_*: the value in tokenizer.ggml.token_type is
# the index here; any other value loads as "undefined", as llama.cpp does.
TOKEN_TYPE_NAMES = ("undefined", "normal", "unknown", "control", "user_defined", "unused", "byte")

# llama_token_attr bits (llama.h), the ones that change how text is tokenized
_UNKNOWN, _UNUSED, _NORMAL, _CONTROL, _USER_DEFINED, _BYTE = (1 << i for i in range(6))
_LSTRIP, _RSTRIP = 1 << 7, 1 << 8
_TYPE_ATTR = (0, _NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE)

# Split regexes as llama.cpp applies them (llm_tokenizer_bpe), in tokenizers' (Oniguruma) syntax.
# Each list is applied in turn, every match and every gap between matches becoming a piece.
# GPT-2's: llama.cpp lists it without the final `|\s+`, which its hand-written matcher
# (unicode_regex_split_custom_gpt2) applies all the same.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# Llama 3's, with llama.cpp's spelled-out cases: `(?i:'s)` would also take "'ſ" (U+017F).
_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
_LLAMA3 = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Mistral's tekken and GPT-4o's: llama.cpp's stand-in for \p{Lu}/\p{Ll}, which it lacks:
# "a letter that is not a-z" and "a letter that is not A-Z"
_UPPER, _LOWER = r"((?=[\p{L}])([^a-z]))", r"((?=[\p{L}])([^A-Z]))"
_TEKKEN = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_GPT4O = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+{_CONTRACTIONS}?"
    rf"|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*{_CONTRACTIONS}?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN35 = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_SEED_CODER = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_UFAKZEKA = r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_BAILINGMOE = (
    r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"
)
_MINICPM5 = (
    r"\p{N}{1,3}",
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
)
_JAIS2 = (
    _CONTRACTIONS
    + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    + "".join(rf"|\s{{{n}}}(?!\S)" for n in (512, 256, 128, 64, 32, 16, 8, 4))
    + r"|\s{1,2}(?!\S)|\s{1}"
)
_EXAONE_MOE = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"
)
# llama.cpp's \p{S} misses "~" among ASCII symbols (unicode.cpp k_ucat_map), so it is
# spelled here as symbols but "~" (Oniguruma class intersection)
_S = r"[\p{S}&&[^~]]"
_DEEPSEEK3 = (
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+"""
    rf"|[^\r\n\p{{L}}\p{{P}}{_S}]?[\p{{L}}\p{{M}}]+| ?[\p{{P}}{_S}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
)
_FALCON = (r"[\p{P}\$\+<=>\^~\|`]+", _GPT2, r"[0-9][0-9][0-9]")
_DEFAULT = (r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", r"[0-9][0-9][0-9]")
_STARCODER = (r"\p{N}", _GPT2)


@dataclass(frozen=True)
class BpePre:
    """How llama.cpp treats one `tokenizer.ggml.pre` name of a byte-level BPE vocabulary."""

    regexes: tuple[str, ...]
    ignore_merges: bool = False  # a piece that is itself a token is taken whole (Llama 3)
    add_bos: bool = False  # default when tokenizer.ggml.add_bos_token is absent
    clean_spaces: bool = True  # decoding drops the space in " ," " ." " 's" ...
    no_bos: bool = False  # the BOS id is unset unless the file gives one (ChatGLM)


# tokenizer.ggml.pre -> BpePre, for model "gpt2": the names llama.cpp's llama_vocab::impl::load
# maps to these regex lists. Checked by tests/sources/test_gguf_tokenizer.py: "gpt-2", "mpt" and
# "falcon" against llama.cpp's own vocab files and expected ids; every name's split against a
# port of llama.cpp's unicode_regex_split.
_BPE_GROUPS: tuple[tuple[tuple[str, ...], BpePre], ...] = (
    (
        (
            "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
            "a.x-4.0", "mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe",
            "exaone4", "mpt", "olmo", "jais",
        ),
        BpePre((_GPT2,)),
    ),
    (("trillion", "granite-docling"), BpePre((_GPT2,), clean_spaces=False)),
    (
        (
            "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
            "lfm2", "jina-v5-nano",
        ),
        BpePre((_LLAMA3,), ignore_merges=True, add_bos=True),
    ),
    (("dbrx", "smaug-bpe"), BpePre((_LLAMA3,))),
    (("glm4", "chatglm-bpe"), BpePre((_LLAMA3,), no_bos=True)),
    (("falcon",), BpePre(_FALCON)),
    (("default",), BpePre(_DEFAULT)),
    (
        ("starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"),
        BpePre(_STARCODER),
    ),
    (("command-r", "smollm"), BpePre(_STARCODER, clean_spaces=False)),
    (("stablelm2", "megrez"), BpePre((_QWEN2,))),
    (
        ("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2"),
        BpePre((_QWEN2,), clean_spaces=False),
    ),
    (("qwen35",), BpePre((_QWEN35,), clean_spaces=False)),
    (("tekken",), BpePre((_TEKKEN,), ignore_merges=True, add_bos=True, clean_spaces=False)),
    (
        ("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"),
        BpePre((_GPT4O,), clean_spaces=False),
    ),
    (
        ("deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"),
        BpePre(_DEEPSEEK3, clean_spaces=False),
    ),
    (("seed-coder",), BpePre((_SEED_CODER,), clean_spaces=False)),
    (("ufakzeka",), BpePre((_UFAKZEKA,), clean_spaces=False)),
    (("bailingmoe", "bailingmoe2", "llada-moe"), BpePre((_BAILINGMOE,), clean_spaces=False)),
    (("minicpm5",), BpePre(_MINICPM5, ignore_merges=True)),
    (("jais-2",), BpePre((_JAIS2,))),
    (("exaone-moe",), BpePre((_EXAONE_MOE,))),
)  # fmt: skip
BPE_PRE_TOKENIZERS: dict[str, BpePre] = {n: pre for names, pre in _BPE_GROUPS for n in names}

# tokenizer.ggml.model -> llama.cpp's algorithm. `pre` only matters for "gpt2": llama.cpp
# ignores it for the other two, and so does this module.
MODELS = {"gpt2": "byte-level BPE", "llama": "SentencePiece BPE", "bert": "WordPiece"}

# llama_vocab::impl::load's defaults per model (before the file's own ids)
_DEFAULT_IDS: dict[str, dict[str, int]] = {
    "llama": {"bos": 1, "eos": 2, "unk": 0},
    "bert": {"bos": 101, "unk": 100, "sep": 102, "pad": 0, "mask": 103},
    "gpt2": {"bos": 11, "eos": 11},
}
# Later keys win, so the deprecated FIM names override the current ones, as in llama.cpp.
_ID_KEYS = (
    ("bos", "bos_token_id"), ("eos", "eos_token_id"), ("eot", "eot_token_id"),
    ("eom", "eom_token_id"), ("unk", "unknown_token_id"), ("sep", "seperator_token_id"),
    ("pad", "padding_token_id"), ("mask", "mask_token_id"),
    ("fim_pre", "fim_pre_token_id"), ("fim_suf", "fim_suf_token_id"),
    ("fim_mid", "fim_mid_token_id"), ("fim_pad", "fim_pad_token_id"),
    ("fim_rep", "fim_rep_token_id"), ("fim_sep", "fim_sep_token_id"),
    ("fim_pre", "prefix_token_id"), ("fim_suf", "suffix_token_id"),
    ("fim_mid", "middle_token_id"),
)  # fmt: skip

# Texts llama.cpp marks CONTROL whatever their type (llama-vocab.cpp, "auto-detect special
# tokens by text"): a CONTROL token is only split out of text when special tokens are parsed.
_FIM_TEXTS = {
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
_EOG_TEXTS = frozenset((
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
))  # fmt: skip
# gpt-oss: always rendered, so USER_DEFINED whatever the file says
_GPT_OSS_TEXTS = ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")

# llama.cpp's detokenizer with clean_spaces, pass by pass (llama_vocab::impl::detokenize)
_CLEAN_SPACES = (
    (" ?", "?"), (" !", "!"), (" .", "."), (" ,", ","),
    (" ' ", "'"),
    (" 's", "'s"), (" 'm", "'m"), (" 're", "'re"), (" 've", "'ve"),
)  # fmt: skip

# WordPiece (llm_tokenizer_wpm_session::preprocess): a character on its own as a word
_WPM_CHINESE = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip
_SPACE = "\u2581"  # SentencePiece's escaped space, also WordPiece's word mark in llama.cpp


def token_types(meta: Mapping[str, Any]) -> list[str]:
    """Names of `tokenizer.ggml.token_type`, one per token: normal, unknown, control, ...

    A file without the array has only normal tokens, as llama.cpp reads it.
    """
    tokens = meta.get("tokenizer.ggml.tokens")
    n = len(tokens) if tokens is not None else 0
    types = meta.get("tokenizer.ggml.token_type")
    if types is None:
        return ["normal"] * n
    names = TOKEN_TYPE_NAMES
    return [names[t] if 0 <= t < len(names) else "undefined" for t in list(types)[:n]]


def is_supported(model: str, pre: str | None) -> bool:
    """Whether `tokenizer_from_gguf` builds this (tokenizer.ggml.model, .pre) pair."""
    if model == "gpt2":
        return (pre or "default") in BPE_PRE_TOKENIZERS
    return model in MODELS


def tokenizer_from_gguf(
    meta: Mapping[str, Any], where: str, *, parse_special: bool = False
) -> Tokenizer:
    """The tokenizer a GGUF's metadata describes, giving the ids llama.cpp gives.

    `meta` maps GGUF keys (tokenizer.ggml.model, .pre, .tokens, .token_type, .scores, .merges,
    the special ids and flags) to decoded Python values; `where` names the file in errors.
    `encode(text, add_special_tokens=False)` is llama.cpp's llama_tokenize(add_special=false);
    with True it adds BOS/EOS (CLS/SEP for bert) the way the file asks. `parse_special=False` is
    llama.cpp's default: control tokens written in the text are tokenized as plain text and only
    user-defined tokens are matched whole; True matches both. `decode(ids, False)` renders
    every token as llama.cpp's detokenizer does with special=true.
    """
    model = meta.get("tokenizer.ggml.model")
    pre_name = meta.get("tokenizer.ggml.pre") or "default"
    if model not in MODELS:
        raise InputError(
            f"{where}: tokenizer.ggml.model {model!r} is not one emb can tokenize exactly as "
            f"llama.cpp does (it can: {', '.join(MODELS)}); give token ids instead of text"
        )
    pre = BPE_PRE_TOKENIZERS.get(pre_name) if model == "gpt2" else None
    if model == "gpt2" and pre is None:
        raise InputError(
            f"{where}: BPE pre-tokenizer {pre_name!r} (tokenizer.ggml.pre) is not one emb can "
            "tokenize exactly as llama.cpp does; give token ids instead of text"
        )
    vocab = _Vocab.read(meta, where, model, pre, parse_special)
    if model == "gpt2":
        assert pre is not None
        tok = _bpe(meta, vocab, pre, where)
    elif model == "llama":
        tok = _spm(vocab, where)
    else:
        tok = _wpm(meta, vocab, where)
    _add_special_tokens(tok, vocab)
    tok.encode_special_tokens = not parse_special
    return tok


@dataclass
class _Vocab:
    """The parts of llama_vocab::impl that decide tokenization."""

    tokens: list[str]
    ids: dict[str, int]
    attrs: list[int]
    scores: list[float]
    special: dict[str, int]  # role (bos, eos, unk, sep ...) -> id, unset roles left out
    add_bos: bool
    add_eos: bool
    add_space_prefix: bool

    @classmethod
    def read(
        cls,
        meta: Mapping[str, Any],
        where: str,
        model: str,
        pre: BpePre | None,
        parse_special: bool = False,
    ) -> _Vocab:
        raw = meta.get("tokenizer.ggml.tokens")
        if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
            raise InputError(f"{where}: no tokenizer.ggml.tokens array; the file has no vocabulary")
        # llama.cpp renames an empty token so every id keeps a distinct text
        tokens = list(raw) if all(raw) else [t or f"[EMPTY_{i}]" for i, t in enumerate(raw)]
        n = len(tokens)
        ids = dict(zip(tokens, range(n), strict=True))
        if len(ids) != n:
            seen: set[str] = set()
            dup = next(t for t in tokens if t in seen or seen.add(t))  # type: ignore[func-returns-value]
            raise InputError(
                f"{where}: token {dup!r} appears twice in tokenizer.ggml.tokens, "
                "which llama.cpp refuses to load"
            )
        types = meta.get("tokenizer.ggml.token_type")
        if types is None:
            attrs = [_NORMAL] * n
        else:
            types = list(types)[:n]
            if len(types) < n:
                raise InputError(
                    f"{where}: tokenizer.ggml.token_type has {len(types)} entries for {n} tokens"
                )
            if 0 <= min(types) and max(types) < len(_TYPE_ATTR):
                attrs = list(map(_TYPE_ATTR.__getitem__, types))
            else:
                attrs = [_TYPE_ATTR[t] if 0 <= t < len(_TYPE_ATTR) else 0 for t in types]
        scores: list[float] = []
        if model == "llama":  # only SentencePiece merging reads them
            raw_scores = meta.get("tokenizer.ggml.scores")
            scores = [0.0] * n if raw_scores is None else list(map(float, raw_scores))[:n]
            if len(scores) < n:
                raise InputError(
                    f"{where}: tokenizer.ggml.scores has {len(scores)} entries for {n} tokens"
                )
        special = _special_ids(meta, model, pre, n)
        _mark_by_text(attrs, tokens, ids, special, where, parse_special)
        _mark_strip(attrs, ids, meta)

        add_bos = model in ("llama", "bert") or (pre is not None and pre.add_bos)
        add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", add_bos))
        add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False))
        add_sep = model == "bert" or (pre is not None and meta.get("tokenizer.ggml.pre") in (
            "jina-v1-en", "jina-v2-code", "roberta-bpe"))  # fmt: skip
        add_sep = bool(meta.get("tokenizer.ggml.add_sep_token", add_sep))
        for flag, role, key in ((add_bos, "bos", "add_bos"), (add_eos, "eos", "add_eos"),
                                (add_sep, "sep", "add_sep")):  # fmt: skip
            if flag and role not in special:
                raise InputError(
                    f"{where}: tokenizer.ggml.{key}_token is true but the file sets no "
                    f"{role} token id, which llama.cpp refuses to load"
                )
        add_space_prefix = model == "llama"
        add_space_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", add_space_prefix))
        return cls(tokens, ids, attrs, scores, special, add_bos, add_eos, add_space_prefix)


def _special_ids(meta: Mapping[str, Any], model: str, pre: BpePre | None, n: int) -> dict[str, int]:
    special = {role: i for role, i in _DEFAULT_IDS[model].items() if i < n}
    if pre is not None and pre.no_bos:
        special.pop("bos", None)
    for role, key in _ID_KEYS:
        value = meta.get(f"tokenizer.ggml.{key}")
        if value is None or isinstance(value, (str, bytes, float)):
            continue
        try:
            value = operator.index(value)
        except TypeError:
            continue
        # llama.cpp keeps the default for an id past the vocabulary
        if 0 <= value < n:
            special[role] = value
    return special


def _mark_by_text(
    attrs: list[int],
    tokens: list[str],
    ids: dict[str, int],
    special: dict[str, int],
    where: str,
    parse_special: bool,
) -> None:
    """llama.cpp's fixes to token attributes by token text (llama_vocab::impl::load)."""
    for role, texts in _FIM_TEXTS.items():
        if role in special:
            continue
        found = [ids[t] for t in texts if t in ids]
        # llama.cpp marks only the first it meets in a hash map, unknowable when several are
        # present. Marking changes the ids of a USER_DEFINED token (matched whole unless
        # CONTROL), and of any token when special tokens are parsed.
        matters = _USER_DEFINED if not parse_special else ~0
        if len(found) > 1 and any(attrs[i] & matters and not attrs[i] & _CONTROL for i in found):
            names = ", ".join(repr(t) for t in texts if t in ids)
            raise InputError(
                f"{where}: the vocabulary has several {role} tokens ({names}) and no "
                f"tokenizer.ggml.{role}_token_id; llama.cpp picks one in hash order, "
                "so emb cannot tokenize it exactly"
            )
        for i in found:
            attrs[i] |= _CONTROL
        if found:
            special[role] = found[0]
    eog = {ids[t] for t in _EOG_TEXTS if t in ids}
    for i in eog:
        attrs[i] |= _CONTROL
    for t in _GPT_OSS_TEXTS:
        if t in ids:
            attrs[ids[t]] = _USER_DEFINED
    eog |= {special[r] for r in ("fim_pad", "fim_rep", "fim_sep", "eos", "eot", "eom")
            if r in special}  # fmt: skip
    # gpt-oss and solar-open: "<|end|>" ends no generation there, and is matched in text
    eog_texts = {tokens[i] for i in eog}
    call = bool({"<|call|>", "<|calls|>"} & eog_texts)
    if "<|end|>" in eog_texts and call and ({"<|return|>", "<|flush|>"} & eog_texts):
        attrs[ids["<|end|>"]] = _USER_DEFINED
    # gemma 4 and paddleocr: "</s>" is plain text
    if "<|tool_response>" in eog_texts and "</s>" in eog_texts:
        attrs[ids["</s>"]] = _NORMAL


def _mark_strip(attrs: list[int], ids: dict[str, int], meta: Mapping[str, Any]) -> None:
    """llama.cpp's per-model LSTRIP/RSTRIP, chosen by pre, architecture and model name."""
    pre = str(meta.get("tokenizer.ggml.pre") or "")
    arch = str(meta.get("general.architecture") or "")
    name = str(meta.get("general.name") or "").lower()
    if any(s in pre for s in ("jina-v2-de", "jina-v2-es", "jina-v2-code")) or any(
        s in arch for s in ("nomic-bert-moe", "jina-bert-v3")
    ):
        if "<mask>" in ids:
            attrs[ids["<mask>"]] |= _LSTRIP
    elif "phi-3" in name or "phi3" in name:
        for i, a in enumerate(attrs):
            if a & (_CONTROL | _USER_DEFINED | _UNKNOWN):
                attrs[i] |= _RSTRIP
        if "</s>" in ids:
            attrs[ids["</s>"]] |= _RSTRIP
        for t in ("<unk>", "<s>", "<|endoftext|>"):
            if t in ids:
                attrs[ids[t]] &= ~_RSTRIP
    elif "modern-bert" in name and "[MASK]" in ids:
        attrs[ids["[MASK]"]] |= _LSTRIP


def _bpe(meta: Mapping[str, Any], vocab: _Vocab, pre: BpePre, where: str) -> Tokenizer:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    merges = meta.get("tokenizer.ggml.merges")
    if merges is None:
        raise InputError(f"{where}: a gpt2 (BPE) vocabulary without tokenizer.ggml.merges")
    pairs = _bpe_pairs(merges)
    try:
        bpe = models.BPE(vocab=vocab.ids, merges=pairs, ignore_merges=pre.ignore_merges)
    except Exception as exc:  # tokenizers raises a bare Exception for a merge it cannot place
        raise InputError(
            f"{where}: tokenizer.ggml.merges does not fit tokenizer.ggml.tokens ({exc}); "
            "emb cannot tokenize this vocabulary exactly as llama.cpp does"
        ) from exc
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in pre.regexes]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    steps: list[Any] = [decoders.ByteLevel()]
    if vocab.add_space_prefix:
        steps.append(decoders.Strip(content=" ", left=1, right=0))
    if pre.clean_spaces:
        steps += [decoders.Replace(a, b) for a, b in _CLEAN_SPACES]
    tok.decoder = decoders.Sequence(steps)
    _bos_eos(tok, vocab)
    return tok


def _bpe_pairs(merges: Sequence[str]) -> list[tuple[str, str]]:
    """(left, right) per merge, split as llama.cpp does: at the first space after the first
    character; a pair seen twice keeps its first rank, a line without a space is ignored."""
    merges = merges if isinstance(merges, list) else list(merges)
    # C-speed passes (280,000 lines): str.partition is 3x faster than str.split here
    if ("\n" + "\n".join(merges)).find("\n ") < 0:  # no line starts with a space
        halves = map(str.partition, merges, itertools.repeat(" "))
        pairs: list[tuple[str, str]] = list(map(operator.itemgetter(0, 2), halves))
        if "" in map(operator.itemgetter(1), pairs):
            pairs = [p for p in pairs if p[1]]
    else:
        pairs = []
        for m in merges:
            cut = m.find(" ", 1)
            if cut > 0:
                pairs.append((m[:cut], m[cut + 1 :]))
    if len(set(merges)) != len(merges):
        pairs = list(dict.fromkeys(pairs))
    return pairs


def _spm(vocab: _Vocab, where: str) -> Tokenizer:
    from tokenizers import Tokenizer, decoders, models, normalizers

    tok = Tokenizer(
        models.BPE(vocab=vocab.ids, merges=_spm_merges(vocab, where), byte_fallback=True)
    )
    steps: list[Any] = [normalizers.Replace(" ", _SPACE)]
    if vocab.add_space_prefix:
        # per text segment between special tokens, as llama.cpp prefixes a space to the
        # first fragment and to every fragment after a special token
        steps.insert(0, normalizers.Prepend(_SPACE))
    tok.normalizer = normalizers.Sequence(steps)
    dec: list[Any] = [decoders.Replace(_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if vocab.add_space_prefix:
        dec.append(decoders.Strip(content=" ", left=1, right=0))
    tok.decoder = decoders.Sequence(dec)
    _bos_eos(tok, vocab)
    return tok


def _spm_merges(vocab: _Vocab, where: str) -> list[tuple[str, str]]:
    """BPE merges that replay llama.cpp's SentencePiece merging.

    llama.cpp (llm_tokenizer_spm_session) starts from single characters and merges two adjacent
    symbols whenever their concatenation is a token, highest score first, leftmost among equal
    scores. So every split of a token into two tokens is a merge, ranked by that token's score;
    among equal scores the longer left piece goes first, as in transformers' generate_merges,
    which keeps runs like "▁▁▁▁" growing from the left. Built in one pass over the vocabulary:
    no index lookups in lists, no re-sorting per token (transformers issue 40334).
    """
    ids = vocab.ids
    scores = vocab.scores
    ranked: list[tuple[float, int, int, int, str, str]] = []
    for i, tok in enumerate(vocab.tokens):
        n = len(tok)
        if n < 2:
            continue
        score = scores[i]
        for k in range(1, n):
            left, right = tok[:k], tok[k:]
            if left in ids:
                if right in ids:
                    ranked.append((-score, -k, k - n, i, left, right))
                    continue
                if n - k > 1:
                    continue
            elif k > 1 or (n - k > 1 and right not in ids):
                continue
            # a single character that is no token can still be merged by llama.cpp, but a
            # tokenizers merge needs both sides in the vocabulary
            raise InputError(
                f"{where}: SentencePiece token {tok!r} is built from {left!r} + {right!r}, "
                "one of which is no token; emb cannot tokenize this vocabulary exactly"
            )
    ranked.sort()
    return [(r[4], r[5]) for r in ranked]


def _wpm(meta: Mapping[str, Any], vocab: _Vocab, where: str) -> Tokenizer:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    unk = vocab.special.get("unk")
    if unk is None:
        raise InputError(f"{where}: a bert (WordPiece) vocabulary without an unknown token id")
    # llama.cpp prefixes every word with U+2581 and looks up "▁word" first, then the rest with
    # no prefix: the file's tokens already carry that spelling, so WordPiece gets them as they
    # are, with an empty continuation prefix and no word-length limit (llama.cpp has none).
    tok = Tokenizer(
        models.WordPiece(
            vocab=vocab.ids,
            unk_token=vocab.tokens[unk],
            continuing_subword_prefix="",
            max_input_chars_per_word=1 << 62,
        )
    )
    lowercase = bool(meta.get("tokenizer.ggml.normalizer.lowercase", True))
    strip = bool(meta.get("tokenizer.ggml.normalizer.strip_accents", lowercase))
    norm: list[Any] = []
    if strip:
        # llama.cpp keeps only the first code point of a character's NFD: for a Hangul
        # syllable that is its leading consonant, one per block of 588 syllables (U+AC00..)
        for lead in range(19):
            first = 0xAC00 + 588 * lead
            norm.append(
                normalizers.Replace(
                    Regex(f"[\\x{{{first:X}}}-\\x{{{first + 587:X}}}]"), chr(0x1100 + lead)
                )
            )
        norm.append(normalizers.NFD())
    # control characters, U+0000 and U+FFFD are dropped; whitespace breaks words
    norm.append(normalizers.Replace(Regex(r"(?!\s)[\p{C}\x{FFFD}]"), ""))
    if strip:
        norm.append(normalizers.Replace(Regex(r"\p{M}"), ""))
    if lowercase:
        # llama.cpp lowercases one code point to one: "İ" to "i", not "i̇"
        norm += [normalizers.Replace("\u0130", "i"), normalizers.Lowercase()]
    tok.normalizer = normalizers.Sequence(norm)
    cjk = "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in _WPM_CHINESE)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            # punctuation, ASCII symbols and CJK ideographs are words of their own
            pre_tokenizers.Split(Regex(f"[\\p{{P}}\\$\\+<=>\\^`\\|~{cjk}]"), behavior="isolated"),
            pre_tokenizers.Metaspace(replacement=_SPACE, prepend_scheme="always", split=False),
        ]
    )
    tok.decoder = decoders.Sequence(
        [decoders.Replace(_SPACE, " "), decoders.Fuse()]
        + [decoders.Replace(a, b) for a, b in _CLEAN_SPACES]
    )
    _template(tok, vocab, [r for r in ("bos",) if r in vocab.special],
              [r for r in ("sep",) if r in vocab.special])  # fmt: skip
    return tok


def _bos_eos(tok: Tokenizer, vocab: _Vocab) -> None:
    _template(tok, vocab, ["bos"] if vocab.add_bos else [], ["eos"] if vocab.add_eos else [])


def _template(tok: Tokenizer, vocab: _Vocab, before: list[str], after: list[str]) -> None:
    """add_special_tokens=True: the ids llama.cpp adds with add_special=true."""
    from tokenizers import processors

    if not before and not after:
        return
    # roles, not token texts, name the pieces: a token text may hold spaces or colons
    head = [r.upper() for r in before]
    tail = [r.upper() for r in after]
    special = [
        {"id": r.upper(), "ids": [vocab.special[r]], "tokens": [vocab.tokens[vocab.special[r]]]}
        for r in dict.fromkeys(before + after)
    ]
    tok.post_processor = processors.TemplateProcessing(
        single=[*head, "$A", *tail],
        pair=[*head, "$A", *tail, *head, "$B:1", *tail],
        special_tokens=special,
    )


def _add_special_tokens(tok: Tokenizer, vocab: _Vocab) -> None:
    """Tokens llama.cpp matches whole in the text before the model sees it.

    CONTROL and UNKNOWN ones only when special tokens are parsed: tokenizers' special added
    tokens, which `encode_special_tokens` turns off. USER_DEFINED ones always: plain added
    tokens. All are matched in the raw text (normalized=False), as llama.cpp does.
    """
    from tokenizers import AddedToken

    special: list[AddedToken] = []
    plain: list[AddedToken] = []
    marked = _CONTROL | _UNKNOWN | _USER_DEFINED
    for i in itertools.compress(range(len(vocab.attrs)), map(marked.__and__, vocab.attrs)):
        a = vocab.attrs[i]
        added = AddedToken(
            vocab.tokens[i],
            lstrip=bool(a & _LSTRIP),
            rstrip=bool(a & _RSTRIP),
            normalized=False,
            special=bool(a & (_CONTROL | _UNKNOWN)),
        )
        (special if a & (_CONTROL | _UNKNOWN) else plain).append(added)
    if special:
        tok.add_special_tokens(special)
    if plain:
        tok.add_tokens(plain)
