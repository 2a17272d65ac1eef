"""llama.cpp's text splitting and detokenizer clean-up, ported line by line to check emb against.

From src/unicode.cpp (unicode_regex_split and its two hand-written matchers) and
src/llama-vocab.cpp (the regex lists per pre-tokenizer, detokenize's clean_spaces passes) of
ggml-org/llama.cpp (MIT). Character classes come from the `regex` module, as llama.cpp's own
scripts/gen-unicode-data.py makes them. This is the reference the tests hold
emb_cli.sources.gguf.tokenizer to for every BPE pre-tokenizer, not only the three that have a
vendored vocab file with llama.cpp's expected ids.
"""

from __future__ import annotations

import re
from functools import cache

import regex

# The regex lists of llm_tokenizer_bpe, as llama-vocab.cpp spells them (C++ "\\p{L}" is \p{L}).
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_HF = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_C = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
REGEXES = {
    "GPT2": [GPT2],
    "LLAMA3": [LLAMA3],
    "FALCON": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"],
    "DEFAULT": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
    "STARCODER": [r"\p{N}", GPT2],
    "QWEN2": [QWEN2],
    "QWEN35": [
        _C + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+"
    ],
    "TEKKEN": [
        r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"
        r"|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"
        r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    ],
    "GPT4O": [
        r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+" + _C + "?"
        r"|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" + _C + "?"
        r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    ],
    "DEEPSEEK3": [
        r"\p{N}{1,3}",
        "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+"""
        "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+",
    ],
    "SEED_CODER": [
        _C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+"
        r"|\s+(?!\S)|\s+"
    ],
    "UFAKZEKA": [
        r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    ],
    "BAILINGMOE": [
        r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
        r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"
    ],
    "MINICPM5": [
        r"\p{N}{1,3}",
        _C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
        r"|\s+(?!\S)|\s+",
    ],
    "JAIS2": [
        _C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
        r"|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)"
        r"|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"
    ],
    "EXAONE_MOE": [
        _C + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}"
        r"| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"
    ],
}
# tokenizer.ggml.pre -> llama_vocab_pre_type, as llama_vocab::impl::load maps them
PRE_TYPES = {
    **dict.fromkeys(
        ("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
         "a.x-4.0", "mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe",
         "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling"),
        "GPT2",
    ),
    **dict.fromkeys(
        ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
         "lfm2", "jina-v5-nano", "dbrx", "smaug-bpe", "glm4", "chatglm-bpe"),
        "LLAMA3",
    ),
    "falcon": "FALCON",
    "default": "DEFAULT",
    **dict.fromkeys(
        ("starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
         "mellum2"),
        "STARCODER",
    ),
    **dict.fromkeys(
        ("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open",
         "megrez", "grok-2"),
        "QWEN2",
    ),
    "qwen35": "QWEN35",
    "tekken": "TEKKEN",
    **dict.fromkeys(("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"), "GPT4O"),
    **dict.fromkeys(("deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"), "DEEPSEEK3"),
    "seed-coder": "SEED_CODER",
    "ufakzeka": "UFAKZEKA",
    **dict.fromkeys(("bailingmoe", "bailingmoe2", "llada-moe"), "BAILINGMOE"),
    "minicpm5": "MINICPM5",
    "jais-2": "JAIS2",
    "exaone-moe": "EXAONE_MOE",
}  # fmt: skip

_CATS = {"N": 0xD1, "L": 0xD2, "P": 0xD3, "M": 0xD4, "S": 0xD5}  # unicode.cpp k_ucat_cpt
_ASCII = {  # k_ucat_map: what each category is among ASCII code points
    "N": r"0-9",
    "L": r"A-Za-z",
    "P": r"!-#%-*,-/:-;?-@\[-\]_\{\}",
    "M": "",
    "S": r"\$\+<->^`\|~",
}
# unicode.cpp k_ucat_enum: the \p{..} it rewrites; every letter class becomes all letters
_UCATS = {rf"\p{{{c}}}": c[0] for c in ("N", "L", "P", "M", "S", "Lu", "Ll", "Lt", "Lm", "Lo")}


