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

from typing import TYPE_CHECKING, Any, Final

from emb_cli.errors import InputError
from emb_cli.sources.gguf.bpe_tables import BpeTables
from emb_cli.sources.gguf.merge_ids import bpe_merge_ids
from emb_cli.sources.gguf.python_models import SPACE
from emb_cli.sources.gguf.tokenizer_spec import TokenizerSpec

if TYPE_CHECKING:
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
    merges = bpe_merge_ids(spec.merges, spec.tokens, spec.ids, where)
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
    barrier = _unknown_chars(spec.ids, pre.byte_encode)
    if barrier is not None:
        splits.append(pre_tokenizers.Split(Regex(barrier), behavior="isolated"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(splits)
    return BpeTables.build(
        tok.to_str(), spec.ids, spec.tokens, merges, pre.ignore_merges, not pre.byte_encode
    )


def _unknown_chars(ids: dict[str, int], byte_encode: bool) -> str | None:
    """A class of the byte symbols that are no token, or None. llama.cpp keeps such a symbol
    as one no merge joins and drops it at the end; tokenizers drops it before merging,
    joining its neighbours. Alone in its own word they behave the same. (Without byte
    encoding, encoders.RustBpe isolates unknown characters itself.)"""
    if not byte_encode:
        return None
    missing = sorted(c for c in _byte_symbols() if c not in ids)
    if not missing:
        return None
    return "[" + "".join(f"\\x{{{ord(c):X}}}" for c in missing) + "]"


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode symbols, one per byte."""
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + n) for n in range(len(extra))]


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
            vocab=spec.ids,
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
