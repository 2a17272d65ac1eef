"""A GGUF file's tokenizer, giving the ids llama.cpp gives (llama_tokenize, llama_detokenize).

A GGUF has no tokenizer.json: it stores the vocabulary and two names, `tokenizer.ggml.model`
(the algorithm) and `tokenizer.ggml.pre` (how BPE splits text), whose meaning is llama.cpp's
code. This module follows llama_vocab::impl::tokenize step by step:
1. special tokens are cut out of the text first, longest first over the whole text, in
   llama.cpp's order (CONTROL and UNKNOWN ones only when special tokens are parsed), with
   their LSTRIP/RSTRIP eating ASCII whitespace only, as llama.cpp's isspace does;
2. each text fragment between them goes to the model's algorithm: `tokenizers` (Rust) where it
   runs llama.cpp's algorithm exactly (byte-level BPE with llama.cpp's split regexes,
   WordPiece), a line-by-line Python port where it cannot (SentencePiece, Unigram, RWKV,
   PLaMo-2, the test model, WordPiece words over 100 characters);
3. BOS/EOS/SEP are added the way the file asks when special tokens are added.
Decoding is llama_detokenize: token_to_piece per token, then clean_spaces where the pre name
asks. `GGUFTokenizer` answers the part of `tokenizers.Tokenizer`'s interface emb uses (encode,
decode, vocabulary look-ups), so a GGUF file serves `lookup --text`, `neighbors --text`,
`tokenize` and `undertrained` like a tokenizer.json does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from emb_cli.errors import InputError
from emb_cli.sources.collector import paused_collection
from emb_cli.sources.gguf.detokenize import Detokenizer
from emb_cli.sources.gguf.pre_tokenizers import BPE_MODELS, MODELS, PRE_TOKENIZERS
from emb_cli.sources.gguf.tokenizer_spec import (
    CONTROL,
    LSTRIP,
    RSTRIP,
    UNKNOWN,
    USER_DEFINED,
    TokenizerSpec,
    read_spec,
)

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_ASCII_SPACE = " \t\n\v\f\r"  # C isspace in the "C" locale: what LSTRIP/RSTRIP eat


class FragmentEncoder(Protocol):
    def encode_fragments(self, fragments: Sequence[tuple[str, bool]]) -> list[list[int]]:
        """Ids of each (text, after a special token or at the start) fragment."""
        ...

    def cache_doc(self) -> dict[str, Any] | None:
        """What the tokenizer cache keeps of it (JSON), or None."""
        ...


@dataclass(frozen=True)
class Core:
    """What encoding needs besides the model itself: small, and JSON as it is (the cache)."""

    kind: str
    model: str
    pre: str | None
    n_tokens: int
    special: dict[str, int]
    # (text, id, attr) of every CONTROL, USER_DEFINED and UNKNOWN token, longest text first
    partition: list[tuple[str, int, int]]
    fim_ambiguous: dict[str, list[int]]
    add_bos: bool
    add_eos: bool
    add_sep: bool
    newline_tokens: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: TokenizerSpec) -> Core:
        marked = CONTROL | USER_DEFINED | UNKNOWN
        ids = [i for i, a in enumerate(spec.attrs) if a & marked]
        # llama.cpp sorts by byte length with std::sort; equal lengths keep id order here
        ids.sort(key=lambda i: -len(spec.tokens[i].encode("utf-8", "surrogatepass")))
        newlines = {}
        if spec.pre is not None and spec.pre.newline_tokens:
            newlines = {t: i for i, t in enumerate(spec.tokens) if t and not t.strip("\n")}
        return cls(
            kind=spec.kind,
            model=spec.model,
            pre=spec.pre.name if spec.pre is not None else None,
            n_tokens=len(spec.tokens),
            special=dict(spec.special),
            partition=[(spec.tokens[i], i, spec.attrs[i]) for i in ids],
            fim_ambiguous=spec.fim_ambiguous,
            add_bos=spec.add_bos,
            add_eos=spec.add_eos,
            add_sep=spec.add_sep,
            newline_tokens=newlines,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Core:
        out = cls(**doc)
        return cls(**{**asdict(out), "partition": [tuple(p) for p in out.partition]})


@dataclass(frozen=True)
class Encoded:
    """The part of tokenizers' Encoding emb reads."""

    ids: list[int]


