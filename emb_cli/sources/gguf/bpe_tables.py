"""A byte-level BPE vocabulary as compact tables, built whole or only for the text at hand.

Handing tokenizers Llama 3's 128,256 tokens and 280,147 merges costs about 0.4 s (1 s from its
JSON), more than tokenizing a page takes. BPE joins only symbols inside one pre-tokenized
word, so on a given text it only ever forms tokens that are substrings of its words, and
only merges between two such tokens can apply: a BPE holding just those tokens and merges,
in the file's order, gives the same ids (the same merges in the same relative order, the same
whole-word look-up for ignore_merges). `subset` builds that for short texts; long ones get
the whole model, built once. The tables (token strings, and per merge the ids of its two
halves and of its result) are what emb's tokenizer cache keeps.
"""

from __future__ import annotations

import base64
import json
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


@dataclass(frozen=True)
class BpeTables:
    shell: str  # tokenizers JSON of the normaliser and pre-tokenizer, with an empty BPE model
    tokens: list[str]
    merges: np.ndarray  # int32 (n, 3): left id, right id, result id, in rank order
    ignore_merges: bool
    byte_fallback: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "shell": self.shell,
            "tokens": self.tokens,
            "merges": base64.b64encode(self.merges.astype("<i4").tobytes()).decode("ascii"),
            "ignore_merges": self.ignore_merges,
            "byte_fallback": self.byte_fallback,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> BpeTables:
        """ValueError/TypeError/KeyError for anything that is not a table emb wrote."""
        import numpy as np

        tokens = doc["tokens"]
        if not isinstance(tokens, list) or not set(map(type, tokens)) <= {str}:
            raise TypeError("tokens")
        raw = base64.b64decode(doc["merges"], validate=True)
        merges = np.frombuffer(raw, dtype="<i4").reshape(-1, 3).astype(np.int32)
        if merges.size and (merges.min() < 0 or merges.max() >= len(tokens)):
            raise ValueError("merge ids")
        json.loads(doc["shell"])  # a ValueError here rather than inside Rust
        flags = doc["ignore_merges"], doc["byte_fallback"]
        if not all(type(f) is bool for f in flags):
            raise TypeError("flags")
        return cls(doc["shell"], tokens, merges, *flags)

    def full(self) -> Tokenizer:
        return self._with(range(len(self.tokens)), self.merges)

    def subset(self, texts: Sequence[str]) -> Tokenizer | None:
        """A tokenizer giving the whole model's ids on `texts`, or None when the texts are too
        long for a subset to pay."""
        import numpy as np
        from tokenizers import Tokenizer

        if sum(map(len, texts)) > SUBSET_CHARS:
            return None
        shell = Tokenizer.from_str(self.shell)
        words: set[str] = set()
        norm, pre = shell.normalizer, shell.pre_tokenizer
        for text in texts:
            seen = norm.normalize_str(text) if norm is not None else text
            words.update(w for w, _ in pre.pre_tokenize_str(seen)) if pre else words.add(seen)
        longest = self._longest
        if sum(len(w) * min(len(w), longest) for w in words) > SUBSET_BUDGET:
            return None
        ids = self._ids
        found = {
            tid
            for w in words
            for i in range(len(w))
            for j in range(i + 1, min(len(w), i + longest) + 1)
            if (tid := ids.get(w[i:j])) is not None
        }
        if self.byte_fallback:
            found |= {i for b in range(256) if (i := ids.get(f"<0x{b:02X}>")) is not None}
        have = np.zeros(len(self.tokens), dtype=bool)
        have[list(found)] = True
        merges = self.merges[have[self.merges[:, 0]] & have[self.merges[:, 1]]]
        return self._with(sorted(found | set(merges[:, 2].tolist())), merges)

    def _with(self, keep: Sequence[int], merges: np.ndarray) -> Tokenizer:
        from tokenizers import Tokenizer, models

        toks = self.tokens
        tok = Tokenizer.from_str(self.shell)
        tok.model = models.BPE(
            vocab={toks[i]: i for i in keep},
            merges=[(toks[a], toks[b]) for a, b, _ in merges.tolist()],
            ignore_merges=self.ignore_merges,
            byte_fallback=self.byte_fallback,
        )
        return tok

    @property
    def _ids(self) -> dict[str, int]:
        got: dict[str, int] | None = self.__dict__.get("_ids_cache")
        if got is None:
            got = dict(zip(self.tokens, range(len(self.tokens)), strict=True))
            object.__setattr__(self, "_ids_cache", got)
        return got

    @property
    def _longest(self) -> int:
        got: int | None = self.__dict__.get("_longest_cache")
        if got is None:
            got = max(map(len, self.tokens), default=1)
            object.__setattr__(self, "_longest_cache", got)
        return got
