"""The interfaces of sources/: what a table source answers, what a checkpoint holds.

Only interfaces and plain facts live here; this module imports nothing of emb above
errors, so every format module and every analysis can depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from emb_cli.errors import InputError, TensorNotFound, TokenIdError, first_line

if TYPE_CHECKING:
    import numpy as np
    import torch
    from tokenizers import Tokenizer

# Rows per streamed block: 4 MiB (256 rows of float32 at D=4096), bounded whatever the
# table size. malloc recycles blocks this small; 32 MiB ones were fresh mmaps, page-faulted
# on every read: 1.6 GB read in 2 s instead of 0.1 s (8 MiB still faulted with 2 workers).
CHUNK_BYTES = 4 * 2**20


class Format(StrEnum):
    """Every checkpoint format emb reads: the `kind` of a Checkpoint, named once."""

    SAFETENSORS = "safetensors"
    SHARDED = "sharded"
    HF_DIR = "hf-dir"
    GGUF = "gguf"
    TORCH = "torch"

    @property
    def accepts(self) -> str:
        """What a user passes to --from for this format (help texts are built from it)."""
        return _ACCEPTS[self]


_ACCEPTS = {
    Format.SAFETENSORS: ".safetensors",
    Format.SHARDED: "sharded index",
    Format.HF_DIR: "HF model dir",
    Format.GGUF: ".gguf",
    Format.TORCH: ".bin/.pt",
}
REMOTE_ACCEPTS = "ORG/NAME (the local HF cache, else the Hub), a URL or hf://ORG/REPO"


def accepted_inputs() -> str:
    """`.safetensors, sharded index, HF model dir, .gguf, .bin/.pt, or a URL ...`"""
    return ", ".join(f.accepts for f in Format) + f", or {REMOTE_ACCEPTS}"


# Where a built table's spec came from: the embedded default, a preset, a config file, flags.
BuiltOrigin = Literal["default", "preset", "config", "flags"]
# Where a pad id came from: --pad, the files beside a checkpoint, or a built table's spec.
# "gguf": tokenizer.ggml.padding_token_id in a GGUF file's metadata.
PadSource = Literal["flag", "config", "gguf", "generation_config", "tokenizer", "default", "preset"]


@dataclass(frozen=True)
class InitSpec:
    """How a built table is initialised; the README gives each as a torch recipe."""

    scheme: str = "normal"
    std: float = 0.02
    seed: int = 42
    low: float = -0.1
    high: float = 0.1


@dataclass(frozen=True)
class TableInfo:
    """What is known about a table without reading its values."""

    origin: BuiltOrigin | Format
    name: str
    vocab_size: int  # rows in the table
    embed_dim: int
    dtype: str  # float32, bfloat16, float16, float8_e4m3fn, q8_0, ...
    pad_token_id: int | None
    pad_source: PadSource | None
    tied: bool | None  # the config's statement (family default when absent); None unknown
    tied_source: str | None
    tensor_name: str | None = None
    head_name: str | None = None
    path: str | None = None
    init: InitSpec | None = None  # built tables: the init that made them
    initializer_range: float | None = None  # loaded tables: the config's std, if any
    config_vocab_size: int | None = None
    model_type: str | None = None
    notes: tuple[str, ...] = ()
    # A quantized table's scheme: name, bits, group_size, stored_nbytes, bytes_per_param ...
    quantization: dict[str, Any] | None = None

    @property
    def built(self) -> bool:
        return self.init is not None


@dataclass(frozen=True)
class PadFacts:
    """Every place that names a pad token, and the one emb uses."""

    pad_token_id: int | None
    source: PadSource | None
    found: dict[str, int | None]  # id by PadSource (None: says there is none)

    @property
    def disagree(self) -> bool:
        ids = {v for v in self.found.values() if v is not None}
        return len(ids) > 1


@dataclass(frozen=True)
class ConfigFacts:
    """config.json's statements in emb's vocabulary (text_config applied), for reports."""

    model_type: str | None
    vocab_size: int | None
    hidden_size: int | None
    tie_word_embeddings: bool | None
    initializer_range: float | None
    architectures: Any  # as written: a list of class names, or whatever the file holds


@dataclass(frozen=True)
class SourceFacts:
    """What a source knows beyond the table's shape: where each answer came from."""

    kind: Format | BuiltOrigin
    tensor_names: tuple[str, ...]  # every stored tensor (none for built tables)
    choice_reason: str | None  # why this tensor is the input embedding
    pad: PadFacts
    metadata_pointers: dict[str, str]  # safetensors save_model: dropped name -> kept name
    config: ConfigFacts | None
    tokenizer: dict[str, Any] | None = None  # what the format records of its tokenizer (GGUF)


QuantStrategy = Literal["group", "channel", "tensor", "block"]  # what one scale covers