@dataclass(frozen=True)
class AddedTokenInfo:
    """The part of tokenizers' AddedToken emb reads: a token matched whole in text."""

    content: str
    special: bool


def is_supported(model: str, pre: str | None) -> bool:
    """Whether this (tokenizer.ggml.model, .pre) pair is one llama.cpp loads, so emb builds."""
    if model in BPE_MODELS and model != "gemma4":
        return (pre or "default") in PRE_TOKENIZERS
    return model in MODELS


class GGUFTokenizer:
    """A GGUF vocabulary as llama.cpp tokenizes and detokenizes it.

    `parse_special=False` is llama.cpp's default: control tokens written in the text are
    plain text and only user-defined tokens are matched whole; True matches both.
    """

    def __init__(
        self,
        core: Core,
        encoder: FragmentEncoder,
        vocab: Callable[[], TokenizerSpec],
        where: str,
        parse_special: bool = False,
    ) -> None:
        self.core = core
        self.encoder = encoder
        self.where = where
        self.parse_special = parse_special
        self._vocab = vocab
        skip = 0 if parse_special else CONTROL | UNKNOWN
        self._partition = [(t, i, a) for t, i, a in core.partition if not a & skip]
        _refuse_ambiguous_fim(core, parse_special, where, vocab)
        self._any_special = _finder(t for t, _, _ in self._partition)

    @property
    def rust(self) -> Tokenizer | None:
        """The whole tokenizers model where the algorithm runs in Rust (built on first use)."""
        tok: Tokenizer | None = getattr(self.encoder, "tok", None)
        return tok

    def cache_payload(self) -> dict[str, Any] | None:
        """What emb's tokenizer cache keeps of this tokenizer; None: nothing worth keeping."""
        doc = getattr(self.encoder, "cache_doc", lambda: None)()
        return {"core": self.core.to_json(), **doc} if doc is not None else None

    # -- encoding -------------------------------------------------------------------------

    def encode_ids(self, text: str, add_special: bool = False) -> list[int]:
        return self.encode_many([text], add_special)[0]

    def encode_many(
        self, texts: Sequence[str], add_special: bool = False, continuation: bool = False
    ) -> list[list[int]]:
        """llama_tokenize for each text: fragments of all texts go to the model at once.
        `continuation`: each text goes on from a cut made by `stream_cut` (no space prefix)."""
        parts = [self.partition(t) for t in texts]
        raw = [(p, (i == 0 and not continuation) or (i > 0 and isinstance(ps[i - 1], int)))
               for ps in parts for i, p in enumerate(ps) if isinstance(p, str)]  # fmt: skip
        encoded = iter(self.encoder.encode_fragments(raw)) if raw else iter(())
        out = []
        for ps in parts:
            ids = self._head() if add_special else []
            for p in ps:
                if isinstance(p, int):
                    ids.append(p)
                else:
                    ids.extend(next(encoded))
            if add_special:
                ids.extend(self._tail())
            out.append(ids)
        return out

    def special_head(self) -> list[int]:
        """The ids llama_tokenize puts before the text with add_special (BOS)."""
        return self._head()

    def special_tail(self) -> list[int]:
        """The ids it puts after the text (EOS, or SEP for WordPiece)."""
        return self._tail()

    def _head(self) -> list[int]:
        return [self._role("bos", "add_bos")] if self.core.add_bos else []

    def _tail(self) -> list[int]:
        c = self.core
        if c.kind == "wpm":
            return [self._role("sep", "add_sep")]
        return [self._role("eos", "add_eos")] if c.add_eos else []

    def _role(self, role: str, flag: str) -> int:
        tid = self.core.special.get(role)
        if tid is None:  # llama.cpp's GGML_ASSERT when special tokens are added
            raise InputError(
                f"{self.where}: tokenizer.ggml.{flag}_token is true but the file sets no {role} "
                "token id, so llama.cpp aborts when adding special tokens; run without --special"
            )
        return tid

    def partition(self, text: str) -> list[str | int]:
        """tokenizer_st_partition: the text cut at special tokens, longest token first."""
        if not text:
            return []
        if self._any_special is None or self._any_special.search(text) is None:
            return [text]
        parts: list[str | int] = [text]
        for token, tid, attr in self._partition:
            if token not in text:
                continue
            nxt: list[str | int] = []
            for p in parts:
                if isinstance(p, int) or token not in p:
                    nxt.append(p)
                else:
                    _split_at(p, token, tid, attr, nxt)
            parts = nxt
        return parts

    def stream_cut(self, text: str, limit: int) -> int | None:
        """A place before `limit` where the text can be cut and each side tokenized alone with
        the same ids: right after a newline, before a character no pre-split, merge or special
        token crosses to from a newline. None where there is none (or the model has none)."""
        stop = self._stop_chars
        if stop is None:
            return None
        at = text.rfind("\n", 0, min(limit, len(text) - 1))
        while at >= 0:
            nxt = text[at + 1]
            if not nxt.isspace() and nxt not in stop:
                return at + 1
            at = text.rfind("\n", 0, at)
        return None

    @cached_property
    def _stop_chars(self) -> frozenset[str] | None:
        kind = self.core.kind
        if kind in ("ugm", "test", "rwkv") or self.core.model == "hybriddna":
            return None  # normalisation, escaped bytes or grouping that span lines
        texts = [t for t, _, _ in self.core.partition]
        if kind in ("spm", "plamo2"):  # merges and matches that cross newlines
            texts += self._vocab().tokens
        stop: set[str] = set()
        for t in texts:
            at = t.find("\n")
            while 0 <= at < len(t) - 1:
                stop.add(t[at + 1])
                at = t.find("\n", at + 1)
        # an LSTRIP token would eat the newline before it; PLaMo-2 drops a BOM at the start
        stop |= {t[0] for t, _, a in self.core.partition if a & LSTRIP} | {"\ufeff"}
        return frozenset(stop)

    # -- tokenizers.Tokenizer's interface, the part emb uses ----------------------------

    def encode(self, text: str, add_special_tokens: bool = True) -> Encoded:
        return Encoded(self.encode_ids(text, add_special_tokens))

    def encode_batch_fast(
        self, texts: Sequence[str], add_special_tokens: bool = True
    ) -> list[Encoded]:
        return [Encoded(ids) for ids in self.encode_many(texts, add_special_tokens)]

    encode_batch = encode_batch_fast

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self._detokenizer.detokenize(ids, special=not skip_special_tokens)

    def decode_batch(
        self, sequences: Iterable[Sequence[int]], skip_special_tokens: bool = True
    ) -> list[str]:
        return [self.decode(s, skip_special_tokens) for s in sequences]

    def token_pieces(self, ids: Sequence[int]) -> list[bytes]:
        """Each token's own bytes, as token_to_piece renders it with special tokens shown."""
        return [self._detokenizer.piece(i, True) for i in ids]

    @cached_property
    def _detokenizer(self) -> Detokenizer:
        return Detokenizer.of(self._vocab())

    @cached_property
    def _ids(self) -> dict[str, int]:
        tokens = self._vocab().tokens
        return dict(zip(tokens, range(len(tokens)), strict=True))

    def get_vocab(self, with_added_tokens: bool = True) -> dict[str, int]:
        return dict(self._ids)

    def get_vocab_size(self, with_added_tokens: bool = True) -> int:
        return self.core.n_tokens

    def id_to_token(self, i: int) -> str | None:
        tokens = self._vocab().tokens
        return tokens[i] if 0 <= i < len(tokens) else None

    def token_to_id(self, token: str) -> int | None:
        return self._ids.get(token)

    def get_added_tokens_decoder(self) -> dict[int, AddedTokenInfo]:
        """CONTROL, UNKNOWN (special) and USER_DEFINED tokens: those matched whole in text."""
        return {i: AddedTokenInfo(t, bool(a & (CONTROL | UNKNOWN))) for t, i, a in
                self.core.partition}  # fmt: skip

    def no_padding(self) -> None:
        """A GGUF tokenizer never pads."""

    def no_truncation(self) -> None:
        """A GGUF tokenizer never truncates."""


