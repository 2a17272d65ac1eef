"""llama.cpp's Unigram tokenizer (tokenizer.ggml.model "t5"), ported from llm_tokenizer_ugm.

Normalisation walks SentencePiece's precompiled charsmap (an XOR-compressed double array with
its replacement strings), keeps a prefix of a user-defined token as it is, escapes spaces to
U+2581 and prepends or merges them as the file asks; then a Viterbi pass over the UTF-8 bytes
picks the best-scoring tokens, an unknown code point scoring the lowest normal score minus 10
(a float32 sum, as llama.cpp computes it). Pure Python, over bytes as llama.cpp works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emb_cli.errors import InputError

_SPACE = "\u2581".encode()
_FFFD = "\ufffd".encode()
_DBL_MAX = 1.7976931348623157e308


def _utf8_len(lead: int) -> int:
    # unicode_len_utf8: by the high 4 bits, a stray continuation byte counts as one
    return (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4)[lead >> 4]


def _char_len(data: bytes, pos: int) -> int:
    """unicode_cpt_from_utf8's length of the character at pos, or 0 where it throws."""
    c = data[pos]
    if not c & 0x80:
        return 1
    if not c & 0x40:
        return 0
    size = 2 if not c & 0x20 else 3 if not c & 0x10 else 4 if not c & 0x08 else 0
    tail = data[pos + 1 : pos + size]
    return size if size and len(tail) == size - 1 and all(b & 0xC0 == 0x80 for b in tail) else 0


@dataclass
class Charsmap:
    """The XCDA of a precompiled charsmap and its NUL-terminated replacement strings."""

    array: list[int]
    replacements: bytes

    @classmethod
    def parse(cls, blob: bytes) -> Charsmap | None:
        if not blob:
            return None
        size = int.from_bytes(blob[:4], "little")
        table = blob[4 : 4 + size]
        array = [int.from_bytes(table[i : i + 4], "little") for i in range(0, len(table), 4)]
        return cls(array, blob[4 + size :])

    def _node(self, i: int, where: str) -> int:
        if i >= len(self.array):
            raise InputError(f"{where}: the precompiled charsmap points outside its table")
        return self.array[i]

    def longest(self, data: bytes, start: int, where: str) -> tuple[bytes, int] | None:
        """(replacement, bytes consumed) of the longest prefix of data[start:] the map knows."""
        node = self._node(0, where)
        index = (node >> 10) << ((node & (1 << 9)) >> 6)
        best: tuple[int, int] | None = None
        for pos in range(start, len(data)):
            c = data[pos]
            if c == 0:
                break
            index ^= c
            node = self._node(index, where)
            if node & ((1 << 31) | 0xFF) != c:
                break
            leaf = (node >> 8) & 1
            index ^= (node >> 10) << ((node & (1 << 9)) >> 6)
            if leaf:
                best = (pos - start + 1, self._node(index, where) & ((1 << 31) - 1))
        if best is None:
            return None
        length, offset = best
        if offset >= len(self.replacements):
            raise InputError(f"{where}: the precompiled charsmap points outside its strings")
        end = self.replacements.find(b"\0", offset)
        if end < 0:
            raise InputError(f"{where}: the precompiled charsmap has an unterminated string")
        return self.replacements[offset:end], length


@dataclass
class UgmEncoder:
    """llm_tokenizer_ugm_session: normalise, then Viterbi over the token trie."""

    tokens: dict[bytes, int]  # normal, user-defined and unused tokens
    scores: Sequence[float]
    user_defined: frozenset[int]
    user_prefixes: frozenset[bytes]  # every prefix of a user-defined token's text
    max_len: int
    unk: int | None
    unk_score: float
    charsmap: Charsmap | None
    add_space_prefix: bool
    merge_spaces: bool
    where: str

    def encode(self, text: str, after_special: bool) -> list[int]:
        data = self._normalize(text.encode("utf-8"))
        if not data:
            return []
        best = self._viterbi(data)
        out: list[int] = []
        pos, prev_unk = len(data), False
        while True:
            tid, start, _ = best[pos]
            is_unk = tid == self.unk
            if not (prev_unk and is_unk):
                out.append(tid)
            if start == 0:
                break
            prev_unk, pos = is_unk, start
        out.reverse()
        if self.unk is None and -1 in out:
            raise InputError(
                f"{self.where}: the text has characters no token covers and the vocabulary "
                "has no unknown token; llama.cpp gives id -1 here"
            )
        return out

    def _viterbi(self, data: bytes) -> list[tuple[int, int, float]]:
        n, tokens, unk = len(data), self.tokens, -1 if self.unk is None else self.unk
        best: list[tuple[int, int, float]] = [(unk, 0, -_DBL_MAX)] * (n + 1)
        best[0] = (unk, 0, 0.0)
        pos = 0
        while pos < n:
            width = min(_utf8_len(data[pos]), n - pos)
            base = best[pos][2]
            single = False
            for size in range(1, min(self.max_len, n - pos) + 1):
                tid = tokens.get(data[pos : pos + size])
                if tid is None:
                    continue
                single = single or size == width
                score = base + (0.0 if tid in self.user_defined else self.scores[tid])
                if score > best[pos + size][2]:
                    best[pos + size] = (tid, pos, score)
            if not single:
                score = base + self.unk_score
                if score > best[pos + width][2]:
                    best[pos + width] = (unk, pos, score)
            pos += width
        return best

    def _normalize(self, data: bytes) -> bytes:
        out = bytearray()
        prepended = in_word = False
        pos = 0
        while pos < len(data):
            piece, used = self._prefix(data, pos)
            for c in piece:
                if c != 0x20:
                    if not in_word:
                        in_word = True
                        if (self.add_space_prefix and not prepended) or self.merge_spaces:
                            out += _SPACE
                            prepended = True
                    out.append(c)
                else:
                    in_word = False
                    if not self.merge_spaces:
                        out += _SPACE
            pos += used
        return bytes(out)

    def _prefix(self, data: bytes, pos: int) -> tuple[bytes, int]:
        """normalize_prefix: a user-defined token's prefix as is, else the charsmap's longest
        match, else one character as it is (U+FFFD for one byte that is no UTF-8)."""
        size = 0
        while size < len(data) - pos and data[pos : pos + size + 1] in self.user_prefixes:
            size += 1
        if size:
            return data[pos : pos + size], size
        if self.charsmap is not None:
            got = self.charsmap.longest(data, pos, self.where)
            if got is not None:
                return got
        size = _char_len(data, pos)
        return (data[pos : pos + size], size) if size else (_FFFD, 1)
