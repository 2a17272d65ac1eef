"""The interface every table source implements, and the facts it answers from headers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from emb_cli.errors import TokenIdError

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from emb_cli.sources.spec import InitSpec
    from emb_cli.sources.tensors import TensorRef

# Rows per streamed block: 4 MiB (256 rows of float32 at D=4096), bounded whatever the
# table size. malloc recycles blocks this small; 32 MiB ones were fresh mmaps, page-faulted
# on every read: 1.6 GB read in 2 s instead of 0.1 s (8 MiB still faulted with 2 workers).
CHUNK_BYTES = 4 * 2**20
B = TypeVar("B", bound=Sized)


@dataclass(frozen=True)
class TableInfo:
    """What is known about a table without reading its values."""

    origin: str  # default | preset | config | flags | safetensors | sharded | hf-dir | gguf | torch
    name: str
    vocab_size: int  # rows in the table
    embed_dim: int
    dtype: str  # float32, bfloat16, float16, float8_e4m3fn, q8_0, ...
    pad_token_id: int | None
    pad_source: str | None  # flag | config | generation_config | tokenizer
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

    @property
    def built(self) -> bool:
        return self.init is not None


class TableSource(Protocol):
    info: TableInfo

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

    def tokenizer(self, fetch: bool = True) -> Tokenizer | None:
        """None without one; fetch=False: only if reading it costs no download."""
        ...


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


class ProgressBar(Protocol):
    def advance(self, rows: int) -> None: ...

    def close(self) -> None: ...


# Installed by the CLI (render.install_progress) when stderr is a terminal; analyses never
# print, so without it the chunk iterators stay silent.
_progress: Callable[[str, int], ProgressBar] | None = None
_progress_live = False


def set_progress(factory: Callable[[str, int], ProgressBar] | None) -> None:
    """factory(label, total_rows) -> a bar; None turns progress off."""
    global _progress
    _progress = factory


def tracked(
    chunks: Iterable[tuple[int, B]], total_rows: int, label: str
) -> Iterator[tuple[int, B]]:
    """Yield the chunks, advancing the installed bar by rows; one bar at a time (tie reads two)."""
    global _progress_live
    if _progress is None or _progress_live:
        yield from chunks
        return
    bar = _progress(label, total_rows)
    _progress_live = True
    try:
        for start, block in chunks:
            yield start, block
            bar.advance(len(block))
    finally:
        _progress_live = False
        bar.close()