def _split_at(text: str, token: str, tid: int, attr: int, out: list[str | int]) -> None:
    """Every occurrence of `token` in one text fragment, as llama.cpp's partition cuts it."""
    start = 0
    while True:
        at = text.find(token, start)
        if at < 0:
            if start < len(text):
                out.append(text[start:])
            return
        left = text[start:at]
        if attr & LSTRIP:
            left = left.rstrip(_ASCII_SPACE)
        if left:
            out.append(left)
        out.append(tid)
        start = at + len(token)
        if attr & RSTRIP:
            while start < len(text) and text[start] in _ASCII_SPACE:
                start += 1


def _finder(tokens: Iterable[str]) -> re.Pattern[str] | None:
    """One regex that finds whether any of the tokens occurs: the common no-special case."""
    texts = sorted(set(tokens), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, texts))) if texts else None


def _refuse_ambiguous_fim(
    core: Core, parse_special: bool, where: str, vocab: Callable[[], TokenizerSpec]
) -> None:
    """llama.cpp marks one of several FIM look-alikes CONTROL, picked in hash-map order: refuse
    where that pick changes the ids (a user-defined candidate, or any when parsing specials)."""
    if not core.fim_ambiguous:
        return
    spec = vocab()
    for role, ids in core.fim_ambiguous.items():
        which = ~0 if parse_special else USER_DEFINED
        if any(spec.attrs[i] & which and not spec.attrs[i] & CONTROL for i in ids):
            names = ", ".join(repr(spec.tokens[i]) for i in ids)
            raise InputError(
                f"{where}: the vocabulary has several {role} tokens ({names}) and no "
                f"tokenizer.ggml.{role}_token_id; llama.cpp picks one in hash order, so emb "
                "cannot tokenize it exactly"
            )