@cache
def flags(cpt: int) -> tuple[str, bool]:
    """(category letter or "", is_whitespace) as gen-unicode-data.py computes them."""
    ch = chr(cpt)
    cat = next((c for c in "NLZMPSC" if regex.match(rf"\p{{{c}}}", ch)), "")
    return cat, bool(regex.match(r"\s", ch))


def _letter(c: int | None) -> bool:
    return c is not None and flags(c)[0] == "L"


def _number(c: int | None) -> bool:
    return c is not None and flags(c)[0] == "N"


def _space(c: int | None) -> bool:
    return c is not None and flags(c)[1]


def _gpt2(cpts: list[int], ranges: list[int]) -> list[int]:
    out: list[int] = []
    start = 0
    for length in ranges:
        ini, end = start, start + length
        start = end

        def get(p: int, ini: int = ini, end: int = end) -> int | None:
            return cpts[p] if ini <= p < end else None

        prev = ini

        def add(e: int) -> int:
            nonlocal prev
            n = e - prev
            if n > 0:
                out.append(n)
            prev = e
            return n

        pos = ini
        while pos < end:
            cpt = get(pos)
            if cpt == ord("'") and pos + 1 < end:
                nxt = get(pos + 1)
                if nxt in map(ord, "stmd"):
                    pos += add(pos + 2)
                    continue
                if pos + 2 < end:
                    pair = chr(nxt or 0) + chr(get(pos + 2) or 0)
                    if pair in ("re", "ve", "ll"):
                        pos += add(pos + 3)
                        continue
            c2 = get(pos + 1) if cpt == ord(" ") else cpt
            if _letter(c2):
                pos += cpt == ord(" ")
                while _letter(get(pos)):
                    pos += 1
                add(pos)
                continue
            if _number(c2):
                pos += cpt == ord(" ")
                while _number(get(pos)):
                    pos += 1
                add(pos)
                continue
            if c2 is not None and not (_space(c2) or _letter(c2) or _number(c2)):
                pos += cpt == ord(" ")
                c = get(pos)
                while c is not None and not (_space(c) or _letter(c) or _number(c)):
                    pos += 1
                    c = get(pos)
                add(pos)
                continue
            n = 0
            while _space(get(pos + n)):
                n += 1
            if n > 1 and get(pos + n) is not None:
                pos += n - 1
                add(pos)
                continue
            if n > 0:
                pos += n
                add(pos)
                continue
            pos += 1
            add(pos)
    return out


def _llama3(cpts: list[int], ranges: list[int]) -> list[int]:
    out: list[int] = []
    start = 0
    for length in ranges:
        ini, end = start, start + length
        start = end

        def get(p: int, ini: int = ini, end: int = end) -> int | None:
            return cpts[p] if ini <= p < end else None

        prev = ini

        def add(e: int) -> int:
            nonlocal prev
            n = e - prev
            if n > 0:
                out.append(n)
            prev = e
            return n

        pos = ini
        while pos < end:
            cpt = get(pos)
            assert cpt is not None
            if cpt == ord("'") and pos + 1 < end:
                nxt = chr(get(pos + 1) or 0).lower()[:1]  # unicode_tolower: one code point
                if nxt in ("s", "t", "m", "d"):
                    pos += add(pos + 2)
                    continue
                if pos + 2 < end:
                    pair = nxt + chr(get(pos + 2) or 0).lower()[:1]
                    if pair in ("re", "ve", "ll"):
                        pos += add(pos + 3)
                        continue
            if cpt not in (13, 10) and not _number(cpt):
                if _letter(cpt) or _letter(get(pos + 1)):
                    pos += 1
                    while _letter(get(pos)):
                        pos += 1
                    add(pos)
                    continue
            if _number(cpt):
                first = pos
                while _number(get(pos)):
                    pos += 1
                    if pos - first >= 3:
                        add(pos)
                        first = pos
                add(pos)
                continue
            c2 = get(pos + 1) if cpt == ord(" ") else cpt
            if not (_space(c2) or _letter(c2) or _number(c2)):  # flags.as_uint() of cpt != 0
                pos += cpt == ord(" ")
                c = c2
                while c is not None and not (_space(c) or _letter(c) or _number(c)):
                    pos += 1
                    c = get(pos)
                while get(pos) in (13, 10):
                    pos += 1
                add(pos)
                continue
            n = 0
            last_rn = 0
            while _space(get(pos + n)):
                if get(pos + n) in (13, 10):
                    last_rn = pos + n + 1
                n += 1
            if last_rn > 0:
                pos = last_rn
                add(pos)
                continue
            if n > 1 and get(pos + n) is not None:
                pos += n - 1
                add(pos)
                continue
            if n > 0:
                pos += n
                add(pos)
                continue
            pos += 1
            add(pos)
    return out


