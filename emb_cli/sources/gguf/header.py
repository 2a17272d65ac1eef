"""GGUF headers (llama.cpp) parsed from bytes: metadata and tensor infos, bounds-checked.

gguf's GGUFReader builds one numpy view per array element: a Llama-3 GGUF (128,256
tokens, 280,000 merges) takes 20-30 s and ~670 MB just to open. Here the header is
read in a few growing blocks (1 MiB, then doubling: five reads for Llama-3's 8 MB
header, which matters for a remote file), scalars are decoded, and arrays are only
walked for their length; their elements are decoded on demand by GGUFArray (arrays.py).

Every count and length is checked against the bytes left before anything is
allocated or looped over, so a damaged or hostile file fails with one InputError
line, in time proportional to its header. Pure stdlib to open; numpy (imported when
used) for GGUFArray.numpy() and to decode big string arrays.

Layout (little-endian; GGUF v2 and v3 are the same):
  magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
  kv:     string key | u32 value type | value
  tensor: string name | u32 n_dims | u64 ne[n_dims] (ne0 first) | u32 ggml type | u64 offset
  padding to `general.alignment` (default 32), then the tensor data
  string: u64 length | UTF-8 bytes;  array: u32 element type | u64 count | elements
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emb_cli.errors import InputError
from emb_cli.sources.gguf.arrays import Blob, GGUFArray, Value, broken
from emb_cli.sources.gguf.constants import (
    ARRAY,
    DEFAULT_ALIGNMENT,
    GGML_MAX_DIMS,
    MAGIC,
    SCALARS,
    STRING,
    TYPE_NAMES,
    U32,
    U64,
    UINT32,
    VERSIONS,
    ggml_type_sizes,
)
from emb_cli.sources.tensors import LocalReader

if TYPE_CHECKING:
    from emb_cli.sources.base import RangeReader

INT64_MAX = 2**63 - 1
FIRST_READ = 1 << 20  # then doubled: 1, 2, 4, 8, 16 MiB cover any real header in 5 reads
# Llama-3's header is 8 MB and the largest vocabularies (256k tokens with merges and
# scores) stay under 50 MB; 256 MiB bounds memory and the string walk (~3 s at most).
MAX_HEADER = 256 << 20
# llama.cpp refuses arrays of arrays and GGUFReader recurses once per level (Python's
# limit of 1000 frames); no writer nests more than 2 levels.
MAX_NESTING = 32
# string arrays whose end is worth keeping in the cache (a vocabulary's tokens, merges)
BIG_ARRAY = 10_000
_COUNTS = struct.Struct("<4sIQQ")
# smallest encodings, for bounding counts before looping: a kv pair is an empty key (8),
# a type (4) and a 1-byte value; a tensor info an empty name (8), n_dims (4), type (4)
# and offset (8); an inner array its type (4) and count (8)
MIN_KV, MIN_TENSOR, MIN_ARRAY = 13, 24, 12


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One tensor: ggml's dims (ne0, the row width, first) and where its bytes lie."""

    name: str
    dims: tuple[int, ...]
    ggml_type: int
    type_name: str  # "F16", "Q8_0" ...
    offset: int  # absolute file offset of the first byte
    nbytes: int
    block_size: int  # values per block: 1 for F32/F16/BF16, 32 for Q8_0, 256 for Q4_K
    type_size: int  # bytes per block

    @property
    def shape(self) -> tuple[int, ...]:
        """PyTorch order: token_embd.weight of a 32000 x 4096 table is (32000, 4096)."""
        return self.dims[::-1]

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFHeader:
    """A GGUF file's header: metadata (`kv`, in file order) and tensor infos."""

    file: str
    size: int  # file size in bytes
    version: int
    alignment: int
    kv: dict[str, Value]
    types: dict[str, int]  # each key's GGUF value type (ARRAY for arrays)
    tensors: dict[str, GGUFTensorInfo]  # in file order
    header_size: int  # end of the tensor infos
    data_offset: int  # start of the tensor data: header_size padded to the alignment

    def int_value(self, key: str) -> int | None:
        """An integer scalar (any int type; not bool), or None if absent or not an int."""
        value = self.kv.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def str_value(self, key: str) -> str | None:
        value = self.kv.get(key)
        return value if isinstance(value, str) else None

    def array(self, key: str) -> GGUFArray | None:
        value = self.kv.get(key)
        return value if isinstance(value, GGUFArray) else None