@dataclass(frozen=True)
class QuantScheme:
    """How a quantized table is stored (MLX, compressed-tensors); the facts `info` reports."""

    name: str  # mlx-affine | compressed-tensors/pack-quantized | ...
    bits: int
    group_size: int | None  # columns per scale (block: its width); None: per row or tensor
    strategy: QuantStrategy
    scale_dtype: str
    zero: Literal["bias", "zero_point", "none"]  # MLX | asymmetric | symmetric
    block: tuple[int, int] | None  # block strategy: (rows, cols) per scale
    stored_nbytes: int  # codes + scales + biases or zero points
    bytes_per_param: float  # stored_nbytes / (rows * cols)


class RangeReader(Protocol):
    """Bytes of one file by offset: a remote file (remote/http.HttpReader) or a local one."""

    @property
    def name(self) -> str:
        """The file as the user named it, for messages."""
        ...

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes; fewer only where the file ends."""
        ...

    def read_into(self, offset: int, buf: memoryview) -> None:
        """Fill `buf` exactly, or raise InputError (a truncated file)."""
        ...


class TensorRef(Protocol):
    """One stored 2-D tensor: (rows, cols) in its stored dtype."""

    @property
    def name(self) -> str: ...

    @property
    def dtype(self) -> str:
        """emb's name: float32, bfloat16, q8_0 ..."""
        ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def nbytes(self) -> int: ...

    @property
    def file(self) -> str: ...

    @property
    def scheme(self) -> QuantScheme | None:
        """How a quantized tensor stores its values (codes, scales ...); None: as values.
        Its raw chunks are then each row's stored bytes, not values."""
        ...

    @property
    def storage_key(self) -> Hashable | None:
        """Equal for two names over one stored weight (a torch zip keeps a tied table
        once); None where the format stores each tensor apart (safetensors refuses sharing)."""
        ...

    def read_rows(self, token_ids: Sequence[int]) -> np.ndarray: ...

    def iter_chunks(
        self, rows_per_chunk: int, *, raw: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]: ...


class Vocab(Protocol):
    """Token strings (and types, where the format records them) by id, without encoding."""

    @property
    def size(self) -> int: ...

    def tokens(self, ids: Sequence[int]) -> list[str | None]:
        """The token of each id; None past the vocabulary."""
        ...

    def types(self, ids: Sequence[int]) -> list[str] | None:
        """normal | control | user-defined | unused | byte | unknown, or None if not recorded."""
        ...

    def all_types(self) -> list[str] | None:
        """Every token's type, in id order (None if not recorded)."""
        ...