def _collapse_regex(expr: str) -> str:
    """unicode_regex_split's rewrite of \\p{..} for the collapsed text."""
    out = []
    inside = False
    i = 0
    while i < len(expr):
        c = expr[i]
        if c == "[" and (i == 0 or expr[i - 1] != "\\"):
            out.append("[")
            inside = True
            i += 1
            continue
        if inside and c == "]" and expr[i - 1] != "\\":
            out.append("]")
            inside = False
            i += 1
            continue
        if expr.startswith("\\p{", i):
            close = expr.find("}", i + 3)
            pat = expr[i : close + 1]
            if close >= 0 and close <= i + 10 and pat in _UCATS:
                cat = _UCATS[pat]
                body = chr(_CATS[cat]) + _ASCII[cat]
                out.append(body if inside else f"[{body}]")
                i = close + 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _stl(text: str, expr: str, ranges: list[int]) -> list[int]:
    pattern = re.compile(expr, re.ASCII)  # std::regex \s is C isspace
    out: list[int] = []
    start = 0
    for length in ranges:
        at = start
        for m in pattern.finditer(text, start, start + length):
            if m.start() > at:
                out.append(m.start() - at)
            out.append(m.end() - m.start())
            at = m.end()
        if at < start + length:
            out.append(start + length - at)
        start += length
    return out


def split(text: str, exprs: list[str]) -> list[str]:
    """unicode_regex_split without the byte encoding: the pieces, as text."""
    cpts = [ord(c) for c in text]
    collapsed = "".join(
        chr(c) if c < 128 else "\x0b" if flags(c)[1] else chr(_CATS.get(flags(c)[0], 0xD0))
        for c in cpts
    )
    ranges = [len(cpts)]
    for expr in exprs:
        if expr == GPT2:
            ranges = _gpt2(cpts, ranges)
        elif expr in (LLAMA3, LLAMA3_HF):
            ranges = _llama3(cpts, ranges)
        elif any(u in expr for u in _UCATS):
            assert all(ord(c) < 128 for c in expr)
            ranges = _stl(collapsed, _collapse_regex(expr), ranges)
        else:
            wide = "".join("\x0b" if ord(c) > 0x7F and flags(ord(c))[1] else c for c in text)
            ranges = _stl(wide, expr, ranges)
    pieces, at = [], 0
    for n in ranges:
        pieces.append(text[at : at + n])
        at += n
    return pieces


def clean_spaces(text: str) -> str:
    """The three clean_spaces passes of llama_vocab::impl::detokenize, on a Python str."""
    t = list(text)
    out = t[:1]
    for i in range(1, len(t)):
        if t[i - 1] == " " and t[i] in "?!.,":
            out.pop()
        out.append(t[i])
    t, out = out, out[:1]
    i = 1
    while i < len(t):
        x = t[i]
        if x == "'" and i + 1 < len(t) and t[i - 1] == " " and t[i + 1] == " ":
            out.pop()
            t[i + 1] = "\0"
            i += 1
            out.append(x)
            i += 1
            continue
        out.append(x)
        i += 1
    t, out = out, out[:1]
    for i in range(1, len(t)):
        x = t[i]
        if t[i - 1] == " " and x == "'" and i + 1 < len(t):
            x1 = t[i + 1]
            if x1 in "sm" or (i + 2 < len(t) and x1 + t[i + 2] in ("re", "ve")):
                out.pop()
        out.append(x)
    return "".join(out)
