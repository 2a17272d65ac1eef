"""How llama.cpp splits text before BPE merging, for every `tokenizer.ggml.pre` name it knows.

Each llama.cpp pre-tokenizer type (llm_tokenizer_bpe in src/llama-vocab.cpp) is a list of
regexes applied in turn, every match and every gap between matches becoming a piece. llama.cpp
runs them three ways (src/unicode.cpp unicode_regex_split): hand-written matchers for a few
(GPT-2, Llama 3, Qwen 2, Qwen 3.5, Kimi-K2, AFMoE digits, newline runs); std::regex on a
"collapsed" text where every non-ASCII code point stands for its category, for regexes with
\\p{..}; std::wregex on the code points, with non-ASCII whitespace turned into \\v, for the rest.
The regexes below are written in tokenizers' (Oniguruma) syntax to match what those three do:
- \\p{Lu} \\p{Ll} \\p{Lt} \\p{Lm} \\p{Lo} all collapse to "a letter" in llama.cpp, so they are
  \\p{L} here;
- a std::wregex class that spans non-ASCII whitespace cannot match it (it was turned into \\v),
  so such ranges leave whitespace out;
- `$` is `\\z` (Oniguruma's `$` also matches before a newline), `\\d` is [0-9].
tests/sources/test_gguf_tokenizer.py holds each name to llama.cpp's own vocab test files where
they exist, and to a port of llama.cpp's splitter for every name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

# Contractions as llama.cpp spells them out: `(?i:'s)` would also take "'\u017f"
_C = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
# GPT-2's, with the `|\s+` llama.cpp's hand-written matcher applies though the regex lacks it
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (
    _C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = _C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_QWEN35 = (
    _C + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# llama.cpp's stand-ins for \p{Lu}/\p{Ll}, which it lacks: "a letter but a-z", "a letter but A-Z"
_UP, _LOW = r"((?=[\p{L}])([^a-z]))", r"((?=[\p{L}])([^A-Z]))"
_TAIL = r"| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_TEKKEN = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UP}*{_LOW}+|[^\r\n\p{{L}}\p{{N}}]?{_UP}+{_LOW}*|\p{{N}}" + _TAIL
)
_GPT4O = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UP}*{_LOW}+{_C}?|[^\r\n\p{{L}}\p{{N}}]?{_UP}+{_LOW}*{_C}?"
    r"|\p{N}{1,3}" + _TAIL
)
_UPM, _LOWM = r"((?=[\p{L}\p{M}])([^a-z]))", r"((?=[\p{L}\p{M}])([^A-Z]))"
_GRANITE_EMB = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPM}*{_LOWM}+{_C}?|[^\r\n\p{{L}}\p{{N}}]?{_UPM}+{_LOWM}*{_C}?"
    r"|\p{N}{1,3}" + _TAIL
)
# [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and [\p{Ll}\p{Lm}\p{Lo}\p{M}] both collapse to letters and marks
_LM = r"[\p{L}\p{M}]"
_CASED = rf"[^\r\n\p{{L}}\p{{N}}]?{_LM}*{_LM}+{_C}?|[^\r\n\p{{L}}\p{{N}}]?{_LM}+{_LM}*{_C}?"
_YOUTU = (
    r"[\x{AC00}-\x{D7A3}\x{3131}-\x{318E}]+|[\x{FF01}\x{2026}\x{201C}\x{201D}\x{2018}"
    r"\x{2019}\x{2014}\x{FF1A}\x{FF1B}\x{FF0C}\x{3001}-\x{303F}\x{FE30}-\x{FE4F}]+|["
    r"\x{3105}-\x{312F}]+|[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+",
    _CASED + r"|\p{N}" + _TAIL,
)
# \d{1,3} groups counted from the right of a digit run (AFMoE's matcher, which llama.cpp
# also runs for tiny_aya's regex)
_DIGITS3 = r"\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))"
_TINY_AYA = (_DIGITS3, _CASED + r"|\p{N}{1,3}" + _TAIL)
_SEED_CODER = (
    _C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_UFAKZEKA = r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_BAILINGMOE = (
    r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"
)
_MINICPM5 = (
    r"\p{N}{1,3}",
    _C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
)
_JAIS2 = (
    _C
    + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    + "".join(rf"|\s{{{n}}}(?!\S)" for n in (512, 256, 128, 64, 32, 16, 8, 4))
    + r"|\s{1,2}(?!\S)|\s{1}"
)
_EXAONE_MOE = (
    _C + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"
)
_CJK3 = r"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+"
_DS3_MAIN = (
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+"""
    r"|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+"
)
_DEEPSEEK3 = (r"\p{N}{1,3}", _CJK3, _DS3_MAIN + r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_SPARK2_5 = (r"\p{N}{1,3}", _CJK3, _DS3_MAIN + r"|[\r\n]|\s+(?!\S)|\s+", r"\p{N}")
# deepseek-llm's and deepseek-coder's CJK class spans U+0800..U+4E00, where std::wregex never
# sees the whitespace (U+1680, U+2000.., U+3000 ...): it was turned into \v
_DS_CJK = r"[[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]&&[^\s]]+"
_DS_LETTERS = (
    r"\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-"
    r"\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}"
    r"\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}"
    r"\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-"
    r"\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}"
    r"\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}"
    r"\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}"
    r"\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-"
    r"\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}"
    r"\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}"
    r"\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-"
    r"\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-"
    r"\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}"
    r"\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-"
    r"\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-"
    r"\x{1E943}"
)
_DEEPSEEK_LLM = (
    r"[\r\n]",
    rf"\s?[A-Za-z{_DS_LETTERS}]+",
    # its class ends with U+3000..U+3002, but U+3000 is whitespace, turned into \v
    r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3001}-\x{3002}]+",
    r"\s+\z",
    _DS_CJK,
    r"\p{N}+",
)
_DEEPSEEK_CODER = (r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", _DS_CJK, r"\p{N}")
# "[^(\s|.,!?...)]" as written: the parentheses and the bar are in the class
_BLOOM = r" ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+"
_CHAMELEON = (
    r"<sentinel:[0-9]+>",
    r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
    r"([\t\n]|    |  )",
    r"\p{N}",
    r"[\p{P}!-/:-@\[-`{-~]",
    _GPT2,
)
# Kimi-K2's hand-written matcher: \p{Han} is llama.cpp's unicode_cpt_is_han ranges, and the
# cased letter classes are plain letters (it has no case tables)
_HAN = (
    r"\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{2CEB0}-\x{2EBEF}\x{F900}-\x{FAFF}"
    r"\x{2F800}-\x{2FA1F}"
)
_KIMI_K2 = (
    rf"[{_HAN}]+|[^\r\n\p{{L}}\p{{N}}]?(?:(?![{_HAN}])\p{{L}})+"
    r"(?:'[sStTmMdD]|'[rR][eE]|'[vV][eE]|'[lL][lL])?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# superbpe's second regex, (?=(\d{3})+(?!\d)), matches empty strings: llama.cpp splits at each
# place it matches. Here the pieces between those places are matched instead.
_SUPERBPE = (r"\p{N}+", r"[\s\S]+?(?=(?:[0-9]{3})+(?![0-9]))|[\s\S]+")
_AFMOE = (
    _DIGITS3,
    r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{8C48}-\x{FAFF}\x{3040}-\x{309F}\x{30A0}-"
    r"\x{30FF}\x{FF65}-\x{FF9F}\x{2F00}-\x{2FDF}\x{E40}-\x{E7F}\x{E80}-\x{EFF}\x{1780}-"
    r"\x{17FF}\x{1000}-\x{109F}\x{AA60}-\x{AA7F}\x{A9E0}-\x{A9FF}\x{AC00}-\x{D7AF}"
    r"\x{1100}-\x{11FF}]+",
    _DS3_MAIN + r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
)
_NEWLINES = r"[^\n]+|\n+"


@dataclass(frozen=True)
class PreSpec:
    """One llama.cpp pre-tokenizer type with the flags llama_vocab::impl::load sets for a name."""

    name: str
    regexes: tuple[str, ...]
    ignore_merges: bool = False  # a piece that is itself a token is taken whole
    add_bos: bool = False  # default when tokenizer.ggml.add_bos_token is absent
    add_sep: bool = False
    clean_spaces: bool = True  # decoding drops the space in " ," " ." " 's" ...
    no_bos: bool = False  # the BOS id is unset unless the file gives one (ChatGLM)
    byte_encode: bool = True  # GPT-2's byte-to-unicode symbols; False: UTF-8, <0xXX> bytes
    escape_whitespaces: bool = False  # spaces become U+2581 before splitting (Gemma 4)
    newline_tokens: bool = False  # a run of newlines that is a token is taken whole (Gemma 4)


_P = PreSpec
_NOCLEAN = {"clean_spaces": False}
# (names, regexes, flags) in llama-vocab.cpp's order
_GROUPS: Final[tuple[tuple[tuple[str, ...], tuple[str, ...], dict[str, bool]], ...]] = (
    (("default",), (r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"), {}),
    (("minicpm5",), _MINICPM5, {"ignore_merges": True}),
    (("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
      "jina-v5-nano"), (_LLAMA3,), {"ignore_merges": True, "add_bos": True}),
    (("deepseek-llm",), _DEEPSEEK_LLM, _NOCLEAN),
    (("deepseek-coder",), _DEEPSEEK_CODER, _NOCLEAN),
    (("deepseek-v3",), _DEEPSEEK3, _NOCLEAN),
    (("spark2_5",), _SPARK2_5, _NOCLEAN),
    (("youtu",), _YOUTU, {"clean_spaces": False, "ignore_merges": True}),
    (("falcon",), (r"[\p{P}\$\+<=>\^~\|`]+", _GPT2, r"[0-9][0-9][0-9]"), {}),
    (("mpt",), (_GPT2,), {}),
    (("starcoder",), (r"\p{N}", _GPT2), {}),
    (("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
      "mellum", "modern-bert"), (_GPT2,), {}),
    (("jais-2",), (_JAIS2,), {}),
    (("gemma4", "granite-embed-multi-311m"), (_NEWLINES,),
     {"byte_encode": False, "escape_whitespaces": True, "newline_tokens": True}),
    (("sarvam-moe",), (_NEWLINES,),
     {"byte_encode": False, "escape_whitespaces": True, "clean_spaces": False}),
    (("jina-v1-en", "jina-v2-code", "roberta-bpe"), (_GPT2,), {"add_sep": True}),
    (("whitespace",), (r"\S+",), {"byte_encode": False}),
    (("refact",), (r"\p{N}", _GPT2), {}),
    (("command-r",), (r"\p{N}", _GPT2), _NOCLEAN),
    (("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"), (_QWEN2,), _NOCLEAN),
    (("qwen35",), (_QWEN35,), _NOCLEAN),
    (("stablelm2",), (_QWEN2,), {}),
    (("olmo",), (_GPT2,), {}),
    (("dbrx", "smaug-bpe"), (_LLAMA3,), {}),
    (("poro-chat",), (_BLOOM,), _NOCLEAN),
    (("chatglm-bpe",), (_LLAMA3,), {"no_bos": True}),
    (("glm4", "glm5"), (_LLAMA3,), {"no_bos": True, "ignore_merges": True}),
    (("viking",), (_BLOOM, r"\p{N}"), _NOCLEAN),
    (("jais",), (_GPT2,), {}),
    (("tekken",), (_TEKKEN,), {"clean_spaces": False, "ignore_merges": True, "add_bos": True}),
    (("smollm",), (r"\p{N}", _GPT2), _NOCLEAN),
    (("codeshell",), (r"\p{N}", _GPT2), {}),
    (("bloom", "gpt3-finnish"), (_BLOOM,), {}),
    (("exaone",), (r"\p{N}", _GPT2), {}),
    (("exaone4",), (_GPT2,), {}),
    (("exaone-moe",), (_EXAONE_MOE,), {}),
    (("chameleon",), _CHAMELEON, {"add_bos": True, "clean_spaces": False}),
    (("minerva-7b",), (r"\p{N}", _GPT2), {}),
    (("megrez",), (_QWEN2,), {}),
    (("gpt-4o", "llama4", "kanana2", "talkie"), (_GPT4O,), _NOCLEAN),
    (("granite-embed-multi-97m",), (_GRANITE_EMB,),
     {"clean_spaces": False, "ignore_merges": True}),
    (("tiny_aya", "cohere2moe"), _TINY_AYA, _NOCLEAN),
    (("superbpe",), _SUPERBPE, _NOCLEAN),
    (("trillion", "granite-docling"), (_GPT2,), _NOCLEAN),
    (("bailingmoe", "bailingmoe2", "llada-moe"), (_BAILINGMOE,), _NOCLEAN),
    (("seed-coder",), (_SEED_CODER,), _NOCLEAN),
    (("hunyuan",), (_QWEN2,), _NOCLEAN),
    (("hunyuan-dense", "hy_v4", "joyai-llm"), _DEEPSEEK3, _NOCLEAN),
    (("kimi-k2",), (_KIMI_K2,), _NOCLEAN),
    (("ufakzeka",), (_UFAKZEKA,), _NOCLEAN),
    (("grok-2",), (_QWEN2,), _NOCLEAN),
    (("afmoe",), _AFMOE, _NOCLEAN),
    (("laguna",), (_NEWLINES, _QWEN2), _NOCLEAN),
    (("minimax-m2",), (_GPT4O,), _NOCLEAN),
    (("solar-open",), (_QWEN2,), _NOCLEAN),
    (("mellum2",), (r"\p{N}", _GPT2), {}),
)  # fmt: skip
PRE_TOKENIZERS: Final[dict[str, PreSpec]] = {
    name: _P(name, regexes, **flags) for names, regexes, flags in _GROUPS for name in names
}

# tokenizer.ggml.model -> llama.cpp's algorithm (llama_vocab_type)
MODELS: Final = {
    "llama": "spm", "bert": "wpm", "gpt2": "bpe", "hybriddna": "bpe", "whitespace": "bpe",
    "t5": "ugm", "rwkv": "rwkv", "test": "test", "plamo2": "plamo2", "gemma4": "bpe",
}  # fmt: skip
BPE_MODELS: Final = frozenset(m for m, kind in MODELS.items() if kind == "bpe")


def pre_spec(name: str) -> PreSpec | None:
    """The pre-tokenizer llama.cpp runs for a tokenizer.ggml.pre name, None for one it refuses."""
    return PRE_TOKENIZERS.get(name)


def renamed(spec: PreSpec, name: str) -> PreSpec:
    return replace(spec, name=name)
