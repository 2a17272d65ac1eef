"""GGUF metadata arrays, decoded only when asked: the parser (header.py) walks an array
for its length and hands out a GGUFArray, which decodes its elements from the header's
bytes on demand (a few by index, a prefix, or all of them; numeric ones as a numpy view).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from emb_cli.errors import InputError
from emb_cli.sources.gguf.constants import NUMPY_DTYPES, SCALARS, STRING, TYPE_NAMES, U64

if TYPE_CHECKING:
    import numpy as np

# string arrays this long are decoded by numpy passes (~10x faster than a loop)
BULK_STRINGS = 2048

Value = Union[int, float, bool, str, "GGUFArray"]


class Blob:
    """The header's bytes, shared by every GGUFArray of one file (set once parsed)."""

    data: bytes = b""


@dataclass(frozen=True, eq=False)
class GGUFArray:
    """A metadata array, not yet decoded: where its elements lie in the file.

    `offset` is the absolute file offset of the first element (after the element type
    and count), `nbytes` the bytes of all elements. For an array of arrays each
    element is itself a GGUFArray (its own type and count), as GGUF allows.
    """

    key: str
    type: int  # the element's GGUF value type (STRING, INT32, ARRAY ...)
    count: int
    offset: int
    nbytes: int
    file: str = field(repr=False)
    _blob: Blob = field(repr=False)

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.type]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Value]:
        return iter(self.values())

    def values(self, errors: str = "strict") -> list[Value]:
        """Every element: str, int, float or bool (GGUFArray for arrays of arrays).

        `errors` is passed to bytes.decode; with "strict", a string that is not UTF-8
        raises InputError. 128k token strings: ~20 ms (numpy passes, _bulk_strings).
        """
        return self.head(self.count, errors)

    def head(self, n: int, errors: str = "strict") -> list[Value]:
        """The first n elements (all of them if n >= count); cost grows with n only."""
        n = max(0, min(n, self.count))
        data = self._blob.data
        if self.type in SCALARS:
            code, _ = SCALARS[self.type]
            return list(struct.unpack_from(f"<{n}{code}", data, self.offset))
        if self.type == STRING:
            return self._strings(data, n, errors)  # type: ignore[return-value]
        return self._arrays(data, n)  # type: ignore[return-value]

    def get(self, i: int, errors: str = "strict") -> Value:
        """Element i (negative counts from the end); strings walk the i before it."""
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f"{self.key}: index {i} out of range for {self.count} elements")
        if self.type in SCALARS:
            code, size = SCALARS[self.type]
            value: Value = struct.unpack_from("<" + code, self._blob.data, self.offset + i * size)[
                0
            ]
            return value
        return self.head(i + 1, errors)[i]

    def strings_at(self, ids: Sequence[int], errors: str = "replace") -> dict[int, str]:
        """A few elements of a string array by index, walking lengths up to the largest
        (no numpy, no decode of the others): info's special tokens in ~10 ms of 128k."""
        if self.type != STRING:
            raise TypeError(f"{self.key} is an array of {self.type_name}, not of strings")
        want = {i for i in ids if 0 <= i < self.count}
        out: dict[int, str] = {}
        if not want:
            return out
        data, unpack, pos = self._blob.data, U64.unpack_from, self.offset
        last = max(want)
        for i in range(last + 1):
            (length,) = unpack(data, pos)
            pos += 8
            if i in want:
                out[i] = data[pos : pos + length].decode("utf-8", errors)
            pos += length
        return out

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, int):
            return self.get(index)
        start, stop, step = index.indices(self.count)
        if step > 0 and start >= stop:
            return []
        return self.head(max(start, stop) + 1)[index]

    def bounds(self) -> StringBounds | None:
        """Where each string of a string array lies in the header's bytes (string_bounds)."""
        if self.type != STRING:
            raise TypeError(f"{self.key} is an array of {self.type_name}, not of strings")
        return string_bounds(self._blob.data, self.offset, self.nbytes, self.count)

    def numpy(self) -> np.ndarray:
        """A numeric array as a read-only numpy view of the header bytes (no copy)."""
        import numpy as np

        if self.type not in NUMPY_DTYPES:
            raise TypeError(f"{self.key} is an array of {self.type_name}, not of numbers")
        return np.frombuffer(
            self._blob.data, dtype=NUMPY_DTYPES[self.type], count=self.count, offset=self.offset
        )

    def _strings(self, data: bytes, n: int, errors: str) -> list[str]:
        if n >= BULK_STRINGS:
            every = _bulk_strings(data, self.offset, self.nbytes, self.count, errors)
            if every is not None:
                return every[:n]
        unpack = U64.unpack_from
        out: list[str] = []
        append = out.append
        pos = self.offset
        try:
            for _ in range(n):
                (length,) = unpack(data, pos)
                pos += 8
                end = pos + length
                append(data[pos:end].decode("utf-8", errors))
                pos = end
        except UnicodeDecodeError as exc:
            raise broken(
                self.file, f"string {len(out)} of {self.key} is not UTF-8: {exc.reason}"
            ) from exc
        return out

    def _arrays(self, data: bytes, n: int) -> list[GGUFArray]:
        out: list[GGUFArray] = []
        pos = self.offset
        for i in range(n):
            etype, count = struct.unpack_from("<IQ", data, pos)
            end = _skip_known(data, pos + 12, etype, count)
            key = f"{self.key}[{i}]"
            out.append(
                GGUFArray(key, etype, count, pos + 12, end - pos - 12, self.file, self._blob)
            )
            pos = end
        return out


