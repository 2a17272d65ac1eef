"""The ids of a byte-level BPE vocabulary's merges: per merge, its left half, right half and
result, in rank order, as llama.cpp reads `tokenizer.ggml.merges`.

Llama 3 has 280,147 merges. Decoding them to Python strings and looking each half and result
up in a dict costs ~0.45 s, most of a first `emb tokenize`. The fast path never makes the
strings: it hashes every token and every merge half straight from the file's bytes (a
polynomial hash mod 2**64 from one prefix sum per array), finds each half and result among the
tokens by hash, then compares the bytes of every match, so a hash collision can only send the
vocabulary to the exact string path, never give a wrong id. That path (bpe_pairs) also keeps
llama.cpp's rules for the merges the fast path does not take: a half that is no token, a merge
without a space, a pair written twice.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from emb_cli.errors import InputError
from emb_cli.sources.gguf.arrays import GGUFArray, StringBounds

if TYPE_CHECKING:
    import numpy as np

_P: Final = 0x9E3779B97F4A7C15  # odd, so invertible mod 2**64
_P_INV: Final = pow(_P, -1, 1 << 64)
_SLOT_BITS: Final = 21  # a 2M-slot table (8 MB) for 128k token hashes: ~6% share a slot
# the slot: the top bits of hash * _MIX (a short token's hash has no high bits of its own)
_MIX: Final = 0xD6E8FEB86659FD93
_SPACE: Final = 0x20
_LONGEST: Final = 1 << 16  # bytes of a token or merge the fast path takes (real ones: < 300)


def bpe_merge_ids(
    merges: Sequence[str] | GGUFArray, tokens: list[str], ids: dict[str, int], where: str
) -> np.ndarray:
    """int32 (n, 3): the ids of each merge's left half, right half and result, in rank order;
    a pair seen twice keeps its first rank."""
    import numpy as np

    out = _from_bytes(merges, tokens)
    if out is None:
        strings = merges.values() if isinstance(merges, GGUFArray) else merges
        kept = bpe_pairs(strings, ids, where)  # type: ignore[arg-type]
        flat = [ids[x] for a, b in kept for x in (a, b, a + b)]
        return np.asarray(flat, dtype=np.int32).reshape(-1, 3)
    key = out[:, 0].astype(np.int64) * len(tokens) + out[:, 1]
    ordered = np.sort(key)
    if len(ordered) > 1 and (ordered[1:] == ordered[:-1]).any():
        _, first = np.unique(key, return_index=True)
        out = out[np.sort(first)]
    return out


def _from_bytes(merges: Sequence[str] | GGUFArray, tokens: list[str]) -> np.ndarray | None:
    """The (n, 3) table where every merge is one space between two tokens whose join is a token
    (every real byte-level vocabulary), else None."""

    if not len(merges) or not tokens:
        return None
    where_m = merges.bounds() if isinstance(merges, GGUFArray) else _joined(merges)
    where_t = _joined(tokens)
    if where_m is None or where_t is None:
        return None
    for side in (where_m, where_t):  # int32 positions; small tables of P**-step
        if len(side.buf) >= 1 << 31 or side.lengths.max() > _LONGEST:
            return None
    halves = _split_at_space(where_m)
    if halves is None:
        return None
    left, right = halves
    found = _matches(where_t, where_m, left, right)
    if found is None:
        return None
    return found if _same_bytes(where_t, where_m, found, left, right) else None


def _matches(
    tokens: StringBounds, merges: StringBounds, left: np.ndarray, right: np.ndarray
) -> np.ndarray | None:
    """int32 (n, 3): the token whose hash each merge's left half, right half and join has;
    None where one has no token's. Its hash tables (~60 MB for Llama 3) end here."""
    import numpy as np

    table = _TokenTable(_PrefixHash(tokens.buf).at(tokens.starts, tokens.lengths))
    mh, starts = _PrefixHash(merges.buf), merges.starts
    queries = (
        mh.at(starts, left),
        mh.at(starts + left + 1, right),
        # the join: the right half's bytes one place further left, where the space was
        mh.joined(starts, left, right),
    )
    found = []
    for q in queries:
        ids = table.find(q)
        if ids is None:
            return None
        found.append(ids.astype(np.int32))
    return np.stack(found, axis=1)


def _joined(strings: Sequence[str]) -> StringBounds | None:
    """The strings' UTF-8 bytes joined by NUL, with where each lies; None if one holds a NUL."""
    import numpy as np

    buf = "\x00".join(strings).encode("utf-8", "surrogatepass")
    b = np.frombuffer(buf, dtype=np.uint8)
    nul = np.flatnonzero(b == 0)
    if len(nul) != len(strings) - 1:
        return None
    starts = np.concatenate(([0], nul + 1)).astype(np.int64)
    ends = np.concatenate((nul, [len(b)])).astype(np.int64)
    return StringBounds(b, starts, ends - starts)


