"""llama.cpp's PLaMo-2 tokenizer (tokenizer.ggml.model "plamo2"), ported from llm_tokenizer_plamo2.

A dynamic programme from the end of the text: at each code point, every non-byte token that
starts there costs its score times 10,000 rounded to an integer (negated), an unknown code
point 10,000,000 and is spelt in <0xXX> byte tokens; the cheapest path wins, the longest token
among equal costs (llama.cpp's table lists a suffix's pieces longest first and keeps the first
strictly cheaper one). Integer costs, so exact; pure Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from emb_cli.errors import InputError
from emb_cli.sources.gguf.python_models import byte_token

_UNKNOWN = -10_000_000


def _round(x: float) -> int:
    """std::round: halves away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


@dataclass
class Plamo2Encoder:
    costs: dict[str, tuple[int, int]]  # token text -> (rounded score, id), non-byte tokens only
    max_len: int
    bytes_: list[int]  # byte value -> id of its <0xXX> token

    @classmethod
    def build(
        cls, tokens: Sequence[str], scores: Sequence[float], is_byte: Sequence[bool], where: str
    ) -> Plamo2Encoder:
        costs: dict[str, tuple[int, int]] = {}
        byte_ids = [0] * 256
        for i, (text, score) in enumerate(zip(tokens, scores, strict=True)):
            if is_byte[i]:
                if len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
                    try:
                        byte_ids[int(text[3:5], 16)] = i
                    except ValueError:
                        pass
                continue
            if math.isfinite(score):
                costs[text] = (_round(score * 1e4), i)
        missing = [b for b in range(256) if byte_ids[b] == 0]
        if missing:
            raise InputError(
                f"{where}: PLaMo-2 vocabulary without byte token {byte_token(missing[0])}, "
                "which llama.cpp refuses to load"
            )
        return cls(costs, max(map(len, costs), default=1), byte_ids)

    def encode(self, text: str, after_special: bool) -> list[int]:
        if text.startswith("\ufeff"):
            text = text[1:]
        n = len(text)
        if not n:
            return []
        best = [1 << 60] * (n + 1)
        best[n] = 0
        step: list[tuple[int, int]] = [(0, -1)] * (n + 1)  # (length, id; -1 for bytes)
        costs = self.costs
        for i in range(n - 1, -1, -1):
            for size in range(min(self.max_len, n - i), 0, -1):
                got = costs.get(text[i : i + size])
                if got is not None and best[i + size] - got[0] < best[i]:
                    best[i] = best[i + size] - got[0]
                    step[i] = (size, got[1])
            if best[i + 1] - _UNKNOWN < best[i]:
                best[i] = best[i + 1] - _UNKNOWN
                step[i] = (1, -1)
        out: list[int] = []
        pos = 0
        while pos < n:
            size, tid = step[pos]
            if tid >= 0:
                out.append(tid)
            else:
                out.extend(self.bytes_[b] for b in text[pos].encode("utf-8", "surrogatepass"))
            pos += size
        return out