@dataclass(frozen=True)
class StringBounds:
    """Where each string of an array lies: `buf` the array's bytes (a uint8 view, length
    prefixes included), string i at buf[starts[i] : starts[i] + lengths[i]] (int64)."""

    buf: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray


def string_bounds(data: bytes, offset: int, nbytes: int, count: int) -> StringBounds | None:
    """Every length prefix of a string array found in a few numpy passes, or None.

    A prefix is taken to be a u64 under 2**24 (its top five bytes zero; the last of a run
    of such positions), and the guess is kept only if the prefixes chain exactly from the
    first byte to the last: a vocabulary with NULs or very long tokens, where the guess can
    fail, goes back to a loop (None).
    """
    import numpy as np

    if count == 0 or nbytes < 8 * count:
        return None
    b = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
    zero = b == 0
    n_pos = nbytes - 7  # prefixes start at 0 .. nbytes - 8
    cand = zero[3 : 3 + n_pos].copy()
    for k in range(4, 8):
        cand &= zero[k : k + n_pos]
    cand[:-1] &= ~cand[1:]  # a u64 LE under 2**24 is the last of a run of such positions
    starts = np.flatnonzero(cand)
    if len(starts) != count or starts[0] != 0:
        return None
    lengths = b[starts].astype(np.int64)
    lengths |= b[starts + 1].astype(np.int64) << 8
    lengths |= b[starts + 2].astype(np.int64) << 16
    ends = starts + 8 + lengths
    if ends[-1] != nbytes or not np.array_equal(ends[:-1], starts[1:]):
        return None
    return StringBounds(b, starts + 8, lengths)


def _bulk_strings(
    data: bytes, offset: int, nbytes: int, count: int, errors: str
) -> list[str] | None:
    """All `count` strings of an array decoded as one text (a loop costs ~300 ns a string:
    unpack, slice, decode), or None where string_bounds cannot place them. With each length
    prefix zeroed, eight NULs stand between two strings, which hold no NUL of their own."""
    found = string_bounds(data, offset, nbytes, count)
    if found is None:
        return None
    buf = found.buf.copy()
    for k in range(8, 5, -1):  # a length under 2**24 is in a prefix's first three bytes
        buf[found.starts - k] = 0
    joined = buf.tobytes()
    if joined.count(0) != 8 * count:  # a NUL inside a string
        return None
    try:
        text = joined.decode("utf-8", errors)
    except UnicodeDecodeError:
        return None  # the loop names the string
    return text.split("\x00" * 8)[1:]


def _skip_known(data: bytes, pos: int, etype: int, count: int) -> int:
    """End of `count` elements at pos in a header already validated by _Parser."""
    if etype in SCALARS:
        return pos + count * SCALARS[etype][1]
    if etype == STRING:
        unpack = U64.unpack_from
        for _ in range(count):
            pos += 8 + unpack(data, pos)[0]
        return pos
    for _ in range(count):
        inner, n = struct.unpack_from("<IQ", data, pos)
        pos = _skip_known(data, pos + 12, inner, n)
    return pos


def broken(name: str, what: str) -> InputError:
    """A damaged file, in one wording whether the parser or an array found it."""
    return InputError(
        f"{name} is not a readable GGUF file ({what}); it is truncated or damaged: "
        "download or convert it again"
    )