def _split_at_space(m: StringBounds) -> tuple[np.ndarray, np.ndarray] | None:
    """The byte lengths of each merge's halves where every merge holds exactly one space, with
    a byte on each side; None otherwise (bpe_pairs applies llama.cpp's rule)."""
    import numpy as np

    at = np.flatnonzero(m.buf == _SPACE)
    ends = m.starts + m.lengths
    first = np.searchsorted(at, m.starts)
    if not np.all(np.searchsorted(at, ends) - first == 1):
        return None
    cut = at[first]
    left = cut - m.starts
    right = ends - cut - 1
    if not (left.all() and right.all()):
        return None
    return left, right


class _PrefixHash:
    """hash(s) = sum s[k] * P**k mod 2**64 of any run of one buffer, from one prefix sum."""

    def __init__(self, buf: np.ndarray) -> None:
        import numpy as np

        acc = np.full(len(buf) + 1, _P, dtype=np.uint64)
        acc[:2] = 0, 1
        np.cumprod(acc[1:], out=acc[1:])  # acc[k + 1] = P**k, wrapping mod 2**64 as meant
        acc[1:] *= buf
        np.cumsum(acc, out=acc)  # acc[k] = sum of buf[j] * P**j for j < k
        self.acc = acc

    def at(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The hashes of buf[starts[i] : starts[i] + lengths[i]] (starts non-decreasing)."""
        got: np.ndarray = (self.acc[starts + lengths] - self.acc[starts]) * _inverse_powers(starts)
        return got

    def joined(self, starts: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The hashes of left || right, the halves around the byte at starts + left."""
        import numpy as np

        acc, cut = self.acc, starts + left
        right_part = (acc[cut + 1 + right] - acc[cut + 1]) * np.uint64(_P_INV)
        got: np.ndarray = (acc[cut] - acc[starts] + right_part) * _inverse_powers(starts)
        return got


def _inverse_powers(starts: np.ndarray) -> np.ndarray:
    """P**-s for each of the non-decreasing positions s: a running product of the steps."""
    import numpy as np

    steps = np.diff(starts, prepend=0)
    table = np.full(int(steps.max(initial=0)) + 1, _P_INV, dtype=np.uint64)
    table[0] = 1
    np.cumprod(table, out=table)
    out = table[steps]
    np.cumprod(out, out=out)
    return out


class _TokenTable:
    """Token hash -> token id: a direct slot table, sorted search for the shared slots."""

    def __init__(self, hashes: np.ndarray) -> None:
        import numpy as np

        self.hashes = hashes
        self.shift = np.uint64(64 - _SLOT_BITS)
        slots = self._slots(hashes)
        ordered = np.sort(slots)
        shared = np.isin(slots, ordered[1:][ordered[1:] == ordered[:-1]])
        self.table = np.full(1 << _SLOT_BITS, -1, dtype=np.int32)
        self.table[slots] = np.arange(len(hashes), dtype=np.int32)
        self.table[slots[shared]] = -2
        # the tokens of shared slots, by hash, for a sorted search
        self.order = np.flatnonzero(shared)
        self.order = self.order[np.argsort(hashes[self.order])]
        self.sorted = hashes[self.order]
        self.distinct = not np.any(self.sorted[1:] == self.sorted[:-1])

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        import numpy as np

        return ((hashes * np.uint64(_MIX)) >> self.shift).astype(np.intp)

    def find(self, queries: np.ndarray) -> np.ndarray | None:
        """The id of each query's hash; None where one is no token's hash (or two tokens share
        a hash: the string path sorts them out)."""
        import numpy as np

        if not self.distinct:
            return None
        got = self.table[self._slots(queries)]
        if np.any(got == -1):
            return None
        shared = np.flatnonzero(got == -2)
        if len(shared):
            pos = np.searchsorted(self.sorted, queries[shared])
            pos[pos == len(self.sorted)] = 0
            got[shared] = self.order[pos]
        ids: np.ndarray = got
        return ids if np.array_equal(self.hashes[ids], queries) else None


def _same_bytes(
    tokens: StringBounds, merges: StringBounds, ids: np.ndarray, left: np.ndarray,
    right: np.ndarray,
) -> bool:  # fmt: skip
    """Whether every matched token's bytes are its merge's half or join, byte for byte: the
    merges' text without prefixes and spaces against the matched halves, and against the
    matched joins, each laid end to end in merge order."""
    import numpy as np

    n = tokens.lengths
    if not (
        np.array_equal(n[ids[:, 0]], left)
        and np.array_equal(n[ids[:, 1]], right)
        and np.array_equal(n[ids[:, 2]], left + right)
    ):
        return False
    halves = np.stack((left, right), axis=1).ravel()
    text = merges.buf[_runs(np.stack((merges.starts, merges.starts + left + 1), axis=1), halves)]
    matched = tokens.buf[_runs(tokens.starts[ids[:, :2]], halves)]
    if not np.array_equal(matched, text):
        return False
    return bool(np.array_equal(tokens.buf[_runs(tokens.starts[ids[:, 2]], left + right)], text))


def _runs(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """int32 positions start, start + 1 ... of runs of lengths >= 1, one run after another:
    ones, with each run's first position jumping from the previous run's last, summed."""
    import numpy as np

    starts, lengths = starts.ravel(), lengths.ravel()
    out = np.ones(int(lengths.sum()), dtype=np.int32)
    out[0] = starts[0]
    out[np.cumsum(lengths[:-1])] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return np.cumsum(out, dtype=np.int32, out=out)


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