class TableSource(Protocol):
    """A table from anywhere: built from a config, or read from a checkpoint."""

    info: TableInfo
    config: dict[str, Any] | None  # the checkpoint's config.json as written (None: built)

    @property
    def facts(self) -> SourceFacts:
        """Pad ids from every place, the tensor choice, metadata pointers, config facts."""
        ...

    def rows(self, token_ids: Sequence[int]) -> np.ndarray:
        """float32 array (len(token_ids), embed_dim); reads only those rows."""
        ...

    def chunks(self, rows_per_chunk: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first_row, float32 block) over the whole table, in bounded blocks."""
        ...

    def head(self) -> TensorRef | None:
        """The stored LM head tensor, if the checkpoint has a separate one."""
        ...

    def embedding(self) -> TensorRef | None:
        """The stored input-embedding tensor (None for built tables)."""
        ...

    def tensor(self, name: str) -> TensorRef:
        """Any stored tensor by name (TensorNotFound for built tables)."""
        ...

    def file_of(self, name: str) -> str:
        """The file that stores a tensor (a shard, for sharded checkpoints)."""
        ...

    def tokenizer(self, fetch: bool = True) -> Tokenizer | None:
        """None without one; fetch=False: only if it costs no download and no build."""
        ...

    def vocab(self, fetch: bool = False) -> Vocab | None:
        """Token strings by id (None without a vocabulary). fetch=False never downloads a
        remote tokenizer.json; fetch=True does, for commands that stream the table anyway."""
        ...

    def tokenizer_config(self) -> dict[str, Any] | None:
        """tokenizer_config.json as written (added tokens, chat template); None without one."""
        ...

    def weight(self) -> torch.Tensor:
        """The whole table as a torch tensor in its dtype, for commands that run torch."""
        ...


@dataclass
class CheckpointTokenizer:
    """What a checkpoint holds of its tokenizer, and the one way to open it (load).

    tokenizer.json comes from at most one place: a local file (free to open), a remote
    file fetched on first use, or the format's own metadata (GGUF builds one).
    """

    config: dict[str, Any] | None = None  # tokenizer_config.json as written
    file: Path | None = None  # a local tokenizer.json
    # Remote: tokenizer.json's text, fetched on first use (None: there is none).
    fetch: Callable[[], str | None] | None = None
    fetched_name: str = "tokenizer.json"  # the remote file, as messages name it
    # The format builds it from its metadata (GGUF), on first use.
    build: Callable[[], Tokenizer] | None = None
    # Token strings and types the format stores without a tokenizer.json (GGUF).
    vocab: Vocab | None = None
    # What the format says about its tokenizer, for `info` (GGUF: model, pre, counts).
    facts: dict[str, Any] | None = None
    _opened: Tokenizer | None = field(default=None, repr=False)

    def load(self, fetch: bool = True) -> Tokenizer | None:
        """The tokenizer, opened once; fetch=False: only if that costs no download and no
        build (the caller can do without)."""
        if self._opened is None and (fetch or self.file is not None):
            self._opened = self._open()
        return self._opened

    def _open(self) -> Tokenizer | None:
        from tokenizers import Tokenizer

        if self.file is not None:
            where, read = str(self.file), partial(Tokenizer.from_file, str(self.file))
        elif self.build is not None:
            return self.build()
        elif self.fetch is not None:
            text, self.fetch = self.fetch(), None  # asked once: a 404 means none, no retries
            if text is None:
                return None
            where, read = self.fetched_name, partial(Tokenizer.from_str, text)
        else:
            return None
        try:
            return read()
        except Exception as exc:  # the Rust side raises a bare Exception
            raise InputError(f"tokenizer {where} is broken: {first_line(exc)}") from exc


@dataclass
class Checkpoint:
    """An opened checkpoint: tensor names from headers, refs on demand, the JSON beside it.

    Each format module fills one in; its rules travel as fields (tie_rule, a config in
    Hugging Face's keys), so nothing outside the format branches on `kind`.
    """

    path: Path | str  # what the user named: a URL or hf:// spec for remote checkpoints
    kind: Format
    names: list[str]  # every tensor name, from headers or the index
    get: Callable[[str], TensorRef]
    file_of: Callable[[str], str]
    weights_path: Path | None = None
    config: dict[str, Any] | None = None  # config.json, or the format's metadata in its keys
    config_path: Path | None = None
    # What `config` is, where pad facts name their source: a GGUF's is its own metadata.
    config_label: Literal["config", "gguf"] = "config"
    generation_config: dict[str, Any] | None = None
    tokenizer: CheckpointTokenizer = field(default_factory=CheckpointTokenizer)
    metadata: dict[str, str] = field(default_factory=dict)
    # The format's own tie statement, over the config's: (tied, why). GGUF: llama.cpp
    # writes no output.weight when the head is tied to token_embd.
    tie_rule: tuple[bool | None, str] | None = None
    # A weights file named alone (not its folder): the JSON files read from beside it, as a
    # folder's are, so the file and its folder give one answer (--no-siblings: none read).
    beside: tuple[str, ...] = ()

    def tensor(self, name: str) -> TensorRef:
        if name not in self.names:
            shown = ", ".join(self.names[:20]) + (" ..." if len(self.names) > 20 else "")
            raise TensorNotFound(f"no tensor named {name!r} in {self.path}; it has: {shown}")
        return self.get(name)

    @property
    def tokenizer_only(self) -> bool:
        """No tensors, a tokenizer at hand (llama.cpp's vocab-only GGUF files)."""
        tok = self.tokenizer
        return not self.names and (tok.vocab is not None or tok.file is not None)


class Reader(Protocol):
    """A format module: recognises a path and opens it into a Checkpoint.

    DIR_FILES: (rank, file name) this format uses inside a model directory (lower rank wins);
    DIR_GLOB: a pattern for a lone weights file of this format in a directory.
    """

    DIR_FILES: tuple[tuple[int, str], ...]
    DIR_GLOB: str | None

    def recognises(self, path: str) -> bool: ...

    def open_path(self, path: str, readers: Sequence[Reader]) -> Checkpoint: ...


def dispatch(path: str, readers: Sequence[Reader]) -> Checkpoint:
    """The first reader that recognises the path opens it (the last one takes any file)."""
    for reader in readers:
        if reader.recognises(path):
            return reader.open_path(path, readers)
    raise InputError(f"{path}: not a checkpoint emb can read ({accepted_inputs()})")


def rows_per_chunk(embed_dim: int, itemsize: int = 4, budget: int = CHUNK_BYTES) -> int:
    return max(1, budget // max(1, embed_dim * itemsize))


def check_ids(token_ids: Sequence[int], vocab_size: int) -> None:
    if not token_ids:
        raise TokenIdError("no token ids given; pass at least one id, e.g. `emb lookup 73 786`")
    for t in token_ids:
        if not 0 <= t < vocab_size:
            raise TokenIdError(
                f"token id {t} is out of range: valid ids are 0..{vocab_size - 1} "
                f"(vocab_size {vocab_size})"
            )
