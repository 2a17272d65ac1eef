"""llama.cpp's tokenizers that `tokenizers` cannot express exactly, ported line by line.

SentencePiece BPE (llm_tokenizer_spm_session): merges chosen by the score of the token they
make, leftmost among equal scores, over the whole fragment (spaces escaped to U+2581); no merge
table is built, so a vocabulary with a 1,000,000-character token costs one dictionary entry.
RWKV (llm_tokenizer_rwkv_session): greedy longest match over the UTF-8 bytes. The test model
(LLAMA_VOCAB_TYPE_TEST): a hash of every 5 bytes. Each encoder turns one text fragment (the
text between special tokens) into ids; pure Python, interruptible, a few MB/s.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from emb_cli.errors import InputError

SPACE = "\u2581"  # SentencePiece's escaped space
_HEX = "0123456789ABCDEF"


def byte_token(b: int) -> str:
    return f"<0x{_HEX[b >> 4]}{_HEX[b & 15]}>"


@dataclass
class SpmEncoder:
    """llm_tokenizer_spm_session, with llama.cpp's space prefix per fragment."""

    ids: dict[str, int]
    scores: Sequence[float]
    add_space_prefix: bool
    where: str
    _bytes: dict[int, int] = field(default_factory=dict)

    def encode(self, text: str, after_special: bool) -> list[int]:
        if self.add_space_prefix and after_special:
            text = " " + text
        return self._merge(text.replace(" ", SPACE))

    def _merge(self, text: str) -> list[int]:
        n = len(text)
        if n == 0:
            return []
        sym = list(text)  # a symbol's text; "" once merged into its left neighbour
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prev = list(range(-1, n - 1))
        ids, scores = self.ids, self.scores
        heap: list[tuple[float, int, int, int]] = []
        for i in range(n - 1):
            tid = ids.get(text[i : i + 2])
            if tid is not None:
                heap.append((-scores[tid], i, i + 1, 2))
        heapq.heapify(heap)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            a, b = sym[left], sym[right]
            if not a or not b or len(a) + len(b) != size:
                continue  # one of them was merged since
            sym[left], sym[right] = a + b, ""
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            for lo, hi in ((prev[left], left), (left, nxt[left])):
                if lo >= 0 and hi >= 0:
                    joined = sym[lo] + sym[hi]
                    tid = ids.get(joined)
                    if tid is not None:
                        heapq.heappush(heap, (-scores[tid], lo, hi, len(joined)))
        out: list[int] = []
        i = 0
        while i != -1:
            self._resegment(sym[i], out)
            i = nxt[i]
        return out

    def _resegment(self, piece: str, out: list[int]) -> None:
        tid = self.ids.get(piece)
        if tid is not None:
            out.append(tid)
            return
        # only a single character that is no token gets here: merges make tokens
        for b in piece.encode("utf-8", "surrogatepass"):
            out.append(self._byte(b))

    def _byte(self, b: int) -> int:
        got = self._bytes.get(b)
        if got is None:
            got = self.ids.get(byte_token(b))
            if got is None and b < 0x80:
                got = self.ids.get(chr(b))
            if got is None:
                raise InputError(
                    f"{self.where}: the text needs byte token {byte_token(b)}, which the "
                    "vocabulary lacks; llama.cpp stops with an error here"
                )
            self._bytes[b] = got
        return got


@dataclass
class RwkvEncoder:
    """llm_tokenizer_rwkv_session: the longest token at each byte, over escaped-byte tokens."""

    tokens: dict[bytes, int]
    max_len: int
    unk: int | None
    where: str

    @classmethod
    def build(cls, texts: Sequence[str], unk: int | None, where: str) -> RwkvEncoder:
        tokens: dict[bytes, int] = {}
        for i, t in enumerate(texts):
            tokens[unescape_rwkv(t)] = i  # a later duplicate wins, as in llama.cpp's trie
        return cls(tokens, max(map(len, tokens), default=0), unk, where)

    def encode(self, text: str, after_special: bool) -> list[int]:
        data = text.encode("utf-8")
        tokens, out, pos, n = self.tokens, [], 0, len(data)
        firsts = self._firsts()
        while pos < n:
            if data[pos] not in firsts:
                if self.unk is None:
                    raise InputError(
                        f"{self.where}: no RWKV token starts with byte {data[pos]:#04x} and "
                        "the vocabulary has no unknown token; llama.cpp gives id -1 here"
                    )
                out.append(self.unk)
                pos += 1
                continue
            for size in range(min(self.max_len, n - pos), 0, -1):
                tid = tokens.get(data[pos : pos + size])
                if tid is not None:
                    out.append(tid)
                    pos += size
                    break
            else:
                raise InputError(
                    f"{self.where}: RWKV tokens start with byte {data[pos]:#04x} but none is "
                    "that byte alone; llama.cpp loops forever on this text"
                )
        return out

    def _firsts(self) -> frozenset[int]:
        got: frozenset[int] | None = self.__dict__.get("_first_bytes")
        if got is None:
            got = frozenset(t[0] for t in self.tokens if t)
            self.__dict__["_first_bytes"] = got
        return got


def unescape_rwkv(escaped: str) -> bytes:
    """llama_unescape_rwkv_token: \\t \\n \\r \\xHH and \\c, over the token's UTF-8 bytes."""
    raw = escaped.encode("utf-8")
    if b"\\" not in raw:
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c != 0x5C:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break  # a trailing backslash escapes nothing
        e = raw[i + 1]
        if e == ord("x"):
            digits = raw[i + 2 : i + 4]
            acc = 0
            for h in digits:
                acc = (acc << 4) + (h - 87 if h >= ord("a") else h - 48)
            if len(digits) == 2:  # a cut-off \xH is dropped
                out.append(acc & 0xFF)
            i += 4
            continue
        out.append({ord("t"): 9, ord("n"): 10, ord("r"): 13}.get(e, e))
        i += 2
    return bytes(out)


@dataclass
class TestEncoder:
    """LLAMA_VOCAB_TYPE_TEST: every 5 bytes hash to an id (hash * 31 + byte, mod the vocab)."""

    n_vocab: int

    def encode(self, text: str, after_special: bool) -> list[int]:
        data = text.encode("utf-8")
        out = []
        for pos in range(0, len(data), 5):
            h = 0
            for b in data[pos : pos + 5]:
                h = (h * 31 + b) & 0xFFFFFFFFFFFFFFFF
            out.append(h % self.n_vocab)
        return out