def tokenizer_from_gguf(
    meta: Mapping[str, Any], where: str, *, parse_special: bool = False
) -> GGUFTokenizer:
    """The tokenizer a GGUF's metadata describes (`meta`: GGUF keys -> decoded values; `where`
    names the file in errors), giving the ids llama.cpp gives."""
    from emb_cli.sources.gguf.encoders import build_encoder

    spec = read_spec(meta, where)
    encoder = build_encoder(spec, where)
    return GGUFTokenizer(Core.of(spec), encoder, lambda: spec, where, parse_special)


def gguf_tokenizer(
    read_meta: Callable[[], Mapping[str, Any]], path: Path | None, where: str
) -> GGUFTokenizer:
    """The tokenizer of a GGUF file: from the on-disk cache when a trusted entry exists for
    `path` (a local file), else built from `read_meta()` and kept. The vocabulary itself
    (for decoding) is read from the file only when asked."""
    from emb_cli.sources.gguf import tokenizer_cache

    @cache
    def spec() -> TokenizerSpec:
        return read_spec(read_meta(), where)

    @cache
    def vocabulary() -> TokenizerSpec:
        return read_spec(read_meta(), where, with_merges=False)

    def load(payload: dict[str, Any]) -> GGUFTokenizer | None:
        from emb_cli.sources.gguf.encoders import encoder_from_cache

        try:
            core = Core.from_json(payload["core"])
            encoder = encoder_from_cache(
                core.kind, core.model, core.special, payload, where, core.newline_tokens
            )
            return GGUFTokenizer(core, encoder, vocabulary, where, False)
        except (InputError, KeyError, TypeError, ValueError):
            return None  # a damaged entry: rebuilt

    def build() -> tuple[GGUFTokenizer, dict[str, Any] | None]:
        from emb_cli.sources.gguf.encoders import build_encoder

        with paused_collection():
            tok = GGUFTokenizer(Core.of(spec()), build_encoder(spec(), where), spec, where, False)
            return tok, tok.cache_payload()

    if path is None:
        return build()[0]
    got: GGUFTokenizer = tokenizer_cache.cached(path, load, build)
    return got