def read_gguf_header(source: RangeReader | Path | str) -> GGUFHeader:
    """Parse the header of a local path or of any RangeReader (remote: a few reads).

    Walking the length prefixes of a big string array (Llama 3's 408,000 tokens and merges)
    is most of the time a header takes. For a local file, where each big array ended is kept
    in emb's cache (keyed by the file's identity, tokenizer_cache.py), so the next read
    jumps over it; a kept end that does not fit the file is ignored and walked again."""
    if not isinstance(source, (Path, str)):
        return _Parser(source).parse()
    from emb_cli.sources.gguf import tokenizer_cache

    try:
        reader = LocalReader(str(source))
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    try:
        known = tokenizer_cache.load_string_ends(Path(source))
        parser = _Parser(reader, known)
        try:
            header = parser.parse()
        except InputError:
            if not known:
                raise
            known = {}  # a kept end that led astray: the walk decides
            parser = _Parser(reader, known)
            header = parser.parse()
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    finally:
        reader.close()
    if parser.walked:
        tokenizer_cache.save_string_ends(Path(source), {**known, **parser.walked})
    return header


def _short(text: str) -> str:
    """A key or tensor name as messages show it: at most 80 characters."""
    return text if len(text) <= 80 else text[:77] + "..."


class _Parser:
    def __init__(self, reader: RangeReader, known: dict[int, int] | None = None) -> None:
        self.reader = reader
        # big string arrays: where the first element starts -> where the array ends
        self.known = known or {}
        self.walked: dict[int, int] = {}
        self.name = reader.name
        self.buf = bytearray(reader.read(0, FIRST_READ))
        self.size = reader.size
        self.limit = min(self.size, MAX_HEADER)  # where the header must end
        self.pos = 0
        self.where = "the header"

    # ------------------------------------------------------------ bytes
    def _grow(self, end: int) -> None:
        """Make buf hold bytes [0, end), reading at least as much again as it has."""
        if end > self.limit:
            raise self._past(end)
        have = len(self.buf)
        want = min(self.limit, max(end, 2 * have))
        self.buf += self.reader.read(have, want - have)
        if len(self.buf) < end:  # the file shrank, or a server sent less than it said
            raise broken(self.name, f"the file ends inside {self.where}")

    def _past(self, end: int) -> InputError:
        """`where` needs the bytes up to `end`, past the file or past MAX_HEADER."""
        if end > self.size:
            return broken(
                self.name, f"{self.where} needs bytes up to {end}, the file has {self.size}"
            )
        return InputError(
            f"{self.name} is not a readable GGUF file: {self.where} needs bytes up to {end}, "
            f"past the {MAX_HEADER >> 20} MiB that emb reads as a header; it is damaged or "
            "not a model file: download or convert it again"
        )

    def _take(self, n: int) -> int:
        """Claim the next n bytes; returns their offset."""
        start = self.pos
        end = start + n
        if end > len(self.buf):
            self._grow(end)
        self.pos = end
        return start

    def u32(self) -> int:
        value: int = U32.unpack_from(self.buf, self._take(4))[0]
        return value

    def u64(self) -> int:
        value: int = U64.unpack_from(self.buf, self._take(8))[0]
        return value

    def string(self, errors: str) -> str:
        n = self.u64()
        if n > self.limit - self.pos:  # before slicing: n may be 2**64 - 1
            raise self._past(self.pos + n)
        start = self._take(n)
        try:
            return self.buf[start : start + n].decode("utf-8", errors)
        except UnicodeDecodeError as exc:
            raise broken(self.name, f"{self.where} is not UTF-8: {exc.reason}") from exc

    def count(self, n: int, itemsize: int, what: str) -> None:
        """Refuse n items of at least itemsize bytes each that cannot fit before the limit."""
        if n * itemsize > self.limit - self.pos:
            if self.pos + n * itemsize <= self.size:
                raise self._past(self.pos + n * itemsize)
            raise broken(
                self.name,
                f"{self.where} claims {n} {what}, more than the {self.size - self.pos} bytes "
                "left in the file can hold",
            )

    # ------------------------------------------------------------ structure
    def parse(self) -> GGUFHeader:
        head = bytes(self.buf[:4])
        if head != MAGIC:
            raise InputError(
                f"{self.name} is not a GGUF file: it starts with {head!r}, not {MAGIC!r}; "
                "pass a .gguf file written by llama.cpp, or rename it if it is another format"
            )
        self.where = "the 24-byte file header"
        _, version, n_tensors, n_kv = _COUNTS.unpack_from(self.buf, self._take(_COUNTS.size))
        self._check_version(version)
        self.where = "the header"
        # both counts at once: 2**63 kv pairs must not pass because tensors are 0
        least = n_kv * MIN_KV + n_tensors * MIN_TENSOR
        if least > self.limit - self.pos:
            if self.pos + least <= self.size:
                raise self._past(self.pos + least)
            raise broken(
                self.name,
                f"its header claims {n_kv} metadata keys and {n_tensors} tensors, more than "
                f"the {self.size - self.pos} bytes left in the file can hold",
            )

        blob = Blob()
        kv: dict[str, Value] = {}
        types: dict[str, int] = {}
        for i in range(n_kv):
            self.where = f"metadata key {i}"
            key = self.string("strict")
            self.where = f"metadata key {_short(key)}"
            if key in kv:
                raise broken(self.name, f"the metadata key {_short(key)} appears twice")
            vtype = self.u32()
            kv[key] = self.value(key, vtype, blob)
            types[key] = vtype

        raw_tensors = [self.tensor_info(i) for i in range(n_tensors)]
        header_size = self.pos
        alignment = self._alignment(kv, types)
        data_offset = -(-header_size // alignment) * alignment
        tensors: dict[str, GGUFTensorInfo] = {}
        for name, dims, ggml_type, rel in raw_tensors:
            if name in tensors:
                raise broken(self.name, f"the tensor name {_short(name)} appears twice")
            tensors[name] = self._place(name, dims, ggml_type, rel, data_offset, alignment)

        blob.data = bytes(memoryview(self.buf)[:header_size])  # one copy, not two
        self.buf = bytearray()
        return GGUFHeader(
            file=self.name,
            size=self.size,
            version=version,
            alignment=alignment,
            kv=kv,
            types=types,
            tensors=tensors,
            header_size=header_size,
            data_offset=data_offset,
        )

    def _check_version(self, version: int) -> None:
        if version in VERSIONS:
            return
        if version == 1:
            raise InputError(
                f"{self.name} is a GGUF version 1 file, which llama.cpp and gguf no longer "
                "read; convert the model again with a current llama.cpp"
            )
        if version & 0xFFFF == 0 and version:
            # GGUFReader would byte-swap; llama.cpp refuses, and emb reads rows as
            # little-endian, so a big-endian file would give wrong values
            raise InputError(
                f"{self.name} is a big-endian GGUF file; emb reads little-endian GGUF files "
                "only, as llama.cpp does on this machine: convert the model again without "
                "--bigendian (or with gguf-convert-endian FILE little)"
            )
        raise broken(self.name, f"GGUF version {version}; emb reads versions 2 and 3")

    def value(self, key: str, vtype: int, blob: Blob) -> Value:
        scalar = SCALARS.get(vtype)
        if scalar is not None:
            code, size = scalar
            value: Value = struct.unpack_from("<" + code, self.buf, self._take(size))[0]
            return value
        if vtype == STRING:
            # a bad byte in a name or a chat template should not make the model unreadable
            return self.string("replace")
        if vtype == ARRAY:
            etype = self.u32()
            n = self.u64()
            start = self.pos
            self.skip(etype, n, 1)
            return GGUFArray(key, etype, n, start, self.pos - start, self.name, blob)
        raise broken(self.name, f"{self.where} has unknown value type {vtype}")

    def skip(self, etype: int, n: int, depth: int) -> None:
        """Step over n array elements of type etype, checking each length."""
        scalar = SCALARS.get(etype)
        if scalar is not None:
            self.count(n, scalar[1], f"{TYPE_NAMES[etype]} values")
            self._take(n * scalar[1])
        elif etype == STRING:
            self.count(n, 8, "strings")
            start = self.pos
            end = self.known.get(start, -1)
            if n >= BIG_ARRAY and start + 8 * n <= end <= self.limit:
                if end > len(self.buf):
                    self._grow(end)
                self.pos = end
                return
            self._walk_strings(n)
            if n >= BIG_ARRAY:
                self.walked[start] = self.pos
        elif etype == ARRAY:
            if depth >= MAX_NESTING:
                raise broken(self.name, f"{self.where} nests arrays over {MAX_NESTING} deep")
            self.count(n, MIN_ARRAY, "arrays")
            for _ in range(n):
                inner = self.u32()
                self.skip(inner, self.u64(), depth + 1)
        else:
            # GGUFReader accepts an unknown type in an empty array; llama.cpp refuses it
            raise broken(self.name, f"{self.where} is an array of unknown value type {etype}")

    def _walk_strings(self, n: int) -> None:
        # One unpack per string on the whole buffer (~60 ns each): the 408k strings of a
        # Llama-3 vocabulary in ~30 ms. Where it runs off the buffer, grow it and go on.
        unpack = U64.unpack_from
        pos = self.pos
        done = 0
        while done < n:
            buf = self.buf
            i = done
            try:
                for i in range(done, n):  # noqa: B007 (i is read in the except)
                    pos += 8 + unpack(buf, pos)[0]
                done = n
            except (struct.error, OverflowError):  # past the buffer (or past 2**63): grow
                done = i
                self.pos = pos
                self._grow(pos + 8)
        if pos > len(self.buf):  # the last string's bytes
            self._grow(pos)
        self.pos = pos

    def tensor_info(self, i: int) -> tuple[str, tuple[int, ...], int, int]:
        self.where = f"tensor info {i}"
        name = self.string("strict")
        self.where = f"tensor {_short(name)}"
        n_dims = self.u32()
        if n_dims > GGML_MAX_DIMS:
            raise broken(self.name, f"tensor {name} has {n_dims} dimensions; ggml allows 4")
        dims = struct.unpack_from(f"<{n_dims}Q", self.buf, self._take(8 * n_dims))
        n = 1
        for d in dims:
            n *= d
        if any(d > INT64_MAX for d in dims) or n > INT64_MAX:
            # llama.cpp reads dims as int64 and refuses negatives and overflowing products
            raise broken(self.name, f"tensor {name} has impossible dimensions {list(dims)}")
        ggml_type = self.u32()
        return name, dims, ggml_type, self.u64()

    def _alignment(self, kv: dict[str, Value], types: dict[str, int]) -> int:
        self.where = "general.alignment"
        if "general.alignment" not in kv:
            return DEFAULT_ALIGNMENT
        # GGUFReader and llama.cpp both want a uint32 that is a power of two
        if types["general.alignment"] != UINT32:
            raise broken(
                self.name,
                f"general.alignment is a {TYPE_NAMES[types['general.alignment']]}, not a uint32",
            )
        alignment = kv["general.alignment"]
        assert isinstance(alignment, int)
        if alignment <= 0 or alignment & (alignment - 1):
            raise broken(self.name, f"general.alignment is {alignment}, not a power of two")
        return alignment

    def _place(
        self,
        name: str,
        dims: tuple[int, ...],
        ggml_type: int,
        rel: int,
        data_offset: int,
        alignment: int,
    ) -> GGUFTensorInfo:
        sizes = ggml_type_sizes(ggml_type)
        if sizes is None:
            raise broken(self.name, f"tensor {name} has unknown ggml type {ggml_type}")
        type_name, block, type_size = sizes
        row = dims[0] if dims else 1
        if row % block:
            raise InputError(
                f"{self.name} is not a valid GGUF file: tensor {name} is {type_name} with rows "
                f"of {row} values, not a multiple of its {block}-value block"
            )
        n = 1
        for d in dims:
            n *= d
        nbytes = n // block * type_size
        if rel % alignment:
            raise broken(
                self.name,
                f"tensor {name} starts at data offset {rel}, not a multiple of the "
                f"{alignment}-byte alignment",
            )
        offset = data_offset + rel
        if offset + nbytes > self.size:
            raise InputError(
                f"{self.name} is truncated: tensor {name} needs bytes up to {offset + nbytes}, "
                f"the file has {self.size}; download or convert it again"
            )
        return GGUFTensorInfo(name, dims, ggml_type, type_name, offset, nbytes, block, type_size)
