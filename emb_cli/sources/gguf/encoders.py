"""Each llama.cpp algorithm as a fragment encoder: text between special tokens -> ids.

`build_encoder(spec)` picks one per tokenizer.ggml.model; `encoder_from_cache` rebuilds the
Rust-backed ones from the cache. Calls into Rust go through `rust_call`, which turns a panic
inside tokenizers (pyo3's PanicException derives from BaseException, so `except Exception`
never sees it: Oniguruma's retry limit on a pathological regex is one) into an InputError.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, TypeVar

from emb_cli.errors import InputError
from emb_cli.sources.gguf.bpe_tables import BpeTables
from emb_cli.sources.gguf.plamo2 import Plamo2Encoder
from emb_cli.sources.gguf.python_models import (
    SPACE,
    RwkvEncoder,
    SpmEncoder,
    TestEncoder,
    byte_token,
)
from emb_cli.sources.gguf.rust_models import (
    WPM_RUST_MAX_CHARS,
    bpe_tables,
    wpm_tokenizer,
    wpm_word_splits,
)
from emb_cli.sources.gguf.tokenizer_spec import (
    BYTE,
    NORMAL,
    UNUSED,
    USER_DEFINED,
    TokenizerSpec,
)
from emb_cli.sources.gguf.ugm import Charsmap, UgmEncoder

if TYPE_CHECKING:
    from tokenizers import Tokenizer

T = TypeVar("T")
# Subset models built before the whole one is (a --file streams many pieces)
_MAX_SUBSETS: Final = 3
# A word Rust's WordPiece may see as over WPM_RUST_MAX_CHARS after NFD (at most 4 code points
# per character): such text takes the Python path
_LONG_WORD: Final = re.compile(rf"\S{{{WPM_RUST_MAX_CHARS // 4},}}")
_DNA_MARKER: Final = "\ue000"  # hybriddna's k-mer suffix (llama-vocab.cpp dna_kmer_marker)


def rust_call(where: str, fn: Callable[[], T]) -> T:
    """fn(), with a Rust panic inside tokenizers as an InputError. Rust's panic hook writes
    its report (a backtrace under RUST_BACKTRACE) straight to file descriptor 2: it goes to a
    side file during the call, which is passed on to stderr unless a panic wrote it."""
    with _stderr_aside() as aside:
        try:
            return fn()
        except Exception as exc:  # tokenizers raises a bare Exception for its own errors
            raise _failed(where, exc) from None
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":  # KeyboardInterrupt, SystemExit ...
                raise
            aside.panicked = True
            raise _failed(where, exc) from None


@dataclass
class _Aside:
    panicked: bool = False


@contextmanager
def _stderr_aside() -> Iterator[_Aside]:
    import os
    import tempfile

    state = _Aside()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield state
        return
    side = tempfile.TemporaryFile()
    try:
        os.dup2(side.fileno(), 2)
        try:
            yield state
        finally:
            os.dup2(saved, 2)
            size = os.fstat(side.fileno()).st_size
            if size and not state.panicked:
                with contextlib.suppress(OSError):
                    os.write(2, os.pread(side.fileno(), size, 0))
    finally:
        os.close(saved)
        side.close()


def _failed(where: str, exc: BaseException) -> InputError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(
        f"{where}: the tokenizer failed on this text ({first}); try a shorter or simpler text"
    )


@dataclass
class SimpleEncoder:
    """An encoder of one fragment at a time (the Python ports)."""

    encode: Callable[[str, bool], list[int]]

    def encode_fragments(self, fragments: Sequence[tuple[str, bool]]) -> list[list[int]]:
        return [self.encode(text, after) for text, after in fragments]

    def cache_doc(self) -> None:
        return None  # the Python ports are rebuilt from the file


@dataclass
class RustBpe:
    """Byte-level BPE in tokenizers, with Gemma 4's whole newline tokens and HybridDNA's
    k-mers handled around it as llama.cpp does. Short texts are encoded by a model of only
    the tokens and merges they can reach (bpe_tables.py); the whole model is built once
    when a text is too long for that, or a look-up needs it."""

    tables: BpeTables
    where: str
    newline_tokens: dict[str, int] = field(default_factory=dict)
    dna: bool = False
    _subsets: int = 0

    @cached_property
    def tok(self) -> Tokenizer:
        return rust_call(self.where, self.tables.full)

    def cache_doc(self) -> dict[str, Any]:
        return {"bpe": self.tables.to_json()}

    def encode_fragments(self, fragments: Sequence[tuple[str, bool]]) -> list[list[int]]:
        if self.dna:
            return [self._dna(text) for text, _ in fragments]
        if not self.newline_tokens:
            return self._rust([t for t, _ in fragments])
        return [self._newlines(text) for text, _ in fragments]

    @cached_property
    def _gaps(self) -> tuple[frozenset[str], bool] | None:
        """Without byte encoding and with <0xXX> tokens missing: the single-character tokens
        (and whether spaces are U+2581), else None."""
        if not self.tables.byte_fallback:
            return None
        ids = self.tables.ids  # the whole model's vocabulary, without building it
        if all(byte_token(b) in ids for b in range(256)):
            return None  # unknown characters become byte tokens, which no merge joins
        escaped = json.loads(self.tables.shell).get("normalizer") is not None
        return frozenset(t for t in ids if len(t) == 1), escaped

    def _rust(self, texts: list[str]) -> list[list[int]]:
        if self._gaps is not None:
            return [self._isolated(t) for t in texts]
        return self._rust_batch(texts)

    def _isolated(self, text: str) -> list[int]:
        """llama.cpp keeps a character that is no token as a symbol no merge joins, then
        spells its bytes with the <0xXX> tokens there are: encode around it."""
        assert self._gaps is not None
        known, escaped = self._gaps
        seen = text.replace(" ", SPACE) if escaped else text
        out: list[int] = []
        start = 0
        for i, c in enumerate(seen):
            if c in known or c == "\n":
                continue
            if start < i:
                out += self._rust_batch([text[start:i]])[0]
            for b in c.encode("utf-8", "surrogatepass"):
                tid = self.tables.ids.get(byte_token(b))
                if tid is not None:
                    out.append(tid)
            start = i + 1
        if start < len(text):
            out += self._rust_batch([text[start:]])[0]
        return out

    def _rust_batch(self, texts: list[str]) -> list[list[int]]:
        def run() -> list[list[int]]:
            tok = self.__dict__.get("tok")
            if tok is None and self._subsets < _MAX_SUBSETS:
                self._subsets += 1
                tok = self.tables.subset(texts)
            if tok is None:
                tok = self.tok
            return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]

        return rust_call(self.where, run)

    def _newlines(self, text: str) -> list[int]:
        # llama.cpp (PR 21343): a word of newlines only that is a token is taken whole
        parts = [p for p in re.split(r"(\n+)", text) if p]
        todo = [p for p in parts if p not in self.newline_tokens]
        done = iter(self._rust(todo)) if todo else iter(())
        out: list[int] = []
        for p in parts:
            tid = self.newline_tokens.get(p)
            out.extend([tid] if tid is not None else next(done))
        return out

    def _dna(self, text: str) -> list[int]:
        """llm_tokenizer_hybriddna_session: <dna>...</dna> as 6-mers, the rest as BPE."""
        ids = [self.tables.ids.get(t) for t in ("<dna>", "</dna>", "<oov>")]
        if None in ids:
            return self._rust([text])[0] if text else []
        begin, end, oov = ids
        assert begin is not None and end is not None and oov is not None
        out: list[int] = []
        pos = 0
        while pos < len(text):
            start = text.find("<dna>", pos)
            if start < 0:
                out += self._rust([text[pos:]])[0]
                break
            if start > pos:
                out += self._rust([text[pos:start]])[0]
            out.append(begin)
            body_at = start + len("<dna>")
            stop = text.find("</dna>", body_at)
            body = text[body_at : len(text) if stop < 0 else stop]
            out += self._kmers(body, oov)
            if stop < 0:
                break
            out.append(end)
            pos = stop + len("</dna>")
        return out

    def _kmers(self, raw: str, oov: int) -> list[int]:
        # ASCII upper-casing of the UTF-8 bytes, 6 bytes a k-mer, the last padded with "A"
        data = bytes(c - 32 if 0x61 <= c <= 0x7A else c for c in raw.encode("utf-8"))
        out = []
        for i in range(0, len(data), 6):
            kmer = data[i : i + 6].ljust(6, b"A")
            tid = self.tables.ids.get(kmer.decode("utf-8", "replace") + _DNA_MARKER)
            out.append(tid if tid is not None and b"\xef\xbf\xbd" not in kmer else oov)
        return out


@dataclass
class RustWpm:
    """WordPiece in tokenizers; text with a long word takes llama.cpp's loop in Python."""

    tok: Tokenizer
    where: str
    unk: int

    def cache_doc(self) -> dict[str, Any]:
        return {"rust": self.tok.to_str()}

    def encode_fragments(self, fragments: Sequence[tuple[str, bool]]) -> list[list[int]]:
        short = [t for t, _ in fragments if not _python_only(t)]
        done = iter(
            [
                e.ids
                for e in rust_call(
                    self.where, lambda: self.tok.encode_batch_fast(short, add_special_tokens=False)
                )
            ]
            if short
            else []
        )
        return [self._python(t) if _python_only(t) else next(done) for t, _ in fragments]

    def _python(self, text: str) -> list[int]:
        """llm_tokenizer_wpm_session::tokenize on the words tokenizers' normaliser and
        pre-tokenizer make: the longest token at each place, never longer than the longest
        token, and the whole word [UNK] where no token fits."""
        from tokenizers import pre_tokenizers

        normalizer = self.tok.normalizer
        assert normalizer is not None
        splitter = pre_tokenizers.Sequence(wpm_word_splits())
        words = splitter.pre_tokenize_str(normalizer.normalize_str(text))
        vocab, longest = self._vocab
        out: list[int] = []
        for bare, _ in words:
            word = SPACE + bare
            got: list[int] = []
            i = 0
            while i < len(word):
                for j in range(min(len(word), i + longest), i, -1):
                    tid = vocab.get(word[i:j])
                    if tid is not None:
                        got.append(tid)
                        i = j
                        break
                else:
                    got = []
                    break
            out.extend(got or [self.unk])
        return out

    @property
    def _vocab(self) -> tuple[dict[str, int], int]:
        got: tuple[dict[str, int], int] | None = self.__dict__.get("_vocab_cache")
        if got is None:
            vocab = self.tok.get_vocab(with_added_tokens=False)
            got = (vocab, max(map(len, vocab), default=1))
            self.__dict__["_vocab_cache"] = got
        return got


