"""The parts of llama.cpp's tokenizers that `tokenizers` (Rust) runs exactly, built from a spec.

Byte-level BPE: llama.cpp's split regexes, GPT-2's byte-to-unicode symbols (or raw UTF-8 with
<0xXX> byte tokens for Gemma 4's kind), the file's merges ranked in file order, leftmost first
among equal ranks: tokenizers' BPE does the same. WordPiece: llama.cpp's normaliser (NFD, the
first code point of a Hangul syllable, controls dropped, one-to-one lowercase), a U+2581 before
every word and the longest match. Special tokens are not added here: emb splits them out of
the text itself, in llama.cpp's order (tokenizer.py). Everything built here serialises to
tokenizers' JSON, which is what the on-disk cache keeps.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from emb_cli.errors import InputError
from emb_cli.sources.gguf.bpe_tables import BpeTables
from emb_cli.sources.gguf.python_models import SPACE
from emb_cli.sources.gguf.tokenizer_spec import TokenizerSpec

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

# WordPiece (llm_tokenizer_wpm_session::preprocess): a character on its own as a word
_WPM_CHINESE: Final = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip
# Rust's WordPiece tries every end of a word from the last: cubic on one long word. Longer
# words give [UNK] there, and tokenizer.py sends any text with such a word to the Python path.
WPM_RUST_MAX_CHARS: Final = 100


def bpe_tables(spec: TokenizerSpec, where: str) -> BpeTables:
    """The file's byte-level BPE as tables: its models are built from them on demand."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    pre = spec.pre
    assert pre is not None and spec.merges is not None
    ids = dict(zip(spec.tokens, range(len(spec.tokens)), strict=True))
    merges = bpe_merge_ids(spec.merges, ids, where)
    tok = Tokenizer(models.BPE())
    steps: list[Any] = []
    if spec.model == "whitespace" and spec.lowercase:
        steps += [normalizers.Replace("\u0130", "i"), normalizers.Lowercase()]
    if pre.escape_whitespaces:
        steps.append(normalizers.Replace(" ", SPACE))
    if steps:
        tok.normalizer = normalizers.Sequence(steps)
    splits: list[Any] = []
    if spec.model == "whitespace":
        splits.append(pre_tokenizers.WhitespaceSplit())
    splits += [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in pre.regexes]
    if pre.byte_encode:
        splits.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    barrier = _unknown_chars(spec.tokens, pre.byte_encode)
    if barrier is not None:
        splits.append(pre_tokenizers.Split(Regex(barrier), behavior="isolated"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(splits)
    return BpeTables.build(
        tok.to_str(), ids, spec.tokens, merges, pre.ignore_merges, not pre.byte_encode
    )


def _unknown_chars(tokens: Sequence[str], byte_encode: bool) -> str | None:
    """A class of the byte symbols that are no token, or None. llama.cpp keeps such a symbol
    as one no merge joins and drops it at the end; tokenizers drops it before merging,
    joining its neighbours. Alone in its own word they behave the same. (Without byte
    encoding, encoders.RustBpe isolates unknown characters itself.)"""
    if not byte_encode:
        return None
    missing = sorted(set(_byte_symbols()) - {t for t in tokens if len(t) == 1})
    if not missing:
        return None
    return "[" + "".join(f"\\x{{{ord(c):X}}}" for c in missing) + "]"


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode symbols, one per byte."""
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + n) for n in range(len(extra))]


def bpe_merge_ids(merges: Sequence[str], ids: dict[str, int], where: str) -> np.ndarray:
    """int32 (n, 3): the ids of each merge's left half, right half and result, in rank order,
    as bpe_pairs keeps them; at C speed where every half and result is a token."""
    import numpy as np

    cols = _merge_id_columns(merges, ids)
    if cols is None:
        kept = bpe_pairs(merges, ids, where)
        flat = [ids[x] for a, b in kept for x in (a, b, a + b)]
        return np.asarray(flat, dtype=np.int32).reshape(-1, 3)
    halves, results = cols
    out = np.empty((len(results), 3), dtype=np.int32)
    out[:, :2] = np.asarray(halves, dtype=np.int32).reshape(-1, 2)
    out[:, 2] = results
    # a pair seen twice keeps its first rank
    key = out[:, 0].astype(np.int64) * len(ids) + out[:, 1]
    ordered = np.sort(key)
    if len(ordered) > 1 and (ordered[1:] == ordered[:-1]).any():
        _, first = np.unique(key, return_index=True)
        out = out[np.sort(first)]
    return out


def _merge_id_columns(
    merges: Sequence[str], ids: dict[str, int]
) -> tuple[list[int], list[int]] | None:
    """([left0, right0, left1, ...], [result0, ...]) where every merge is one space between
    two tokens whose join is a token (every real byte-level vocabulary): the whole list split
    and looked up in a few C-level passes. None otherwise: bpe_pairs sorts it out."""
    if not merges:
        return None
    joined = "\n".join(merges)
    n = len(merges)
    if joined.count("\n") != n - 1 or joined.count(" ") != n:
        return None  # a merge with a newline, no space or two spaces
    if joined[0] == " " or "\n " in joined or " \n" in joined or joined[-1] == " ":
        return None  # a half that is empty or starts with the space
    get = ids.get
    halves = list(map(get, joined.replace(" ", "\n").split("\n")))
    results = list(map(get, joined.replace(" ", "").split("\n")))
    if None in halves or None in results:
        return None
    return halves, results  # type: ignore[return-value]


def _split_pairs(merges: Sequence[str]) -> list[tuple[str, str]]:
    """Each merge split at the first space after its first character; none: left out."""
    if ("\n" + "\n".join(merges)).find("\n ") < 0:  # no line starts with a space: C-speed
        halves = map(str.partition, merges, itertools.repeat(" "))
        pairs: list[tuple[str, str]] = list(map(operator.itemgetter(0, 2), halves))
        if "" in map(operator.itemgetter(1), pairs):
            pairs = [p for p in pairs if p[1]]
        return pairs
    pairs = []
    for m in merges:
        cut = m.find(" ", 1)
        if cut > 0:
            pairs.append((m[:cut], m[cut + 1 :]))
    return pairs


def bpe_pairs(merges: Sequence[str], ids: dict[str, int], where: str) -> list[tuple[str, str]]:
    """(left, right) per merge, split as llama.cpp does: at the first space after the first
    character; a pair seen twice keeps its first rank, a line without a space is ignored.

    A merge whose halves are not both tokens can never apply (llama.cpp's symbols are tokens
    or single characters of the text), so it is left out, which keeps every other merge's
    order. A merge that makes a text which is no token is refused: llama.cpp would carry
    that symbol on and spell it out byte by byte, which tokenizers cannot do.
    """
    pairs = _split_pairs(merges)
    if len(set(pairs)) != len(pairs):
        pairs = list(dict.fromkeys(pairs))
    known = ids.__contains__
    sides = (map(operator.itemgetter(k), pairs) for k in (0, 1))
    if all(map(known, map("".join, pairs))) and all(all(map(known, h)) for h in sides):
        return pairs
    kept = []
    for a, b in pairs:
        if known(a) and known(b):
            if not known(a + b):
                raise InputError(
                    f"{where}: merge {a + ' ' + b!r} (tokenizer.ggml.merges) makes {a + b!r}, "
                    "which is no token; emb cannot tokenize this vocabulary exactly as "
                    "llama.cpp does"
                )
            kept.append((a, b))
        elif (len(a) == 1 and not known(a)) or (len(b) == 1 and not known(b)):
            raise InputError(
                f"{where}: merge {a + ' ' + b!r} joins a character that is no token; emb "
                "cannot tokenize this vocabulary exactly as llama.cpp does"
            )
    return kept


def wpm_tokenizer(spec: TokenizerSpec, where: str) -> Tokenizer:
    from tokenizers import Tokenizer, models, pre_tokenizers

    unk = spec.special.get("unk")
    if unk is None:
        raise InputError(f"{where}: a bert (WordPiece) vocabulary without an unknown token id")
    # llama.cpp prefixes every word with U+2581 and looks up "▁word" first, then the rest with
    # no prefix: the file's tokens already carry that spelling, so WordPiece gets them as they
    # are, with an empty continuation prefix.
    tok = Tokenizer(
        models.WordPiece(
            vocab=dict(zip(spec.tokens, range(len(spec.tokens)), strict=True)),
            unk_token=spec.tokens[unk],
            continuing_subword_prefix="",
            max_input_chars_per_word=WPM_RUST_MAX_CHARS,
        )
    )
    tok.normalizer = _wpm_normalizer(spec.lowercase, spec.strip_accents)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            *wpm_word_splits(),
            # a word that already starts with U+2581 gets no second one here: tokenizer.py
            # sends such text to the Python path, which always prefixes one, as llama.cpp
            pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="always", split=False),
        ]
    )
    return tok


def wpm_word_splits() -> list[Any]:
    """llama.cpp's WordPiece words: whitespace breaks them; punctuation, ASCII symbols and
    CJK ideographs are words of their own."""
    from tokenizers import Regex, pre_tokenizers

    cjk = "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in _WPM_CHINESE)
    return [
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex(f"[\\p{{P}}\\$\\+<=>\\^`\\|~{cjk}]"), behavior="isolated"),
    ]


def _wpm_normalizer(lowercase: bool, strip: bool) -> Any:
    from tokenizers import Regex, normalizers

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
    return normalizers.Sequence(norm)
