"""A byte-level BPE vocabulary as compact tables, built whole or only for the text at hand.

Handing tokenizers Llama 3's 128,256 tokens and 280,147 merges costs about 0.4 s (1 s from its
JSON), more than tokenizing a page takes. BPE joins only symbols inside one pre-tokenized
word, so on a given text it only ever forms tokens that are substrings of its words, and
only merges between two such tokens can apply: a BPE holding just those tokens and merges,
in the file's order, gives the same ids (the same merges in the same relative order, the same
whole-word look-up for ignore_merges). `subset` builds that for short texts; long ones get
the whole model, built once.

The tables are what emb's tokenizer cache keeps, as raw bytes it loads without numpy (whose
import alone is a quarter of emb's start-up): the token strings joined by NUL, and three
arrays of native uint32 (`array`): per merge, in rank order, the ids of its left half, right
half and result; the merge ranks ordered by left id; and where each left id's run starts.
The subset takes a text's merges from the runs of its tokens, not from a scan of all merges.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

# Substring look-ups a subset build may take (about 0.1 s); past that, the whole model
SUBSET_BUDGET: Final = 300_000
# Characters a subset is built for: past a few pages (a --file piece, undertrained's batches
# of token texts) the words reach most of the vocabulary, and the whole model pays
SUBSET_CHARS: Final = 16_384
_SEP: Final = "\x00"  # between token strings in the cache; a vocabulary holding it keeps JSON


def _u32(data: bytes | memoryview) -> array[int]:
    got = array("I")
    if got.itemsize != 4:  # pragma: no cover - every platform CPython runs on has 4
        raise ValueError("no 4-byte unsigned int")
    got.frombytes(data)
    return got


@dataclass(frozen=True)
class BpeTables:
    shell: str  # tokenizers JSON of the normaliser and pre-tokenizer, with an empty BPE model
    tokens: list[str]
    merges: array[int]  # 3 per merge in rank order: left id, right id, result id
    by_left: array[int]  # merge ranks ordered by left id (then rank)
    left_start: array[int]  # len(tokens) + 1: by_left[left_start[t]:left_start[t + 1]]
    ignore_merges: bool
    byte_fallback: bool

    @classmethod
    def build(
        cls,
        shell: str,
        ids: dict[str, int],
        tokens: list[str],
        merges: np.ndarray,
        ignore: bool,
        fallback: bool,
    ) -> BpeTables:
        """From the (n, 3) id table bpe_merge_ids made with `ids` (token -> id, kept as
        the tables' own look-up rather than built again)."""
        import numpy as np

        # ranks by left id, then rank: one sort of left * n + rank (a stable argsort is ~3x)
        n = len(merges)
        keyed = np.sort(merges[:, 0].astype(np.int64) * n + np.arange(n))
        order = keyed % max(n, 1)
        starts = np.searchsorted(keyed // max(n, 1), np.arange(len(tokens) + 1), side="left")
        tables = cls(
            shell,
            tokens,
            _u32(merges.astype("=u4").tobytes()),
            _u32(order.astype("=u4").tobytes()),
            _u32(starts.astype("=u4").tobytes()),
            ignore,
            fallback,
        )
        object.__setattr__(tables, "_ids_cache", ids)
        return tables

    def to_json(self) -> dict[str, Any]:
        """Raw bytes where they are big (emb's cache keeps bytes values as they are)."""
        joined = _SEP.join(self.tokens)
        fits = joined.count(_SEP) == len(self.tokens) - 1 if self.tokens else True
        return {
            "shell": self.shell,
            "tokens": joined.encode("utf-8", "surrogatepass") if fits else self.tokens,
            "n_tokens": len(self.tokens),
            "merges": self.merges.tobytes(),
            "by_left": self.by_left.tobytes(),
            "left_start": self.left_start.tobytes(),
            "ignore_merges": self.ignore_merges,
            "byte_fallback": self.byte_fallback,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> BpeTables:
        """ValueError/TypeError/KeyError for anything that is not a table emb wrote."""
        raw = doc["tokens"]
        if isinstance(raw, memoryview):
            tokens = str(raw, "utf-8", "surrogatepass").split(_SEP) if len(raw) else []
        elif isinstance(raw, list) and set(map(type, raw)) <= {str}:
            tokens = raw
        else:
            raise TypeError("tokens")
        n = len(tokens)
        if doc["n_tokens"] != n:
            raise ValueError("token count")
        merges, by_left, starts = (_u32(doc[k]) for k in ("merges", "by_left", "left_start"))
        if len(merges) % 3 or len(by_left) * 3 != len(merges) or len(starts) != n + 1:
            raise ValueError("table sizes")
        if starts[0] != 0 or starts[n] != len(by_left):
            raise ValueError("merge runs")
        json.loads(doc["shell"])  # a ValueError here rather than inside Rust
        flags = doc["ignore_merges"], doc["byte_fallback"]
        if not all(type(f) is bool for f in flags):
            raise TypeError("flags")
        return cls(doc["shell"], tokens, merges, by_left, starts, *flags)

    @property
    def n_merges(self) -> int:
        return len(self.merges) // 3

    def full(self) -> Tokenizer:
        return self._with(range(len(self.tokens)), range(self.n_merges))

    def subset(self, texts: Sequence[str]) -> Tokenizer | None:
        """A tokenizer giving the whole model's ids on `texts`, or None when the texts are too
        long for a subset to pay."""
        from tokenizers import Tokenizer

        if sum(map(len, texts)) > SUBSET_CHARS:
            return None
        shell = Tokenizer.from_str(self.shell)
        words: set[str] = set()
        norm, pre = shell.normalizer, shell.pre_tokenizer
        for text in texts:
            seen = norm.normalize_str(text) if norm is not None else text
            words.update(w for w, _ in pre.pre_tokenize_str(seen)) if pre else words.add(seen)
        longest = self.longest
        if sum(len(w) * min(len(w), longest) for w in words) > SUBSET_BUDGET:
            return None
        ids = self.ids
        found = {
            tid
            for w in words
            for i in range(len(w))
            for j in range(i + 1, min(len(w), i + longest) + 1)
            if (tid := ids.get(w[i:j])) is not None
        }
        if self.byte_fallback:
            found |= {i for b in range(256) if (i := ids.get(f"<0x{b:02X}>")) is not None}
        m, by_left, starts = self.merges, self.by_left, self.left_start
        ranks = sorted(
            r for a in found for r in by_left[starts[a] : starts[a + 1]] if m[3 * r + 1] in found
        )
        return self._with(sorted(found | {m[3 * r + 2] for r in ranks}), ranks)

    def _with(self, keep: Sequence[int], ranks: Sequence[int]) -> Tokenizer:
        from tokenizers import Tokenizer, models

        toks, m = self.tokens, self.merges
        tok = Tokenizer.from_str(self.shell)
        tok.model = models.BPE(
            vocab={toks[i]: i for i in keep},
            merges=[(toks[m[3 * r]], toks[m[3 * r + 1]]) for r in ranks],
            ignore_merges=self.ignore_merges,
            byte_fallback=self.byte_fallback,
        )
        return tok

    @property
    def ids(self) -> dict[str, int]:
        """Token string -> id (the last id of a string written twice, as the model keeps)."""
        got: dict[str, int] | None = self.__dict__.get("_ids_cache")
        if got is None:
            got = dict(zip(self.tokens, range(len(self.tokens)), strict=True))
            object.__setattr__(self, "_ids_cache", got)
        return got

    @property
    def longest(self) -> int:
        got: int | None = self.__dict__.get("_longest_cache")
        if got is None:
            got = max(map(len, self.tokens), default=1)
            object.__setattr__(self, "_longest_cache", got)
        return got