def _python_only(text: str) -> bool:
    return "\u2581" in text or _LONG_WORD.search(text) is not None


def build_encoder(spec: TokenizerSpec, where: str) -> Any:
    """The encoder of a checked spec."""
    if spec.kind == "bpe":
        tables = bpe_tables(spec, where)
        return RustBpe(tables, where, _newlines(spec), dna=spec.model == "hybriddna")
    if spec.kind == "wpm":
        return RustWpm(wpm_tokenizer(spec, where), where, spec.special["unk"])
    return SimpleEncoder(_python_encoder(spec, where))


def encoder_from_cache(
    kind: str, model: str, special: dict[str, int], doc: dict[str, Any], where: str,
    newline_tokens: dict[str, int],
) -> Any:  # fmt: skip
    """The encoder a cache entry holds; ValueError/TypeError/KeyError for a damaged one."""
    if kind == "wpm":
        from tokenizers import Tokenizer

        rust = doc["rust"]
        if not isinstance(rust, str):
            raise TypeError("rust")
        tok = rust_call(where, lambda: Tokenizer.from_str(rust))
        return RustWpm(tok, where, special["unk"])
    if kind != "bpe":
        raise ValueError(kind)
    tables = BpeTables.from_json(doc["bpe"])
    return RustBpe(tables, where, newline_tokens, dna=model == "hybriddna")


def _newlines(spec: TokenizerSpec) -> dict[str, int]:
    if spec.pre is None or not spec.pre.newline_tokens:
        return {}
    return {t: i for i, t in enumerate(spec.tokens) if t and not t.strip("\n")}


def _python_encoder(spec: TokenizerSpec, where: str) -> Callable[[str, bool], list[int]]:
    ids = spec.ids
    if spec.kind == "spm":
        return SpmEncoder(ids, spec.scores, spec.add_space_prefix, where).encode
    if spec.kind == "rwkv":
        return RwkvEncoder.build(spec.tokens, spec.special.get("unk"), where).encode
    if spec.kind == "plamo2":
        is_byte = [bool(a & BYTE) for a in spec.attrs]
        return Plamo2Encoder.build(spec.tokens, spec.scores, is_byte, where).encode
    if spec.kind == "test":
        return TestEncoder(len(spec.tokens)).encode
    return _ugm(spec, where).encode


def _ugm(spec: TokenizerSpec, where: str) -> UgmEncoder:
    import numpy as np

    matched = NORMAL | USER_DEFINED | UNUSED
    tokens = {
        t.encode("utf-8"): i for i, (t, a) in enumerate(zip(spec.tokens, spec.attrs, strict=True))
        if a & matched
    }  # fmt: skip
    user = [i for i, a in enumerate(spec.attrs) if a & USER_DEFINED]
    prefixes = {spec.tokens[i].encode("utf-8")[:k] for i in user for k in
                range(1, len(spec.tokens[i].encode("utf-8")) + 1)}  # fmt: skip
    normal = [s for s, a in zip(spec.scores, spec.attrs, strict=True) if a & NORMAL]
    # float32 arithmetic, as llama.cpp's `min_score - unknown_token_score_penalty`
    low = np.float32(min(normal)) if normal else np.float32(3.4028234663852886e38)
    return UgmEncoder(
        tokens=tokens,
        scores=spec.scores,
        user_defined=frozenset(user),
        user_prefixes=frozenset(prefixes),
        max_len=max(map(len, tokens), default=1),
        unk=spec.special.get("unk"),
        unk_score=float(low - np.float32(10.0)),
        charsmap=Charsmap.parse(spec.charsmap),
        add_space_prefix=spec.add_space_prefix,
        merge_spaces=spec.remove_extra_whitespaces,
        where=where,
    )
